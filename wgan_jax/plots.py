"""Every figure: the Gaussian reproduction's, the paper parts' and the image runs'.

`figure_2` draws generator samples over the true mixture density, one row per method and one
column per training snapshot; `learning_curves` draws each method's per-iteration distance
estimate against the exact W1 measured with POT; the others draw sample sheets, the parallel
lines and the Adam part's cosines. Every one writes its PNG atomically: a run killed while
saving leaves the previous PNG (or none), never a truncated one.

Only numpy and matplotlib: plotting must not need jax or an accelerator.
"""

from __future__ import annotations

import contextlib
import io

import matplotlib

# Before pyplot: figures are written from training jobs and tests, which have no display.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import ConnectionPatch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from wgan_jax import files  # noqa: E402
from wgan_jax import series  # noqa: E402

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
MEDIAN_WINDOW = series.MEDIAN_WINDOW


# Helpers -----------------------------------------------------------------------------------------

def _median_window(t: int) -> int:
  """The paper's window of 101, shrunk for short runs so the filter does not flatten the curve."""
  w = min(MEDIAN_WINDOW, max(1, t // 5))
  return w if w % 2 == 1 else w - 1


@contextlib.contextmanager
def new_figure(*args, **kwargs):
  """A pyplot figure that is closed however the block exits; pyplot keeps every open figure."""
  fig = plt.figure(*args, **kwargs)
  try:
    yield fig
  finally:
    plt.close(fig)


def save_figure(fig, path) -> None:
  """Saves fig as a PNG at ``path``, atomically (``files.replace_atomically``)."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=DPI)
  files.replace_atomically(path, buffer.getvalue())


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

  with new_figure(figsize=(PANEL_INCHES * n_cols + 0.5, PANEL_INCHES * n_rows + 0.3),
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
    save_figure(fig, path)


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
    ax.plot(steps_T, series.running_median(estimate_T, window), color=ESTIMATE_COLOR, linewidth=2.0)
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

  with new_figure(figsize=(3.6 * n_cols + 0.4, 2.9 * n_rows + 0.6), layout="constrained") as fig:
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, (dataset, methods) in enumerate(curves.items()):
      for c in range(n_cols):
        if c < len(methods):
          method, curve = list(methods.items())[c]
          _curve_panel(axes[r, c], curve, f"{dataset} / {method}")
        else:
          axes[r, c].set_axis_off()
    fig.legend(handles=handles, loc="outside upper center", ncol=3, frameon=False)
    save_figure(fig, path)


# Learning curve with sample sheets (Figures 4-5) -------------------------------------------------

SHEET_MAX_INCHES = 1.9
SHEET_GAP_INCHES = 0.15


def _inset_lefts(centres_K, size: float, gap: float, lo: float, hi: float) -> np.ndarray:
  """Left edges of K insets of width `size`, each as near its centre as the others allow.

  Centres must be sorted and K insets must fit: K * size + (K - 1) * gap <= hi - lo. A forward pass
  pushes each inset right of its left neighbour, a backward pass pulls back those pushed past hi.
  """
  lefts_K = np.clip(np.asarray(centres_K, dtype=np.float64) - size / 2, lo, hi - size)
  for i in range(1, len(lefts_K)):
    lefts_K[i] = max(lefts_K[i], lefts_K[i - 1] + size + gap)
  for i in range(len(lefts_K) - 1, -1, -1):
    bound = hi - size if i == len(lefts_K) - 1 else lefts_K[i + 1] - size - gap
    lefts_K[i] = min(lefts_K[i], bound)
  return lefts_K


def image_learning_curve(path, steps_T, estimate_T, estimate_name: str, sheets, *,
                         title: str | None = None, quality=None) -> None:
  """The distance estimate against generator iterations, with sample sheets above it.

  The paper's Figures 4-5: the raw estimate as a thin light line and its running median (window
  101, smaller for short runs) as a bold one. Each sample sheet sits in a row above the curve, in
  step order and evenly spaced (steps close together would otherwise make them overlap), joined by
  a thin line to a vertical dashed line at its step. Non-finite estimates (a diverged critic) are
  left out of both lines and counted in the legend; with none finite, as for EBGAN's energies, the
  axis says "no distance estimate" and the sheets are still drawn.

  Args:
    path: where to write the PNG.
    steps_T: generator iteration of each estimate, increasing.
    estimate_T: the estimate at each step (EM estimate, JS lower bound, ...), possibly all NaN.
    estimate_name: y-axis label, e.g. "EM estimate".
    sheets: [(step, sheet), ...] with sheet a uint8 array, H x W (grayscale) or H x W x 3 (RGB),
      as `wgan_jax.writers.image_sheet` returns; may be empty.
    title: optional line above everything.
    quality: optional (name, steps_E, values_E), a measure of the samples at some steps (a
      Fréchet distance), drawn with markers on a twin right axis.
  """
  steps_T = np.asarray(steps_T, dtype=np.float64)
  estimate_T = np.asarray(estimate_T, dtype=np.float64)
  if steps_T.shape != estimate_T.shape or steps_T.ndim != 1:
    raise ValueError(f"steps_T and estimate_T must be 1-D of one length; got {steps_T.shape} "
                     f"and {estimate_T.shape}")
  sheets = sorted(((int(step), np.asarray(sheet)) for step, sheet in sheets), key=lambda s: s[0])
  for step, sheet in sheets:
    if sheet.ndim not in (2, 3) or (sheet.ndim == 3 and sheet.shape[2] not in (3, 4)):
      raise ValueError(f"sheet at step {step} must be H x W or H x W x 3; got {sheet.shape}")

  # Fixed inches rather than a layout engine: the connectors run between two axes, and their
  # anchors must not move after they are drawn.
  width, left, right = 10.0, 0.85, 0.25 if quality is None else 0.9
  bottom, curve_h, link_h, label_h = 0.6, 3.0, 0.45, 0.25
  top = 0.55 if title else 0.3
  axes_w = width - left - right
  n = len(sheets)
  sheet_size = min(SHEET_MAX_INCHES, (axes_w - (n - 1) * SHEET_GAP_INCHES) / n) if n else 0.0
  strip_h = sheet_size + label_h + link_h if n else 0.0
  height = bottom + curve_h + strip_h + top

  finite_T = np.isfinite(estimate_T)
  with new_figure(figsize=(width, height)) as fig:
    ax = fig.add_axes((left / width, bottom / height, axes_w / width, curve_h / height))
    ax.set_xlabel("generator iterations")
    if finite_T.any():
      steps_F, estimate_F = steps_T[finite_T], estimate_T[finite_T]
      window = _median_window(len(estimate_F))
      median_F = series.running_median(estimate_F, window)
      ax.plot(steps_F, estimate_F, color=ESTIMATE_COLOR, linewidth=0.5, alpha=0.3,
              label="raw")
      # Markers on a short run, where a line of one point would not show at all.
      ax.plot(steps_F, median_F, color=ESTIMATE_COLOR, linewidth=2.0,
              marker="o" if len(steps_F) <= 20 else None, markersize=3,
              label=f"running median, window {window}")
      # A few early spikes (the critic's first, long training phases) would otherwise squash the
      # curve; the median is always in view, the raw line beyond its 0.5-99.5 percentiles is cut.
      lo = min(float(median_F.min()), float(np.percentile(estimate_F, 0.5)))
      hi = max(float(median_F.max()), float(np.percentile(estimate_F, 99.5)))
      pad = 0.05 * (hi - lo) if hi > lo else max(0.05 * abs(hi), 0.05)
      ax.set_ylim(lo - pad, hi + pad)
      ax.set_ylabel(estimate_name)
      handles, labels = ax.get_legend_handles_labels()
      # Thicker than the plotted raw line, which would be invisible at legend size.
      handles[0] = Line2D([], [], color=ESTIMATE_COLOR, linewidth=2.0, alpha=0.3)
      dropped = int((~finite_T).sum())
      if dropped:
        handles.append(Line2D([], [], linestyle="none"))
        labels.append(f"{dropped} non-finite values not shown")
      if quality is not None:
        handles.append(Line2D([], [], color=W1_COLOR, marker="o", markersize=3, linewidth=1.0))
        labels.append(f"{quality[0]}, right axis")
      ax.legend(handles, labels, loc="upper right", fontsize=8, frameon=False)
    else:
      ax.text(0.5, 0.5, "no distance estimate", transform=ax.transAxes, ha="center",
              va="center", color="0.4", fontsize=10,
              bbox=dict(boxstyle="round,pad=0.3", facecolor="white", edgecolor="0.7"))
      ax.set_yticks([])
    if quality is not None:
      quality_name, quality_steps_E, quality_E = quality
      twin = ax.twinx()
      twin.plot(np.asarray(quality_steps_E), np.asarray(quality_E, dtype=np.float64), "o-",
                color=W1_COLOR, markersize=3, linewidth=1.0)
      twin.set_ylabel(quality_name, color=W1_COLOR)
      twin.tick_params(axis="y", colors=W1_COLOR)
    xs = list(steps_T) + [step for step, _ in sheets]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    # A margin, so that a dashed line at the first or last step is not hidden by the frame; at
    # least one iteration, so that even a one-step run has integer ticks on both sides.
    margin = max(0.015 * (x1 - x0), 1.0)
    x0, x1 = x0 - margin, x1 + margin
    ax.set_xlim(x0, x1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # Iterations are whole numbers.

    centres_in = [left + (step - x0) / (x1 - x0) * axes_w for step, _ in sheets]
    lefts_in = _inset_lefts(centres_in, sheet_size, SHEET_GAP_INCHES, left, left + axes_w)
    for (step, sheet), x_in in zip(sheets, lefts_in):
      ax.axvline(step, color="0.35", linestyle="--", linewidth=0.8, zorder=0)
      y_in = bottom + curve_h + link_h
      inset = fig.add_axes((x_in / width, y_in / height, sheet_size / width,
                            sheet_size / height))
      if sheet.ndim == 2:
        inset.imshow(sheet, cmap="gray", vmin=0, vmax=255)
      else:
        inset.imshow(sheet)
      inset.set_xticks([])
      inset.set_yticks([])
      inset.set_title(f"iter {step}", fontsize=8, pad=2)
      fig.add_artist(ConnectionPatch(
          xyA=(0.5, 0.0), coordsA=inset.transAxes, xyB=(step, 1.0),
          coordsB=ax.get_xaxis_transform(), color="0.35", linewidth=0.8))
    if title:
      fig.suptitle(title, y=1 - 0.12 / height, va="top", fontsize=11)
    save_figure(fig, path)


# Sample sheets in a labelled grid (Figures 6-8) ---------------------------------------------------

def sheet_grid(path, sheets, row_labels, col_labels, captions=None, title: str | None = None
               ) -> None:
  """Sample sheets in a grid: rows (e.g. methods) by columns (e.g. generators), each labelled.

  Args:
    path: where to write the PNG.
    sheets: rows of uint8 sheets (H x W grayscale or H x W x 3), as `writers.image_sheet` returns;
      None leaves a cell empty.
    row_labels, col_labels: one label per row and per column.
    captions: optional rows of strings under each sheet (e.g. its iteration and numbers).
    title: optional line above everything.
  """
  n_rows, n_cols = len(row_labels), len(col_labels)
  if len(sheets) != n_rows or any(len(row) != n_cols for row in sheets):
    raise ValueError(f"sheets must be {n_rows} rows of {n_cols}")
  with new_figure(figsize=(2.4 * n_cols + 0.5, 2.6 * n_rows + (0.4 if title else 0.1)),
               layout="constrained") as fig:
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r in range(n_rows):
      for c in range(n_cols):
        ax, sheet = axes[r, c], sheets[r][c]
        ax.set_xticks([])
        ax.set_yticks([])
        if sheet is not None:
          sheet = np.asarray(sheet)
          ax.imshow(sheet, cmap="gray" if sheet.ndim == 2 else None, vmin=0, vmax=255,
                    interpolation="nearest")
        else:
          ax.text(0.5, 0.5, "no samples", transform=ax.transAxes, ha="center", va="center")
        if r == 0:
          ax.set_title(col_labels[c], fontsize=10)
        if c == 0:
          ax.set_ylabel(row_labels[r], fontsize=11)
        if captions is not None:
          ax.set_xlabel(captions[r][c], fontsize=8)
    if title:
      fig.suptitle(title, fontsize=11)
    save_figure(fig, path)


# The EM estimate over the cosine of the critic's optimiser steps (Section 4.3) -------------------

COSINE_COLOR = "tab:green"
NEGATIVE_COLOR = "tab:red"
EPISODE_COLOR = "tab:orange"


def estimate_and_cosine(path, runs, title: str | None = None) -> None:
  """For each run, two stacked panels: the estimate (raw and running median) over generator
  iterations, with the exact W1 on a twin right axis where the run has one, and below it the
  cosine between each critic update and the descent direction, with negative cosines in red;
  unstable episodes are shaded in both.

  Args:
    path: where to write the PNG.
    runs: [{"name": str, "steps": (T,), "estimate": (T,), "estimate_name": str,
      "cosine_steps": (U,) generator iteration of each critic update (fractional), "cosine": (U,),
      "episodes": [(first_step, last_step), ...], optionally "w1_steps": (E,), "w1": (E,)},
      ...], one column each.
    title: optional line above everything.
  """
  if not runs:
    raise ValueError("estimate_and_cosine needs at least one run")
  with new_figure(figsize=(3.6 * len(runs) + 0.4, 5.2 + (0.3 if title else 0.0)),
               layout="constrained") as fig:
    axes = fig.subplots(2, len(runs), squeeze=False, sharex="col",
                        gridspec_kw={"height_ratios": (3, 2)})
    for c, run in enumerate(runs):
      top, bottom = axes[0, c], axes[1, c]
      steps_T = np.asarray(run["steps"], np.float64)
      estimate_T = np.asarray(run["estimate"], np.float64)
      finite_T = np.isfinite(estimate_T)
      if finite_T.any():
        top.plot(steps_T[finite_T], estimate_T[finite_T], color=ESTIMATE_COLOR, linewidth=0.5,
                 alpha=0.4)
        top.plot(steps_T[finite_T],
                 series.running_median(estimate_T[finite_T], _median_window(int(finite_T.sum()))),
                 color=ESTIMATE_COLOR, linewidth=1.5)
      top.set_title(run["name"], fontsize=10)
      top.set_ylabel(run.get("estimate_name") or "estimate", fontsize=9)
      if run.get("w1") is not None:
        # Its own axis: a clipped critic's estimate and W1 need not share a scale.
        w1_axis = top.twinx()
        w1_E = np.asarray(run["w1"], np.float64)
        finite_E = np.isfinite(w1_E)
        w1_axis.plot(np.asarray(run["w1_steps"], np.float64)[finite_E], w1_E[finite_E],
                     color=W1_COLOR, marker="o", markersize=2, linewidth=0.8)
        w1_axis.set_ylabel("exact W1", fontsize=9, color=W1_COLOR)
        w1_axis.tick_params(axis="y", labelsize=7, colors=W1_COLOR)
      cos_steps_U = np.asarray(run["cosine_steps"], np.float64)
      cos_U = np.asarray(run["cosine"], np.float64)
      negative_U = cos_U < 0
      bottom.scatter(cos_steps_U[~negative_U], cos_U[~negative_U], s=1.5, color=COSINE_COLOR,
                     linewidths=0)
      bottom.scatter(cos_steps_U[negative_U], cos_U[negative_U], s=4, color=NEGATIVE_COLOR,
                     linewidths=0, label=f"{int(negative_U.sum())} negative")
      bottom.axhline(0.0, color="0.3", linewidth=0.8)
      bottom.set_ylim(-1.05, 1.05)
      bottom.set_ylabel("cos(step, -gradient)", fontsize=9)
      bottom.set_xlabel("generator iterations")
      bottom.legend(loc="lower right", fontsize=7, frameon=False, markerscale=3)
      for first, last in run.get("episodes", ()):
        for ax in (top, bottom):
          ax.axvspan(first - 0.5, last + 0.5, color=EPISODE_COLOR, alpha=0.3, linewidth=0)
      top.text(0.02, 0.96, f"{len(run.get('episodes', ()))} unstable episodes (shaded)",
               transform=top.transAxes, ha="left", va="top", fontsize=7, color="0.2")
    if title:
      fig.suptitle(title, fontsize=11)
    save_figure(fig, path)


# The paper's Figure 1: parallel lines ------------------------------------------------------------

JS_COLOR = "tab:red"
GP_COLOR = "tab:green"


def parallel_lines(path, thetas_F, exact, thetas_G, em_estimate_G, js_estimate_G,
                   em_fit: tuple[float, float], gp_estimate_G=None,
                   best_slope: float | None = None) -> None:
  """The paper's Figure 1 with learned points: EM (left) and JS, TV, KL (right) against θ.

  Left: the exact EM |θ| on the left axis; the clipped critic's estimate (points) and its
  linear fit against |θ| on a twin right axis, since a clipped critic is K-Lipschitz for an
  unknown K. Right: the exact JS (log 2 off θ = 0), TV (dashed) and the discriminator's JS
  estimate (points); KL, infinite off θ = 0, is named in the legend.

  Args:
    path: where to write the PNG.
    thetas_F: a fine grid of θ for the exact curves; exact: {"EM", "JS", "TV": (F,)} on it.
    thetas_G, em_estimate_G, js_estimate_G: the learned estimates on the grid.
    em_fit: (slope, intercept) of the critic's estimate against |θ|.
    gp_estimate_G: optionally, a gradient-penalty critic's estimate, 1-Lipschitz and so drawn on
      the exact EM's axis.
    best_slope: optionally, the slope in |θ| of the best clipped critic's estimate: the right
      axis is then scaled so that the exact EM line is also the best clipped critic's.
  """
  thetas_F = np.asarray(thetas_F, np.float64)
  thetas_G = np.asarray(thetas_G, np.float64)
  apart_F = thetas_F != 0
  with new_figure(figsize=(9.0, 3.4), layout="constrained") as fig:
    left, right = fig.subplots(1, 2)
    left.plot(thetas_F, np.asarray(exact["EM"]), color=W1_COLOR, linewidth=1.5,
              label="exact EM = |θ|")
    left.set_xlabel("θ")
    left.set_ylabel("EM distance")
    left.set_title("Earth-Mover distance", fontsize=10)
    twin = left.twinx()
    slope, intercept = em_fit
    twin.plot(thetas_F, slope * np.abs(thetas_F) + intercept, color=ESTIMATE_COLOR,
              linewidth=0.8, linestyle=":")
    twin.plot(thetas_G, em_estimate_G, "o", color=ESTIMATE_COLOR, markersize=4)
    twin.set_ylabel("critic's EM estimate", color=ESTIMATE_COLOR)
    twin.tick_params(axis="y", colors=ESTIMATE_COLOR)
    if best_slope is None:
      # One scale for both axes at θ = 0, so that the exact curve and the points start together.
      twin.set_ylim(bottom=min(0.0, float(np.min(em_estimate_G))))
      left.set_ylim(bottom=0.0)
      exact_label = "exact EM = |θ|"
    else:
      # The right axis is the left one times best_slope: the exact EM line is also the best
      # clipped critic's estimate, best_slope·|θ|, and the points read as a fraction of it.
      bottom = min(0.0, float(np.min(em_estimate_G)) / best_slope)
      top = 1.05 * float(np.max(np.asarray(exact["EM"])))
      left.set_ylim(bottom, top)
      twin.set_ylim(bottom * best_slope, top * best_slope)
      exact_label = f"exact EM = |θ|; right axis: best clipped critic, {best_slope:.3g}|θ|"
    handles = [
        Line2D([], [], color=W1_COLOR, linewidth=1.5, label=exact_label),
        Line2D([], [], color=ESTIMATE_COLOR, marker="o", markersize=4, linestyle=":",
               linewidth=0.8, label="clipped critic (right axis), linear fit")]
    if gp_estimate_G is not None:
      left.plot(thetas_G, gp_estimate_G, "s", color=GP_COLOR, markersize=3.5, fillstyle="none")
      handles.append(Line2D([], [], color=GP_COLOR, marker="s", markersize=3.5, fillstyle="none",
                            linestyle="none", label="gradient-penalty critic"))
    left.legend(handles=handles, loc="upper center", fontsize=7, frameon=False)

    for side in (thetas_F < 0, thetas_F > 0):
      right.plot(thetas_F[side], np.asarray(exact["JS"])[side], color=W1_COLOR, linewidth=1.5)
      right.plot(thetas_F[side], np.asarray(exact["TV"])[side], color="0.5", linewidth=1.0,
                 linestyle="--")
    right.plot([0.0], [0.0], "o", color=W1_COLOR, markersize=4)  # every distance is 0 at θ = 0
    right.plot(thetas_G, js_estimate_G, "o", color=JS_COLOR, markersize=4, fillstyle="none")
    right.set_xlabel("θ")
    right.set_title("Jensen-Shannon divergence", fontsize=10)
    right.set_ylim(-0.05, 1.1)
    right.legend(handles=[
        Line2D([], [], color=W1_COLOR, linewidth=1.5, label="exact JS (log 2 off θ = 0)"),
        Line2D([], [], color="0.5", linewidth=1.0, linestyle="--", label="exact TV"),
        Line2D([], [], linestyle="none", label="exact KL = ∞ off θ = 0"),
        Line2D([], [], color=JS_COLOR, marker="o", fillstyle="none", linestyle="none",
               label="GAN discriminator's ½L + log 2")],
        loc="center right", fontsize=7, frameon=False)
    if not apart_F.all():
      left.axvline(0.0, color="0.85", linewidth=0.8, zorder=0)
    save_figure(fig, path)


def theta_learning(path, steps_T, theta_T, checkpoints_C, gradients) -> None:
  """θ learned by a WGAN from θ = 1 (left); |∂ loss / ∂θ| at θ = 1 as the critic trains (right).

  Args:
    path: where to write the PNG.
    steps_T, theta_T: θ at generator iterations steps_T.
    checkpoints_C: critic (discriminator) steps after which each gradient was measured.
    gradients: {name: (C,) gradient magnitudes}, drawn on a log-log scale.
  """
  with new_figure(figsize=(9.0, 3.2), layout="constrained") as fig:
    left, right = fig.subplots(1, 2)
    left.plot(np.asarray(steps_T), np.asarray(theta_T), color=ESTIMATE_COLOR, linewidth=1.5)
    left.axhline(0.0, color="0.5", linewidth=0.8, linestyle="--")
    left.set_xlabel("generator iterations")
    left.set_ylabel("θ")
    left.set_title("WGAN learning θ from θ = 1", fontsize=10)
    for name, gradient_C in gradients.items():
      gradient_C = np.asarray(gradient_C, np.float64)
      # A gradient of exactly 0 has no place on a log axis: drawn at the floor of float32.
      right.plot(np.asarray(checkpoints_C), np.maximum(gradient_C, 1e-38), "o-", markersize=3,
                 label=name)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("critic (discriminator) steps at θ = 1")
    right.set_ylabel("|∂ generator loss / ∂θ|")
    right.set_title("The generator's gradient on θ", fontsize=10)
    right.legend(fontsize=7, frameon=False)
    save_figure(fig, path)


# The paper's Figure 3: two Gaussians -----------------------------------------------------------

DENSITY_COLORS = {"real": "tab:blue", "fake": "tab:orange"}
FUNCTION_STYLES = ({"color": JS_COLOR, "linewidth": 1.5},
                   {"color": JS_COLOR, "linewidth": 0.9, "linestyle": ":"},
                   {"color": "tab:green", "linewidth": 1.5})


def two_gaussians(path, x_F, densities, functions, gradients, support,
                  floor: float = 1e-16, title: str | None = None) -> None:
  """The paper's Figure 3 (left) and the gradients that reach the generator (right).

  A function or gradient may be one curve (F,) or one per initialisation (S, F): the first is
  drawn bold and labelled, the others faint in the same style.

  Args:
    path: where to write the PNG.
    x_F: the points of the line.
    densities: {name: (F,) density}, filled; "real" and "fake" get their own colours.
    functions: {legend: (F,) or (S, F) values in [0, 1]}: the discriminator, its optimum, the
      rescaled critic (at most three, drawn in FUNCTION_STYLES).
    gradients: {legend: (F,) or (S, F) |∂ℓ/∂x| over its maximum on the support}, on a log scale.
    support: (left, right) of the support, shaded in both panels.
    floor: the lowest gradient drawn; below it a gradient is nothing at float32's precision.
    title: the figure's title, if any (which initialisation is bold).
  """
  x_F = np.asarray(x_F, np.float64)
  faint = {"alpha": 0.35, "linewidth": 0.6}
  with new_figure(figsize=(10.0, 3.6), layout="constrained") as fig:
    left, right = fig.subplots(1, 2)
    for ax in (left, right):
      ax.axvspan(*support, color="0.94", zorder=0, label="support" if ax is left else None)
      ax.set_xlabel("x")
      ax.set_xlim(x_F[0], x_F[-1])
    for name, density_F in densities.items():
      color = DENSITY_COLORS.get(name, "0.5")
      left.fill_between(x_F, np.asarray(density_F), color=color, alpha=0.3, linewidth=0)
      left.plot(x_F, np.asarray(density_F), color=color, linewidth=0.8, label=f"{name} density")
    for (name, values), style in zip(functions.items(), FUNCTION_STYLES):
      values_SxF = np.atleast_2d(np.asarray(values, np.float64))
      left.plot(x_F, values_SxF[0], label=name, **style)
      for values_F in values_SxF[1:]:
        left.plot(x_F, values_F, **{**style, **faint})
    left.set_ylim(-0.05, 1.45)  # room for the legend above D = 1
    left.set_title("Densities, discriminator and critic", fontsize=10)
    left.legend(loc="upper center", fontsize=7, frameon=False, ncol=2)
    for name, gradient in gradients.items():
      gradient_SxF = np.atleast_2d(np.asarray(gradient, np.float64))
      # Exact zeros (a dead ReLU region) have no place on a log scale.
      drawn_SxF = np.where(gradient_SxF > 0, gradient_SxF, np.nan)
      line, = right.plot(x_F, drawn_SxF[0], linewidth=1.2, label=name)
      for drawn_F in drawn_SxF[1:]:
        right.plot(x_F, drawn_F, color=line.get_color(), **faint)
    right.set_yscale("log")
    right.set_ylim(bottom=floor, top=3.0)
    right.set_ylabel("|∂ℓ/∂x| / its maximum over the support")
    right.set_title("Gradient of the generator's loss ℓ(x)", fontsize=10)
    right.legend(fontsize=7, frameon=False, loc="center left")
    if title:
      fig.suptitle(title, fontsize=10)
    save_figure(fig, path)
