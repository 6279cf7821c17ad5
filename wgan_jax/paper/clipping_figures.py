"""The figures of the clipping part (wgan_jax/paper/clipping.py), from the numbers of
``clipping_critics.measure``: the value surfaces (a), the deep critics' gradient norms (b) and
the surface critics' weights (c).
"""

from __future__ import annotations

import math

import numpy as np

from wgan_jax import plots
from wgan_jax.configs import clipping as part_config
from wgan_jax.paper import clipping_critics as critics
from wgan_jax.paper import clipping_measures as measures


def draw_surfaces(path, m: dict) -> None:
  """Rows: clipping, penalty; columns: the sets. Contours of each critic over the box its
  samples occupy (where it is judged), real samples (orange) and fixed-generator samples
  (green) on top."""
  datasets = critics.surface_datasets(m)
  with plots.new_figure(figsize=(3.0 * len(datasets), 6.0), layout="constrained") as fig:
    axes = fig.subplots(2, len(datasets), squeeze=False)
    for row, (name, label) in enumerate((("surface_clip", "weight clipping"),
                                         ("surface_penalty", "gradient penalty"))):
      for col, d in enumerate(datasets):
        s, ax = m["surfaces"][name][d], axes[row, col]
        ax.contour(s["_xs"], s["_ys"], s["_surface"].T, levels=20, cmap="viridis",
                   linewidths=0.8)
        ax.scatter(*s["_fake"].T, s=2, color="tab:green", alpha=0.4, linewidths=0)
        ax.scatter(*s["_real"].T, s=2, color="tab:orange", alpha=0.6, linewidths=0)
        ax.set_xlim(s["_xs"][0], s["_xs"][-1])
        ax.set_ylim(s["_ys"][0], s["_ys"][-1])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        stopped = (f"converged at step {s['converged_at']:,}" if s["converged_at"] is not None
                   else f"not converged in {m['max_steps']:,} steps")
        ax.set_title(f"{label}, {d}\n{stopped}\nunexplained by a quadratic "
                     f"{s['unexplained']:.3f}", fontsize=8)
    plots.save_figure(fig, path)


def draw_gradients(path, m: dict) -> None:
  """Two panels, for each deep critic against its layer: log10 ‖∂loss/∂h_l‖ w.r.t. each hidden
  layer's activations (the paper's measure) and log10 ‖∂loss/∂W_l‖ w.r.t. each layer's weights;
  the geometric mean over the points of training, and their range shaded. A norm of exactly 0 is
  left out: a log scale has no place for it."""
  with plots.new_figure(figsize=(11.0, 3.8), layout="constrained") as fig:
    axes = fig.subplots(1, 2)
    positive = lambda v: np.where(np.asarray(v) > 0, np.asarray(v), np.nan)
    panels = (("activation", "hidden layer (1 = nearest the input)", "‖∂ loss / ∂ h_l‖",
               "gradient w.r.t. each layer's activations (the paper's measure)"),
              ("kernel", "layer (1 = input)", "‖∂ loss / ∂ W_l‖",
               "gradient w.r.t. each layer's weights"))
    for ax, (what, xlabel, ylabel, title) in zip(axes, panels):
      for i, (clip, d) in enumerate(m["deep"].items()):
        color = f"C{i}"
        norms = d[f"{what}_norms"]
        layers = np.arange(1, len(norms) + 1)
        change = d[f"{what}_trend"]["change"]
        label = critics.deep_label(clip) + (f" ({change:+.1f} decades)"
                                            if math.isfinite(change)
                                            else " (no fit: some norms are 0)")
        ax.plot(layers, positive(norms), "o-", color=color, markersize=3, label=label)
        ax.fill_between(layers, positive(d[f"{what}_norms_min"]),
                        positive(d[f"{what}_norms_max"]), color=color, alpha=0.15, linewidth=0)
      ax.set_yscale("log")
      ax.set_xlabel(xlabel)
      ax.set_ylabel(ylabel)
      ax.set_title(f"deep critics on swissroll: {title}", fontsize=9)
      ax.legend(fontsize=7, frameon=False)
    plots.save_figure(fig, path)


def draw_weights(path, m: dict) -> None:
  """Histograms of the kernels of the clipped and the penalised critic of the last set."""
  d = critics.surface_datasets(m)[-1]
  with plots.new_figure(figsize=(8.0, 3.0), layout="constrained") as fig:
    axes = fig.subplots(1, 2)
    for ax, (name, label) in zip(axes, (("surface_clip",
                                         f"weight clipping (c = {part_config.SURFACE_CLIP})"),
                                        ("surface_penalty", "gradient penalty"))):
      s = m["surfaces"][name][d]
      ax.hist(s["_kernels"], bins=100, color="tab:blue")
      ax.set_yscale("log")
      ax.set_xlabel("weight")
      ax.set_title(f"{label}, {d}: {s['at_edge']:.1%} within {measures.EDGE:.0%} of the edge",
                   fontsize=8)
    axes[0].set_ylabel("count")
    plots.save_figure(fig, path)
