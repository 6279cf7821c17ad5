"""Tests for wgan_jax.metrics: expected values are worked by hand or come from a formula."""

import warnings

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from wgan_jax.metrics.mixtures import exact_w1, mode_metrics


def ring(k=8, radius=2.0):
  angles_K = 2 * np.pi * np.arange(k) / k
  return radius * np.stack([np.cos(angles_K), np.sin(angles_K)], axis=1)


def grid():
  return np.array([(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)], dtype=float)


# mode_metrics ------------------------------------------------------------------------------------

def test_three_of_eight_modes_by_hand():
  centers_Kx2 = ring()
  # 4 samples on centre 0, 2 on centre 3, 2 on centre 5; 2 at the origin, 2 = 100 std from every
  # centre, so low quality.
  samples_Nx2 = np.concatenate(
      [centers_Kx2[[0, 0, 0, 0, 3, 3, 5, 5]], np.zeros((2, 2))])
  out = mode_metrics(samples_Nx2, centers_Kx2, std=0.02)
  assert out["modes"] == 3
  assert out["high_quality"] == pytest.approx(8 / 10)
  # p = (1/2, 1/4, 1/4): KL(p || 1/8) = 1/2 log(8/2) + 2 * 1/4 log(8/4) = log 2 + 1/2 log 2.
  assert out["reverse_kl"] == pytest.approx(1.5 * np.log(2), rel=1e-12)


def test_one_sample_per_mode_is_uniform():
  out = mode_metrics(grid(), grid(), std=0.05)
  assert out == {"modes": 25, "high_quality": 1.0, "reverse_kl": 0.0}


def test_single_mode_kl_is_log_k():
  # All mass on one of K = 25 modes: KL(delta || uniform) = log 25.
  samples_Nx2 = np.full((7, 2), 2.0) + 0.01
  out = mode_metrics(samples_Nx2, grid(), std=0.05)
  assert out["modes"] == 1
  assert out["high_quality"] == 1.0
  assert out["reverse_kl"] == pytest.approx(np.log(25), rel=1e-12)


@pytest.mark.parametrize("dist_in_std, counts",
                         [(2.9, True), (2.99, True), (3.01, False), (3.1, False)])
def test_three_std_threshold(dist_in_std, counts):
  centers_Kx2, std = ring(), 0.02
  direction_2 = np.array([0.6, 0.8])  # unit length
  samples_Nx2 = centers_Kx2[[2]] + dist_in_std * std * direction_2
  out = mode_metrics(samples_Nx2, centers_Kx2, std)
  assert out["high_quality"] == (1.0 if counts else 0.0)
  assert out["modes"] == (1 if counts else 0)


def test_threshold_argument():
  centers_Kx2, std = ring(), 0.02
  samples_Nx2 = centers_Kx2[[1]] + np.array([[2.5 * std, 0.0]])
  assert mode_metrics(samples_Nx2, centers_Kx2, std, threshold=3.0)["modes"] == 1
  assert mode_metrics(samples_Nx2, centers_Kx2, std, threshold=2.0)["modes"] == 0


def test_no_high_quality_sample():
  out = mode_metrics(np.zeros((5, 2)), ring(), std=0.02)
  assert out["modes"] == 0
  assert out["high_quality"] == 0.0
  assert out["reverse_kl"] == float("inf")


def test_non_finite_samples_are_low_quality():
  samples_Nx2 = np.array([ring()[4], [np.nan, 0.0], [np.inf, np.inf], [0.0, -np.inf]])
  out = mode_metrics(samples_Nx2, ring(), std=0.02)
  assert out["modes"] == 1
  assert out["high_quality"] == pytest.approx(1 / 4)
  assert out["reverse_kl"] == pytest.approx(np.log(8))


@pytest.mark.parametrize("centers_Kx2, std", [(ring(), 0.02), (grid(), 0.05)],
                         ids=["ring8", "grid25"])
def test_perfect_sampler(centers_Kx2, std):
  rng = np.random.default_rng(0)
  n, k = 20_000, centers_Kx2.shape[0]
  samples_Nx2 = centers_Kx2[rng.integers(0, k, n)] + std * rng.standard_normal((n, 2))
  out = mode_metrics(samples_Nx2, centers_Kx2, std)
  # |x - c|^2 / std^2 is chi-squared with 2 dof: P(|x - c| <= 3 std) = 1 - exp(-9/2) = 0.98889.
  p = 1 - np.exp(-9 / 2)
  assert out["high_quality"] == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / n))
  assert out["modes"] == k
  # 2 n KL is about chi-squared with k - 1 dof, mean (k - 1) / (2 n): 1.75e-4 (ring), 6e-4 (grid).
  assert 0 <= out["reverse_kl"] < 10 * (k - 1) / (2 * n)


def test_mode_metrics_validates_shapes():
  with pytest.raises(ValueError, match="columns"):
    mode_metrics(np.zeros((4, 3)), ring(), 0.02)
  with pytest.raises(ValueError, match="2-D"):
    mode_metrics(np.zeros(4), ring(), 0.02)
  with pytest.raises(ValueError, match="2-D"):
    mode_metrics(np.zeros((4, 2)), np.zeros(2), 0.02)
  with pytest.raises(ValueError, match="empty"):
    mode_metrics(np.zeros((0, 2)), ring(), 0.02)
  with pytest.raises(ValueError, match="std"):
    mode_metrics(np.zeros((4, 2)), ring(), 0.0)


# exact_w1 ----------------------------------------------------------------------------------------

def test_shift_gives_norm_of_shift():
  # Identity coupling gives <= |v|; |E[x] - E[y]| = |v| is a lower bound (Jensen), so W1 = |v|.
  a_Nx2 = np.random.default_rng(1).normal(size=(60, 2))
  v_2 = np.array([0.3, -0.4])
  assert exact_w1(a_Nx2, a_Nx2 + v_2) == pytest.approx(0.5, rel=1e-9)


def test_itself_is_zero():
  a_Nx2 = np.random.default_rng(2).normal(size=(50, 2))
  assert exact_w1(a_Nx2, a_Nx2) == pytest.approx(0.0, abs=1e-12)


def test_one_dimensional_equal_sizes_sorted_matching():
  # In 1-D with equal sizes the optimal plan matches sorted values.
  rng = np.random.default_rng(3)
  x_N, y_N = rng.normal(size=40), rng.uniform(-1, 3, size=40)
  expected = np.mean(np.abs(np.sort(x_N) - np.sort(y_N)))
  embed = lambda v_N: np.stack([v_N, np.zeros_like(v_N)], axis=1)
  assert exact_w1(embed(x_N), embed(y_N)) == pytest.approx(expected, rel=1e-9)


def test_one_dimensional_unequal_sizes():
  rng = np.random.default_rng(4)
  x_N, y_M = rng.normal(size=30), rng.exponential(size=45)
  # scipy integrates |F - G| over the line: an independent formula for W1 in 1-D.
  expected = scipy.stats.wasserstein_distance(x_N, y_M)
  embed = lambda v_N: np.stack([np.zeros_like(v_N), v_N], axis=1)
  assert exact_w1(embed(x_N), embed(y_M)) == pytest.approx(expected, rel=1e-9)


def test_point_against_set_is_mean_distance():
  # All mass at one point: the only coupling sends it everywhere; W1 = (1 + 5) / 2.
  assert exact_w1([[0.0, 0.0]], [[1.0, 0.0], [3.0, 4.0]]) == pytest.approx(3.0)


def test_hitting_the_iteration_limit_raises():
  rng = np.random.default_rng(5)
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # the solver's own warning must not leak either
    with pytest.raises(RuntimeError, match="numItermax"):
      exact_w1(rng.normal(size=(30, 2)), rng.normal(size=(30, 2)), max_iters=1)


def test_exact_w1_validates_inputs():
  with pytest.raises(ValueError, match="columns"):
    exact_w1(np.zeros((3, 2)), np.zeros((3, 3)))
  with pytest.raises(ValueError, match="2-D"):
    exact_w1(np.zeros(3), np.zeros((3, 2)))
  with pytest.raises(ValueError, match="non-finite"):
    exact_w1(np.array([[0.0, np.nan]]), np.zeros((3, 2)))


points = hnp.arrays(
    np.float64, st.tuples(st.integers(1, 7), st.just(2)),
    elements=st.floats(-10, 10, allow_nan=False, allow_infinity=False))


@settings(max_examples=25, deadline=None)
@given(points, points, points)
def test_metric_properties(a_Nx2, b_Mx2, c_Lx2):
  ab, ba = exact_w1(a_Nx2, b_Mx2), exact_w1(b_Mx2, a_Nx2)
  bc, ac = exact_w1(b_Mx2, c_Lx2), exact_w1(a_Nx2, c_Lx2)
  assert ab >= 0
  assert ab == pytest.approx(ba, rel=1e-9, abs=1e-9)
  assert ac <= ab + bc + 1e-9
  # Jensen: the distance between the means is a lower bound.
  assert np.linalg.norm(a_Nx2.mean(0) - b_Mx2.mean(0)) <= ab + 1e-9
