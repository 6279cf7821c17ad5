"""The figure of the two_gaussians part (wgan_jax/paper/two_gaussians.py): the paper's Figure 3
and the gradients that reach the generator (``two_gaussians``), written with
``plots.save_figure``.
"""

from __future__ import annotations

import numpy as np

from wgan_jax import plots

DENSITY_COLORS = {"real": "tab:blue", "fake": "tab:orange"}
FUNCTION_STYLES = ({"color": plots.JS_COLOR, "linewidth": 1.5},
                   {"color": plots.JS_COLOR, "linewidth": 0.9, "linestyle": ":"},
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
  with plots.new_figure(figsize=(10.0, 3.6), layout="constrained") as fig:
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
    plots.save_figure(fig, path)
