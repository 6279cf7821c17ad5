"""Tests for wgan_jax/series.py: the running median, against its definition."""

import math
import statistics

import numpy as np
import pytest

from wgan_jax import series
from wgan_jax.series import running_median


def loop_median(x, window):
  """The definition, one window at a time: indices clamped to the ends (edge padding)."""
  half = window // 2
  t_max = len(x) - 1
  return [statistics.median(x[min(max(t + j, 0), t_max)] for j in range(-half, half + 1))
          for t in range(len(x))]


@pytest.mark.parametrize("window", [1, 3, 5, 7, 13])
def test_running_median_matches_loop(window):
  x = [3.0, -1.0, 4.0, 1.0, -5.0, 9.0, 2.0, 6.0, 5.0, -3.0, 5.0]
  np.testing.assert_allclose(running_median(np.array(x), window), loop_median(x, window))


def test_running_median_by_hand_at_the_edges():
  # Window 3 on [5, 1, 3]: padded to [5, 5, 1, 3, 3], medians of (5,5,1), (5,1,3), (1,3,3).
  np.testing.assert_allclose(running_median(np.array([5.0, 1.0, 3.0]), 3), [5.0, 3.0, 3.0])


def test_running_median_of_constant_is_constant():
  out_T = running_median(np.full(40, 2.5), 101)
  assert out_T.shape == (40,)
  np.testing.assert_array_equal(out_T, np.full(40, 2.5))


def test_running_median_removes_a_spike():
  x_T = np.zeros(20)
  x_T[7] = 100.0
  np.testing.assert_array_equal(running_median(x_T, 5), np.zeros(20))


def test_running_median_rejects_even_window():
  with pytest.raises(ValueError, match="odd"):
    running_median(np.arange(5.0), 4)


def test_running_median_of_empty_is_empty():
  assert running_median(np.array([]), 5).shape == (0,)


def test_spearman_leaves_out_non_finite_pairs():
  a = [1.0, 2.0, np.nan, 4.0, 5.0]
  b = [10.0, 30.0, 0.0, 20.0, np.inf]
  # Ranks of the finite pairs (1, 10), (2, 30), (4, 20): (1, 2, 3) against (1, 3, 2).
  assert series.spearman(a, b) == pytest.approx(1 - 6 * (0 + 1 + 1) / (3 * (9 - 1)))
  assert math.isnan(series.spearman([1.0, 2.0], [1.0, 2.0]))
