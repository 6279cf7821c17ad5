"""Tests for wgan_jax.data.toy: centres from cos/sin by hand, sample statistics against formulas."""

import jax
import numpy as np
import pytest

from wgan_jax.data import toy

N = 20_000


def sample(name, n=N, seed=0):
  return np.asarray(toy.get_dataset(name).sample(jax.random.key(seed), n), dtype=np.float64)


def test_ring8_centres():
  centers_Kx2 = toy.get_dataset("ring8").centers
  angles_K = 2 * np.pi * np.arange(8) / 8
  expected_Kx2 = np.stack([2 * np.cos(angles_K), 2 * np.sin(angles_K)], axis=1)
  assert centers_Kx2.shape == (8, 2)
  # Each expected centre matches exactly one centre, whatever the order.
  match_KxK = np.linalg.norm(expected_Kx2[:, None] - centers_Kx2[None], axis=-1) < 1e-6
  assert np.all(match_KxK.sum(0) == 1) and np.all(match_KxK.sum(1) == 1)
  # 8 distinct modes: neighbours on the circle are 2 * 2 sin(pi / 8) = 1.53 apart.
  dists_KxK = np.linalg.norm(centers_Kx2[:, None] - centers_Kx2[None], axis=-1)
  assert np.min(dists_KxK + np.eye(8) * 99) == pytest.approx(4 * np.sin(np.pi / 8), rel=1e-6)


def test_grid25_centres():
  centers_Kx2 = toy.get_dataset("grid25").centers
  assert centers_Kx2.shape == (25, 2)
  expected = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
  assert {(float(x), float(y)) for x, y in centers_Kx2} == expected


@pytest.mark.parametrize("name, k, std", [("ring8", 8, 0.02), ("grid25", 25, 0.05)])
def test_mixture_samples(name, k, std):
  ds = toy.get_dataset(name)
  assert ds.std == pytest.approx(std)
  x_Nx2 = sample(name)
  assert x_Nx2.shape == (N, 2)
  centers_Kx2 = np.asarray(ds.centers, dtype=np.float64)
  nearest_N = np.argmin(np.linalg.norm(x_Nx2[:, None] - centers_Kx2[None], axis=-1), axis=1)
  resid_Nx2 = x_Nx2 - centers_Kx2[nearest_N]
  # Per-axis std of N normal draws has relative standard error about 1 / sqrt(2N) = 0.5%.
  np.testing.assert_allclose(resid_Nx2.std(0), std, rtol=0.03)
  np.testing.assert_allclose(resid_Nx2.mean(0), 0.0, atol=5 * std / np.sqrt(N))
  # Mode counts are multinomial(N, 1/k): each within 5 standard deviations of N/k.
  counts_K = np.bincount(nearest_N, minlength=k)
  p = 1 / k
  assert np.all(np.abs(counts_K - N * p) < 5 * np.sqrt(N * p * (1 - p)))


def test_parallel_lines():
  x_Nx2 = sample("parallel_lines")
  assert x_Nx2.shape == (N, 2)
  assert np.all(x_Nx2[:, 0] == 0)
  assert np.all((x_Nx2[:, 1] >= 0) & (x_Nx2[:, 1] <= 1))
  # U[0, 1]: mean 1/2, variance 1/12; the mean's standard error is sqrt(1 / (12 N)) = 0.002.
  assert x_Nx2[:, 1].mean() == pytest.approx(0.5, abs=5 * np.sqrt(1 / (12 * N)))
  assert x_Nx2[:, 1].var() == pytest.approx(1 / 12, rel=0.03)


def test_swissroll():
  x_Nx2 = sample("swissroll")
  assert x_Nx2.shape == (N, 2)
  assert np.all(np.isfinite(x_Nx2))
  # t in [1.5 pi, 4.5 pi], point t (cos t, sin t) plus N(0, 0.25^2) noise, all divided by 7.5;
  # 1.5 = 6 noise stds bounds the noise.
  assert np.max(np.abs(x_Nx2)) <= (4.5 * np.pi + 1.5) / 7.5
  radius_N = 7.5 * np.linalg.norm(x_Nx2, axis=1)
  assert np.min(radius_N) >= 1.5 * np.pi - 1.5
  # radius ~ t ~ U[1.5 pi, 4.5 pi]: mean 3 pi, std sqrt(3) pi / sqrt(N) = 0.04 for the mean.
  assert radius_N.mean() == pytest.approx(3 * np.pi, abs=0.2)


def test_unknown_name_lists_choices():
  with pytest.raises(ValueError, match="nope") as info:
    toy.get_dataset("nope")
  for name in ("ring8", "grid25", "swissroll", "parallel_lines"):
    assert name in str(info.value)


@pytest.mark.parametrize("name", ["ring8", "grid25", "swissroll", "parallel_lines"])
def test_sample_under_jit(name):
  ds = toy.get_dataset(name)
  key = jax.random.key(7)
  with jax.numpy_rank_promotion("raise"):
    jitted = jax.jit(ds.sample, static_argnums=1)
    x_Nx2 = jitted(key, 64)
  assert x_Nx2.shape == (64, 2)
  np.testing.assert_allclose(x_Nx2, ds.sample(key, 64), rtol=1e-6, atol=1e-6)
  # Same key, same samples; a different key, different samples.
  np.testing.assert_array_equal(x_Nx2, jitted(key, 64))
  assert not np.allclose(x_Nx2, jitted(jax.random.key(8), 64))
