"""Sample-quality metrics for the 2-D toy mixtures, in numpy and POT (no jax).

The mode metrics follow the VEEGAN/PacGAN protocol (2,500 samples; a sample is high quality when it
lies within 3 std of its nearest centre; a mode is captured when it is the nearest centre of at
least one high-quality sample; reverse KL of the mode histogram against uniform). The exact
Wasserstein-1 distance between two sample sets is the ground truth for the critic's EM estimate.
"""

from __future__ import annotations

import warnings

import numpy as np
import ot

# POT's network simplex stops at numItermax and returns a non-optimal plan; 2,500 x 2,500 needs far
# fewer pivots than this, and exact_w1 raises if the limit is ever reached.
MAX_ITERS = 10_000_000

# POT reports its result code through these UserWarnings; exact_w1 reads the code itself instead.
_POT_RESULT_WARNINGS = "(numItermax reached|Problem infeasible|Problem unbounded)"
_POT_OPTIMAL = 1


def _as_points(x, name: str, dim: int | None = None) -> np.ndarray:
  """x as a float64 (N, D) array with N >= 1; ValueError naming the problem otherwise."""
  x = np.asarray(x, dtype=np.float64)
  if x.ndim != 2:
    raise ValueError(f"{name} must be a 2-D array (N, D); got shape {x.shape}")
  if x.shape[0] == 0:
    raise ValueError(f"{name} is empty; got shape {x.shape}")
  if dim is not None and x.shape[1] != dim:
    raise ValueError(f"{name} must have {dim} columns; got shape {x.shape}")
  return x


def mode_metrics(samples_Nx2, centers_Kx2, std: float, threshold: float = 3.0) -> dict:
  """Mode coverage of samples from a mixture of isotropic Gaussians with the given centres.

  Each sample is assigned to its nearest centre (Euclidean); it is high quality when that distance
  is at most threshold * std. Non-finite samples are never high quality.

  Returns a dict:
    modes: int, number of centres that are the nearest centre of at least one high-quality sample.
    high_quality: float in [0, 1], the fraction of high-quality samples.
    reverse_kl: float, KL(p || uniform over the K centres) = log K - H(p), where p is the normalised
      histogram of high-quality samples over their nearest centres (0 log 0 = 0); inf when there is
      no high-quality sample.
  """
  centers_Kx2 = _as_points(centers_Kx2, "centers_Kx2")
  samples_Nx2 = _as_points(samples_Nx2, "samples_Nx2", dim=centers_Kx2.shape[1])
  if not (np.isfinite(std) and std > 0):
    raise ValueError(f"std must be positive and finite; got {std}")
  if not (np.isfinite(threshold) and threshold > 0):
    raise ValueError(f"threshold must be positive and finite; got {threshold}")
  n, k = samples_Nx2.shape[0], centers_Kx2.shape[0]

  dists_NxK = np.linalg.norm(samples_Nx2[:, None, :] - centers_Kx2[None, :, :], axis=-1)
  # A NaN sample would win argmin at column 0 and compare False below: it counts as low quality.
  nearest_N = np.argmin(dists_NxK, axis=1)
  good_N = dists_NxK[np.arange(n), nearest_N] <= threshold * std

  counts_K = np.bincount(nearest_N[good_N], minlength=k)
  n_good = int(counts_K.sum())
  if n_good == 0:
    reverse_kl = float("inf")
  else:
    p_K = counts_K / n_good
    nz = p_K > 0
    # sum_k p_k log(p_k K); rounding can leave a tiny negative value where p is uniform.
    reverse_kl = max(float(np.sum(p_K[nz] * np.log(p_K[nz] * k))), 0.0)
  return {
      "modes": int(np.count_nonzero(counts_K)),
      "high_quality": n_good / n,
      "reverse_kl": reverse_kl,
  }


def exact_w1(a_NxD, b_MxD, max_iters: int = MAX_ITERS) -> float:
  """Exact Wasserstein-1 distance between two empirical distributions with uniform weights.

  The ground cost is the Euclidean distance; the optimal transport linear program is solved with
  POT's network simplex (``ot.emd2``). Raises RuntimeError when the solver does not reach the
  optimum (e.g. it hits max_iters), so a returned value is always the exact optimum.
  """
  a_NxD = _as_points(a_NxD, "a_NxD")
  b_MxD = _as_points(b_MxD, "b_MxD", dim=a_NxD.shape[1])
  for x, name in ((a_NxD, "a_NxD"), (b_MxD, "b_MxD")):
    if not np.all(np.isfinite(x)):
      raise ValueError(f"{name} has non-finite entries; W1 is undefined")
  n, m = a_NxD.shape[0], b_MxD.shape[0]
  a_N = np.full(n, 1.0 / n)
  b_M = np.full(m, 1.0 / m)
  # backend="scipy" computes distances with cdist: ot.dist's default |a|^2 + |b|^2 - 2ab loses
  # about sqrt(eps) * |x| to cancellation for nearby points.
  cost_NxM = ot.dist(a_NxD, b_MxD, metric="euclidean", backend="scipy")
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=_POT_RESULT_WARNINGS, category=UserWarning)
    w1, log = ot.emd2(a_N, b_M, cost_NxM, numItermax=max_iters, log=True)
  if log["result_code"] != _POT_OPTIMAL:
    raise RuntimeError(
        f"ot.emd2 did not reach the optimum ({log['warning']}); n={n}, m={m}, "
        f"max_iters={max_iters}")
  return float(w1)


def exact_w1_or_nan(samples_NxD, real_MxD) -> float:
  """``exact_w1``, or NaN for samples that are not finite (a diverged generator), so that a
  summary reports the divergence instead of failing."""
  if not np.all(np.isfinite(samples_NxD)):
    return float("nan")
  return exact_w1(samples_NxD, real_MxD)
