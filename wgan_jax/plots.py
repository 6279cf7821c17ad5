"""Figures for the Gaussian-mixture reproduction (the WGAN paper's Figure 2, made quantitative).

`figure_2` draws generator samples over the true mixture density, one row per method and one
column per training snapshot; `learning_curves` draws each method's per-iteration distance
estimate against the exact W1 measured with POT. Both write PNGs atomically: a run killed while
saving leaves the previous PNG (or none), never a truncated one.

Only numpy and matplotlib: plotting must not need jax or an accelerator.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import matplotlib

# Before pyplot: figures are written from training jobs and tests, which have no display.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

DPI = 110
PANEL_INCHES = 2.0
# The density background is clipped this many nats below its peak. A component's log-density
# falls by d^2 / (2 std^2) at distance d, so 32 nats shows each mode as a disc of radius 8 std:
# visible at the scale of the whole mixture, yet still much tighter than a mode a GAN has missed.
DENSITY_FLOOR_NATS = 32.0
DENSITY_GRID = 400
SAMPLE_COLOR = "tab:red"
ESTIMATE_COLOR = "tab:blue"
W1_COLOR = "black"
MEDIAN_WINDOW = 101


# Helpers -----------------------------------------------------------------------------------------

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


def _median_window(t: int) -> int:
  """The paper's window of 101, shrunk for short runs so the filter does not flatten the curve."""
  w = min(MEDIAN_WINDOW, max(1, t // 5))
  return w if w % 2 == 1 else w - 1


@contextlib.contextmanager
def _figure(*args, **kwargs):
  """A pyplot figure that is closed however the block exits; pyplot keeps every open figure."""
  fig = plt.figure(*args, **kwargs)
  try:
    yield fig
  finally:
    plt.close(fig)


def _save_atomically(fig, path) -> None:
  """Saves fig as a PNG at `path` via a temporary file in the same folder and os.replace.

  The same folder keeps os.replace a rename within one file system, which is atomic.
  """
  path = os.fspath(path)
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp_path = tempfile.mkstemp(
      dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
  try:
    # mkstemp creates the file readable by its owner only; a figure is meant to be shared.
    os.fchmod(fd, 0o644)
    with os.fdopen(fd, "wb") as f:
      fig.savefig(f, format="png", dpi=DPI)
    os.replace(tmp_path, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.remove(tmp_path)
    raise


def _limits(centers_Kx2) -> tuple[float, float, float, float]:
  """Square axis limits around the centres, with room for the tails and near-miss samples.

  The margin is half the centres' half-range (at least 1): the ring of radius 2 gets +-3, the
  grid on {-4, ..., 4}^2 gets +-6.
  """
  centers_Kx2 = np.asarray(centers_Kx2, dtype=np.float64)
  lo_2, hi_2 = centers_Kx2.min(axis=0), centers_Kx2.max(axis=0)
  mid_2 = (lo_2 + hi_2) / 2
  half = float(np.max(hi_2 - lo_2)) / 2
  reach = half + max(1.0, half / 2)
  return mid_2[0] - reach, mid_2[0] + reach, mid_2[1] - reach, mid_2[1] + reach


def mixture_log_density(points_Px2, centers_Kx2, std: float) -> np.ndarray:
  """log p at each point, p the equal-weight mixture of isotropic Gaussians N(c_k, std^2 I) in 2-D.

  Computed with a log-sum-exp over components, since far from every centre each term underflows.
  """
  points_Px2 = np.asarray(points_Px2, dtype=np.float64)
  centers_Kx2 = np.asarray(centers_Kx2, dtype=np.float64)
  sq_dist_PxK = np.sum((points_Px2[:, None, :] - centers_Kx2[None, :, :]) ** 2, axis=-1)
  log_terms_PxK = -sq_dist_PxK / (2 * std**2)
  peak_P = log_terms_PxK.max(axis=1)
  log_sum_P = peak_P + np.log(np.exp(log_terms_PxK - peak_P[:, None]).sum(axis=1))
  return log_sum_P - np.log(len(centers_Kx2)) - np.log(2 * np.pi * std**2)


def _density_image(centers_Kx2, std: float, limits) -> np.ndarray:
  """log-density on a DENSITY_GRID^2 grid over `limits`, rows running along y (imshow lower)."""
  x0, x1, y0, y1 = limits
  xs_G = np.linspace(x0, x1, DENSITY_GRID)
  ys_G = np.linspace(y0, y1, DENSITY_GRID)
  gx_GxG, gy_GxG = np.meshgrid(xs_G, ys_G)
  points_Px2 = np.stack([gx_GxG.ravel(), gy_GxG.ravel()], axis=1)
  return mixture_log_density(points_Px2, centers_Kx2, std).reshape(DENSITY_GRID, DENSITY_GRID)


# Figure 2 ----------------------------------------------------------------------------------------

def _mixture_panel(ax, log_density_GxG, limits, samples_Nx2, title: str) -> None:
  """One panel: the density background, the samples on top, and the share of samples off-panel."""
  peak = float(log_density_GxG.max())
  # vmax above the peak keeps the mode centres mid-blue, so dark-red samples stay visible on them.
  ax.imshow(log_density_GxG, origin="lower", extent=limits, cmap="Blues",
            vmin=peak - DENSITY_FLOOR_NATS, vmax=peak + 0.4 * DENSITY_FLOOR_NATS,
            interpolation="bilinear", aspect="equal")
  samples_Nx2 = np.asarray(samples_Nx2, dtype=np.float64)
  ax.scatter(samples_Nx2[:, 0], samples_Nx2[:, 1], s=2, alpha=0.5, color=SAMPLE_COLOR,
             linewidths=0, rasterized=True)
  x0, x1, y0, y1 = limits
  ax.set_xlim(x0, x1)
  ax.set_ylim(y0, y1)
  ax.set_aspect("equal")
  ax.set_xticks([])
  ax.set_yticks([])
  ax.set_title(title, fontsize=9, pad=3)
  # A diverged generator can put most samples off the panel; an empty panel would hide that.
  inside_N = ((samples_Nx2[:, 0] >= x0) & (samples_Nx2[:, 0] <= x1)
              & (samples_Nx2[:, 1] >= y0) & (samples_Nx2[:, 1] <= y1))
  outside = 1.0 - float(inside_N.mean()) if len(inside_N) else 0.0
  if outside > 0:
    ax.text(0.98, 0.02, f"{outside:.0%} off panel" if outside >= 0.01 else "<1% off panel",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
            bbox=dict(boxstyle="round,pad=0.15", facecolor="white", alpha=0.8, linewidth=0))


def figure_2(path, datasets, panels) -> None:
  """Generator samples over the true mixture density, through training, for each method.

  For each dataset, one row per method (in the order of panels[name]); one column per snapshot,
  titled with its generator iteration, then a last column with the real data. Every panel of a
  dataset shares its axis limits; the background is the analytic log-density of the mixture,
  clipped DENSITY_FLOOR_NATS below its peak.

  Args:
    path: where to write the PNG.
    datasets: list of {"name": str, "centers": (K, 2) array, "std": float, "real": (N, 2) array}.
    panels: {dataset_name: {method_name: [(generator_iteration, samples_Nx2), ...]}}, snapshots in
      training order.
  """
  rows = [(d, method, snapshots)
          for d in datasets for method, snapshots in panels[d["name"]].items()]
  if not rows:
    raise ValueError("figure_2 needs at least one method with snapshots")
  n_snapshots = max(len(snapshots) for _, _, snapshots in rows)
  n_rows, n_cols = len(rows), n_snapshots + 1
  backgrounds = {}
  for d in datasets:
    limits = _limits(d["centers"])
    backgrounds[d["name"]] = (limits, _density_image(d["centers"], d["std"], limits))

  with _figure(figsize=(PANEL_INCHES * n_cols + 0.5, PANEL_INCHES * n_rows + 0.3),
               layout="constrained") as fig:
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, (d, method, snapshots) in enumerate(rows):
      limits, log_density_GxG = backgrounds[d["name"]]
      for c in range(n_snapshots):
        if c < len(snapshots):
          iteration, samples_Nx2 = snapshots[c]
          _mixture_panel(axes[r, c], log_density_GxG, limits, samples_Nx2, f"iter {iteration}")
        else:
          axes[r, c].set_axis_off()  # This method has fewer snapshots than the longest row.
      _mixture_panel(axes[r, -1], log_density_GxG, limits, d["real"], f"real ({d['name']})")
      axes[r, 0].set_ylabel(f"{d['name']}\n{method}", fontsize=10, fontweight="bold")
    _save_atomically(fig, path)


# Learning curves ---------------------------------------------------------------------------------

def _curve_panel(ax, curve, title: str) -> None:
  """One panel: raw and median-filtered estimate on the left axis, exact W1 on a twin right axis."""
  steps_T = np.asarray(curve["steps"], dtype=np.float64)
  estimate_T = np.asarray(curve["estimate"], dtype=np.float64)
  ax.set_title(title, fontsize=10)
  ax.set_xlabel("generator iterations")
  twin = ax.twinx()
  twin.plot(np.asarray(curve["eval_steps"]), np.asarray(curve["w1"]), "o-", color=W1_COLOR,
            markersize=3, linewidth=1.0)
  twin.set_ylabel("exact W1 (POT)")
  if estimate_T.size and not np.all(np.isnan(estimate_T)):
    window = _median_window(len(estimate_T))
    ax.plot(steps_T, estimate_T, color=ESTIMATE_COLOR, linewidth=0.5, alpha=0.3)
    ax.plot(steps_T, running_median(estimate_T, window), color=ESTIMATE_COLOR, linewidth=2.0)
    ax.set_ylabel(curve.get("estimate_name") or "critic estimate", color=ESTIMATE_COLOR)
    ax.tick_params(axis="y", colors=ESTIMATE_COLOR)
  else:
    # EBGAN's energies estimate no distance; say so instead of leaving an unexplained empty axis.
    # On the twin, which is drawn over ax, so that the W1 line does not run through the note.
    twin.text(0.5, 0.5, "no distance estimate", transform=twin.transAxes, ha="center",
              va="center", color="0.4", fontsize=9, zorder=5,
              bbox=dict(boxstyle="round,pad=0.3", facecolor="white", edgecolor="0.7"))
    ax.set_yticks([])
  if steps_T.size:
    ax.set_xlim(steps_T.min(), steps_T.max())


def learning_curves(path, curves) -> None:
  """Each method's per-iteration distance estimate next to the exact W1, one row per dataset.

  The raw estimate is a thin light line and its running median (window 101, smaller for short
  runs) a bold one, on the left axis; the exact W1 at the evaluation steps is on a twin right
  axis, since the estimate and W1 need not share a scale (a clipped critic is K-Lipschitz with an
  unknown K, and a JS bound is not a distance in the same units).

  Args:
    path: where to write the PNG.
    curves: {dataset_name: {method_name: {"steps": (T,), "estimate": (T,) possibly all NaN,
      "estimate_name": str, "eval_steps": (E,), "w1": (E,)}}}.
  """
  if not curves or not any(curves.values()):
    raise ValueError("learning_curves needs at least one dataset with one method")
  n_rows = len(curves)
  n_cols = max(len(methods) for methods in curves.values())
  windows = sorted({_median_window(len(np.asarray(c["estimate"])))
                    for methods in curves.values() for c in methods.values()})
  window_text = ", ".join(str(w) for w in windows)
  handles = [
      # Thicker than the plotted raw line, which would be invisible at legend size.
      Line2D([], [], color=ESTIMATE_COLOR, linewidth=2.0, alpha=0.3, label="estimate (raw)"),
      Line2D([], [], color=ESTIMATE_COLOR, linewidth=2.0,
             label=f"estimate (running median, window {window_text})"),
      Line2D([], [], color=W1_COLOR, marker="o", markersize=3, linewidth=1.0,
             label="exact W1 (POT), right axis"),
  ]

  with _figure(figsize=(3.6 * n_cols + 0.4, 2.9 * n_rows + 0.6), layout="constrained") as fig:
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, (dataset, methods) in enumerate(curves.items()):
      for c in range(n_cols):
        if c < len(methods):
          method, curve = list(methods.items())[c]
          _curve_panel(axes[r, c], curve, f"{dataset} / {method}")
        else:
          axes[r, c].set_axis_off()
    fig.legend(handles=handles, loc="outside upper center", ncol=3, frameon=False)
    _save_atomically(fig, path)
