"""FID, KID, the Inception Score, precision, recall, density and coverage on the FID Inception.

Each statistic is the reference's algorithm on the same features: FID as pytorch-fid's
``calculate_frechet_distance`` (scipy.linalg.sqrtm), KID and the Inception Score as
torch-fidelity's ``kid_features_to_metric`` and ``isc_features_to_metric`` (their subsets and
splits drawn by the same seeded ``np.random.RandomState``), precision/recall/density/coverage as
``prdc.compute_prdc``. The features come from ``inception.Inception`` (JAX, on the device).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.spatial.distance

from wgan_jax.metrics import inception as inception_lib

# torch-fidelity's defaults: 100 subsets of 1,000 samples, 10 splits, seed 2020; prdc's
# examples use k = 5 nearest neighbours.
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
ISC_SPLITS = 10
RNG_SEED = 2020
NEAREST_K = 5


def frechet_distance(mu1_F, sigma1_FxF, mu2_F, sigma2_FxF, eps: float = 1e-6) -> float:
  """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), as in the FID code.

  d = |mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)). The matrix square root is
  scipy.linalg.sqrtm's; its real part is kept (round-off gives tiny imaginary parts), and where it
  is not finite (a singular product) it is recomputed with eps * I added to both covariances, as
  the reference FID implementation does. Round-off can make identical Gaussians come out a hair
  below zero; the result is clipped at 0.
  """
  mu1_F, mu2_F = np.atleast_1d(np.asarray(mu1_F, np.float64)), np.atleast_1d(
      np.asarray(mu2_F, np.float64))
  sigma1_FxF, sigma2_FxF = np.atleast_2d(np.asarray(sigma1_FxF, np.float64)), np.atleast_2d(
      np.asarray(sigma2_FxF, np.float64))
  f = mu1_F.shape[0]
  if mu1_F.shape != (f,) or mu2_F.shape != (f,) or sigma1_FxF.shape != (f, f) \
      or sigma2_FxF.shape != (f, f):
    raise ValueError(f"expected means (F,) and covariances (F, F); got {mu1_F.shape}, "
                     f"{sigma1_FxF.shape}, {mu2_F.shape}, {sigma2_FxF.shape}")
  diff_F = mu1_F - mu2_F
  with warnings.catch_warnings():
    # Dead ReLU units give features of zero variance, so the product is often singular and sqrtm
    # warns; its trace is still accurate (the tests check singular diagonal cases against the
    # closed form), and a result that is not finite is handled below.
    warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
    covmean_FxF = scipy.linalg.sqrtm(sigma1_FxF @ sigma2_FxF)
    if not np.all(np.isfinite(covmean_FxF)):
      offset_FxF = np.eye(f) * eps
      covmean_FxF = scipy.linalg.sqrtm((sigma1_FxF + offset_FxF) @ (sigma2_FxF + offset_FxF))
  distance = (diff_F @ diff_F + np.trace(sigma1_FxF) + np.trace(sigma2_FxF)
              - 2 * np.trace(np.real(covmean_FxF)))
  return max(float(distance), 0.0)


def fid_from_features(features_a_NxF, features_b_MxF) -> float:
  """The Frechet distance of Gaussians fitted (mean, np.cov) to two feature sets.

  With at least F samples on each side this is pytorch-fid's ``calculate_frechet_distance``
  (scipy.linalg.sqrtm of the covariances' product). With fewer, both covariances are singular,
  sqrtm is slow (minutes for F = 2048 on two cores) and only approximate there; the trace of the
  square root is then computed exactly as the nuclear norm of A B^T / sqrt((N-1)(M-1)), A and B
  the centred features: the nonzero eigenvalues of S_a S_b are the squared singular values of
  that N x M matrix. The tests check both paths against pytorch-fid.
  """
  sets = []
  for features in (features_a_NxF, features_b_MxF):
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
      raise ValueError(f"FID needs at least 2 feature vectors per set; got {features.shape}")
    sets.append(features)
  (a_NxF, b_MxF), dim = sets, sets[0].shape[1]
  if min(len(a_NxF), len(b_MxF)) >= dim:
    return frechet_distance(a_NxF.mean(axis=0), np.cov(a_NxF, rowvar=False),
                            b_MxF.mean(axis=0), np.cov(b_MxF, rowvar=False))
  diff_F = a_NxF.mean(axis=0) - b_MxF.mean(axis=0)
  centred_a, centred_b = a_NxF - a_NxF.mean(axis=0), b_MxF - b_MxF.mean(axis=0)
  n, m = len(a_NxF) - 1, len(b_MxF) - 1
  tr_covmean = np.linalg.svd(centred_a @ centred_b.T, compute_uv=False).sum() / np.sqrt(n * m)
  distance = (diff_F @ diff_F + np.sum(centred_a ** 2) / n + np.sum(centred_b ** 2) / m
              - 2 * tr_covmean)
  return max(float(distance), 0.0)


def _mmd2_unbiased(k_xx_MxM, k_xy_MxM, k_yy_MxM) -> float:
  # torch-fidelity's order of summation, in the features' dtype: the MMD is a small difference of
  # sums of kernel values of order 1, so another order changes its last digits.
  m = k_xx_MxM.shape[0]
  kt_xx_sum = (k_xx_MxM.sum(axis=1) - np.diagonal(k_xx_MxM)).sum()
  kt_yy_sum = (k_yy_MxM.sum(axis=1) - np.diagonal(k_yy_MxM)).sum()
  return float((kt_xx_sum + kt_yy_sum) / (m * (m - 1)) - 2 * k_xy_MxM.sum(axis=0).sum() / (m * m))


def kid(features_a_NxF, features_b_MxF, *, subsets: int = KID_SUBSETS,
        subset_size: int = KID_SUBSET_SIZE, seed: int = RNG_SEED) -> tuple[float, float]:
  """Kernel Inception Distance: (mean, std) over ``subsets`` random subsets of ``subset_size``
  per side of the unbiased MMD^2 with the kernel (x.y / F + 1)^3, torch-fidelity's estimator and
  arithmetic (float32 features give float32 kernels, as there). Unbiased, so it can be slightly
  negative for sets from one distribution."""
  a = np.asarray(features_a_NxF)
  b = np.asarray(features_b_MxF)
  if a.shape[0] < subset_size or b.shape[0] < subset_size or subset_size < 2:
    raise ValueError(f"KID subsets of {subset_size} need at least that many samples per set "
                     f"(and 2); got {a.shape[0]} and {b.shape[0]}")
  gamma = 1.0 / a.shape[1]
  kernel = lambda x, y: (x @ y.T * gamma + 1) ** 3
  rng = np.random.RandomState(seed)
  mmds = np.zeros(subsets)
  for i in range(subsets):
    x = a[rng.choice(a.shape[0], subset_size, replace=False)]
    y = b[rng.choice(b.shape[0], subset_size, replace=False)]
    mmds[i] = _mmd2_unbiased(kernel(x, x), kernel(x, y), kernel(y, y))
  return float(np.mean(mmds)), float(np.std(mmds))


def inception_score(logits_NxL, *, splits: int = ISC_SPLITS, seed: int = RNG_SEED
                    ) -> tuple[float, float]:
  """Inception Score: (mean, std) over ``splits`` chunks of exp(mean_i KL(p(y|x_i) || p(y))),
  the samples shuffled by a permutation seeded with ``seed`` first, as torch-fidelity does."""
  logits = np.asarray(logits_NxL, np.float64)
  n = logits.shape[0]
  if logits.ndim != 2 or n < splits:
    raise ValueError(f"the Inception Score needs at least {splits} samples; got {logits.shape}")
  logits = logits[np.random.RandomState(seed).permutation(n)]
  shifted = logits - logits.max(axis=1, keepdims=True)
  log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
  p = np.exp(log_p)
  scores = []
  for i in range(splits):
    chunk = slice(i * n // splits, (i + 1) * n // splits)
    q = p[chunk].mean(axis=0, keepdims=True)
    scores.append(np.exp((p[chunk] * (log_p[chunk] - np.log(q))).sum(axis=1).mean()))
  return float(np.mean(scores)), float(np.std(scores))


def _distances(x_NxF, y_MxF):
  return scipy.spatial.distance.cdist(np.asarray(x_NxF, np.float64),
                                      np.asarray(y_MxF, np.float64))


def prdc(real_NxF, fake_MxF, *, nearest_k: int = NEAREST_K) -> dict:
  """Precision, recall, density and coverage (Naeem et al. 2020) with k-nearest-neighbour balls,
  as ``prdc.compute_prdc``: a ball's radius is the distance to the k-th nearest other sample."""
  if min(len(real_NxF), len(fake_MxF)) <= nearest_k:
    raise ValueError(f"k = {nearest_k} nearest neighbours need more than {nearest_k} samples "
                     f"per set; got {len(real_NxF)} and {len(fake_MxF)}")
  # The (k+1)-th smallest distance to the own set, the first being the point itself.
  radius_real_N = np.sort(_distances(real_NxF, real_NxF), axis=1)[:, nearest_k]
  radius_fake_M = np.sort(_distances(fake_MxF, fake_MxF), axis=1)[:, nearest_k]
  real_fake_NxM = _distances(real_NxF, fake_MxF)
  inside_real_NxM = real_fake_NxM < radius_real_N[:, None]
  return {
      "precision": float(inside_real_NxM.any(axis=0).mean()),
      "recall": float((real_fake_NxM < radius_fake_M[None, :]).any(axis=1).mean()),
      "density": float(inside_real_NxM.sum(axis=0).mean() / nearest_k),
      "coverage": float((real_fake_NxM.min(axis=1) < radius_real_N).mean()),
  }


def inception_metrics(net: inception_lib.Inception, generated_NxHxWxC, real_MxHxWxC, *,
                      kid_subset_size: int = KID_SUBSET_SIZE, kid_subsets: int = KID_SUBSETS,
                      isc_splits: int = ISC_SPLITS, nearest_k: int | None = NEAREST_K,
                      seed: int = RNG_SEED) -> dict:
  """FID, KID, IS (of the generated images) and, unless ``nearest_k`` is None, precision, recall,
  density and coverage, with what they were measured on.

  A KID subset larger than a set is shrunk to the smaller set's size; the returned dict says the
  size used. Every figure depends on the numbers of samples (FID is biased upwards at small N),
  which the dict carries beside the values.
  """
  pool_gen_NxP, logits_gen_NxL = net.outputs(generated_NxHxWxC)
  pool_real_MxP, _ = net.outputs(real_MxHxWxC)
  subset = min(kid_subset_size, len(pool_gen_NxP), len(pool_real_MxP))
  kid_mean, kid_std = kid(pool_gen_NxP, pool_real_MxP, subsets=kid_subsets, subset_size=subset,
                          seed=seed)
  is_mean, is_std = inception_score(logits_gen_NxL, splits=isc_splits, seed=seed)
  out = {
      "fid": fid_from_features(pool_gen_NxP, pool_real_MxP),
      "kid_mean": kid_mean, "kid_std": kid_std,
      "is_mean": is_mean, "is_std": is_std,
      "num_generated": int(len(pool_gen_NxP)), "num_real": int(len(pool_real_MxP)),
      "kid_subsets": int(kid_subsets), "kid_subset_size": int(subset),
      "isc_splits": int(isc_splits),
      "resize": f"bilinear to {net.size}x{net.size} (F.interpolate, align_corners=False)",
      "weights": net.source,
  }
  if nearest_k is not None:
    out.update(prdc(pool_real_MxP, pool_gen_NxP, nearest_k=nearest_k))
    out["nearest_k"] = int(nearest_k)
  return out


__all__ = ["frechet_distance", "fid_from_features", "kid", "inception_score", "prdc",
           "inception_metrics"]
