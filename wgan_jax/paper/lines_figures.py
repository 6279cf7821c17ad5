"""The figures of the lines part (wgan_jax/paper/lines.py): the paper's Figure 1 with the learned
estimates (``parallel_lines``) and θ learned by a WGAN beside the gradients on θ
(``theta_learning``). Each writes its PNG with ``plots.save_figure``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from wgan_jax import plots

GP_COLOR = "tab:green"  # the gradient-penalty control


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
  with plots.new_figure(figsize=(9.0, 3.4), layout="constrained") as fig:
    left, right = fig.subplots(1, 2)
    left.plot(thetas_F, np.asarray(exact["EM"]), color=plots.W1_COLOR, linewidth=1.5,
              label="exact EM = |θ|")
    left.set_xlabel("θ")
    left.set_ylabel("EM distance")
    left.set_title("Earth-Mover distance", fontsize=10)
    twin = left.twinx()
    slope, intercept = em_fit
    twin.plot(thetas_F, slope * np.abs(thetas_F) + intercept, color=plots.ESTIMATE_COLOR,
              linewidth=0.8, linestyle=":")
    twin.plot(thetas_G, em_estimate_G, "o", color=plots.ESTIMATE_COLOR, markersize=4)
    twin.set_ylabel("critic's EM estimate", color=plots.ESTIMATE_COLOR)
    twin.tick_params(axis="y", colors=plots.ESTIMATE_COLOR)
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
        Line2D([], [], color=plots.W1_COLOR, linewidth=1.5, label=exact_label),
        Line2D([], [], color=plots.ESTIMATE_COLOR, marker="o", markersize=4, linestyle=":",
               linewidth=0.8, label="clipped critic (right axis), linear fit")]
    if gp_estimate_G is not None:
      left.plot(thetas_G, gp_estimate_G, "s", color=GP_COLOR, markersize=3.5, fillstyle="none")
      handles.append(Line2D([], [], color=GP_COLOR, marker="s", markersize=3.5, fillstyle="none",
                            linestyle="none", label="gradient-penalty critic"))
    left.legend(handles=handles, loc="upper center", fontsize=7, frameon=False)

    for side in (thetas_F < 0, thetas_F > 0):
      right.plot(thetas_F[side], np.asarray(exact["JS"])[side], color=plots.W1_COLOR,
                 linewidth=1.5)
      right.plot(thetas_F[side], np.asarray(exact["TV"])[side], color="0.5", linewidth=1.0,
                 linestyle="--")
    # Every distance is 0 at θ = 0.
    right.plot([0.0], [0.0], "o", color=plots.W1_COLOR, markersize=4)
    right.plot(thetas_G, js_estimate_G, "o", color=plots.JS_COLOR, markersize=4, fillstyle="none")
    right.set_xlabel("θ")
    right.set_title("Jensen-Shannon divergence", fontsize=10)
    right.set_ylim(-0.05, 1.1)
    right.legend(handles=[
        Line2D([], [], color=plots.W1_COLOR, linewidth=1.5, label="exact JS (log 2 off θ = 0)"),
        Line2D([], [], color="0.5", linewidth=1.0, linestyle="--", label="exact TV"),
        Line2D([], [], linestyle="none", label="exact KL = ∞ off θ = 0"),
        Line2D([], [], color=plots.JS_COLOR, marker="o", fillstyle="none", linestyle="none",
               label="GAN discriminator's ½L + log 2")],
        loc="center right", fontsize=7, frameon=False)
    if not apart_F.all():
      left.axvline(0.0, color="0.85", linewidth=0.8, zorder=0)
    plots.save_figure(fig, path)


def theta_learning(path, steps_T, theta_T, checkpoints_C, gradients) -> None:
  """θ learned by a WGAN from θ = 1 (left); |∂ loss / ∂θ| at θ = 1 as the critic trains (right).

  Args:
    path: where to write the PNG.
    steps_T, theta_T: θ at generator iterations steps_T.
    checkpoints_C: critic (discriminator) steps after which each gradient was measured.
    gradients: {name: (C,) gradient magnitudes}, drawn on a log-log scale.
  """
  with plots.new_figure(figsize=(9.0, 3.2), layout="constrained") as fig:
    left, right = fig.subplots(1, 2)
    left.plot(np.asarray(steps_T), np.asarray(theta_T), color=plots.ESTIMATE_COLOR, linewidth=1.5)
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
    plots.save_figure(fig, path)
