"""The adam part's figure: the EM estimate over the cosine of the critic's optimiser steps."""

from __future__ import annotations

import numpy as np

from wgan_jax import plots
from wgan_jax import series

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
  with plots.new_figure(figsize=(3.6 * len(runs) + 0.4, 5.2 + (0.3 if title else 0.0)),
               layout="constrained") as fig:
    axes = fig.subplots(2, len(runs), squeeze=False, sharex="col",
                        gridspec_kw={"height_ratios": (3, 2)})
    for c, run in enumerate(runs):
      top, bottom = axes[0, c], axes[1, c]
      steps_T = np.asarray(run["steps"], np.float64)
      estimate_T = np.asarray(run["estimate"], np.float64)
      finite_T = np.isfinite(estimate_T)
      if finite_T.any():
        top.plot(steps_T[finite_T], estimate_T[finite_T], color=plots.ESTIMATE_COLOR, linewidth=0.5,
                 alpha=0.4)
        top.plot(steps_T[finite_T],
                 series.running_median(estimate_T[finite_T], plots.median_window(int(finite_T.sum()))),
                 color=plots.ESTIMATE_COLOR, linewidth=1.5)
      top.set_title(run["name"], fontsize=10)
      top.set_ylabel(run.get("estimate_name") or "estimate", fontsize=9)
      if run.get("w1") is not None:
        # Its own axis: a clipped critic's estimate and W1 need not share a scale.
        w1_axis = top.twinx()
        w1_E = np.asarray(run["w1"], np.float64)
        finite_E = np.isfinite(w1_E)
        w1_axis.plot(np.asarray(run["w1_steps"], np.float64)[finite_E], w1_E[finite_E],
                     color=plots.W1_COLOR, marker="o", markersize=2, linewidth=0.8)
        w1_axis.set_ylabel("exact W1", fontsize=9, color=plots.W1_COLOR)
        w1_axis.tick_params(axis="y", labelsize=7, colors=plots.W1_COLOR)
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
    plots.save_figure(fig, path)
