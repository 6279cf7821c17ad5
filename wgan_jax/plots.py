"""The figures drawn by more than one run or part, and the helpers of every figure.

`learning_curves` draws each method's per-iteration distance estimate against the exact W1
measured with POT; `image_learning_curve` an image run's estimate with sample sheets above it;
`sheet_grid` a grid of sample sheets. A figure drawn by one module lives with it (the gaussians
reproduction's figure_2, a paper part's own figures) and uses `new_figure` and `save_figure`, as
these do:
`save_figure` writes the PNG atomically, so a run killed while saving leaves the previous PNG (or
none), never a truncated one.

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
ESTIMATE_COLOR = "tab:blue"
W1_COLOR = "black"
JS_COLOR = "tab:red"  # the JS divergence and the discriminator, in the paper parts' figures
MEDIAN_WINDOW = series.MEDIAN_WINDOW


# Helpers -----------------------------------------------------------------------------------------

def median_window(t: int) -> int:
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
    window = median_window(len(estimate_T))
    ax.plot(steps_T, estimate_T, color=ESTIMATE_COLOR, linewidth=0.5, alpha=0.3)
    ax.plot(steps_T, series.running_median(estimate_T, window), color=ESTIMATE_COLOR,
            linewidth=2.0)
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
  windows = sorted({median_window(len(np.asarray(c["estimate"])))
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
      window = median_window(len(estimate_F))
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
