"""Per-iteration training series (an estimate, a loss): the running median the figures and the
analyses read them through."""

from __future__ import annotations

import numpy as np
import scipy.stats

# The centred window of the WGAN paper's figures: its curves are median-filtered over 101
# generator iterations.
MEDIAN_WINDOW = 101


def running_median(x_T, window: int) -> np.ndarray:
  """Centred running median of x_T over `window` points, same length T as the input.

  The ends are padded by repeating the first and last values (numpy's "edge" mode), so output t
  is the median of x[clip(t + j, 0, T - 1)] for j in [-(window // 2), window // 2]. A window
  longer than the series is allowed and tends to the median of the whole series. NaN propagates
  into every window that contains it, as with np.median.

  Args:
    x_T: 1-D array of length T.
    window: odd positive number of points; odd so that the window is centred on t.

  Returns:
    float64 array of shape (T,).
  """
  x_T = np.asarray(x_T, dtype=np.float64)
  if x_T.ndim != 1:
    raise ValueError(f"x_T must be 1-D; got shape {x_T.shape}")
  if window < 1 or window % 2 == 0:
    raise ValueError(f"window must be odd and positive; got {window}")
  if x_T.size == 0:
    return x_T.copy()  # np.pad cannot repeat the edge of an empty array.
  half = window // 2
  padded_P = np.pad(x_T, half, mode="edge")
  windows_TxW = np.lib.stride_tricks.sliding_window_view(padded_P, window)
  return np.median(windows_TxW, axis=1)


def spearman(a, b) -> float:
  """Spearman's ρ between ``a`` and ``b`` over the pairs where both are finite; nan with fewer
  than 3 such pairs or when one side is constant."""
  a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
  finite = np.isfinite(a) & np.isfinite(b)
  if finite.sum() < 3:
    return float("nan")
  return float(scipy.stats.spearmanr(a[finite], b[finite]).statistic)
