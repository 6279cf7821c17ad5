"""The Frechet distance of two Gaussians against closed forms and an eigendecomposition oracle."""

import numpy as np
import pytest

from wgan_jax.metrics.fid import frechet_distance


def test_frechet_diagonal_closed_form():
  rng = np.random.default_rng(1)
  mu1_F, mu2_F = rng.normal(size=6), rng.normal(size=6)
  a_F, b_F = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
  a_F[0] = b_F[1] = 0.0  # singular covariances follow the same formula
  expected = np.sum((mu1_F - mu2_F) ** 2) + np.sum((np.sqrt(a_F) - np.sqrt(b_F)) ** 2)
  got = frechet_distance(mu1_F, np.diag(a_F), mu2_F, np.diag(b_F))
  assert got == pytest.approx(expected, rel=1e-6)


def test_frechet_one_dimension():
  # N(1, 2^2) and N(4, 5^2): (1 - 4)^2 + (2 - 5)^2.
  assert frechet_distance([1.0], [[4.0]], [4.0], [[25.0]]) == pytest.approx(18.0, rel=1e-12)


def random_covariance(rng, f):
  a_FxF = rng.normal(size=(f, f))
  return a_FxF @ a_FxF.T / f + 0.1 * np.eye(f)


def test_frechet_zero_for_identical_gaussians():
  rng = np.random.default_rng(2)
  mu_F, sigma_FxF = rng.normal(size=20), random_covariance(rng, 20)
  assert frechet_distance(mu_F, sigma_FxF, mu_F, sigma_FxF) == pytest.approx(0.0, abs=1e-8)


def test_frechet_symmetric_and_matches_eigh_oracle():
  rng = np.random.default_rng(3)
  mu1_F, mu2_F = rng.normal(size=8), rng.normal(size=8)
  s1_FxF, s2_FxF = random_covariance(rng, 8), random_covariance(rng, 8)
  d12 = frechet_distance(mu1_F, s1_FxF, mu2_F, s2_FxF)
  assert d12 == pytest.approx(frechet_distance(mu2_F, s2_FxF, mu1_F, s1_FxF), rel=1e-9)

  # Oracle: tr (S1 S2)^(1/2) = tr (S1^(1/2) S2 S1^(1/2))^(1/2), a symmetric PSD matrix whose
  # square root comes from its eigenvalues.
  def sqrt_psd(m_FxF):
    w_F, v_FxF = np.linalg.eigh(m_FxF)
    return (v_FxF * np.sqrt(np.clip(w_F, 0, None))) @ v_FxF.T

  root1_FxF = sqrt_psd(s1_FxF)
  tr_covmean = np.trace(sqrt_psd(root1_FxF @ s2_FxF @ root1_FxF))
  expected = (np.sum((mu1_F - mu2_F) ** 2) + np.trace(s1_FxF) + np.trace(s2_FxF)
              - 2 * tr_covmean)
  assert d12 == pytest.approx(expected, rel=1e-9)


def test_frechet_rejects_mismatched_shapes():
  with pytest.raises(ValueError, match="expected means"):
    frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
