"""WGAN-GP's case against weight clipping (Gulrajani et al. 2017, Section 3 and Figure 1).

Every critic here is trained against a fixed "generator": the real data plus N(0, σ² I) noise,
added to the same real batch as the official gan_toy.py does (so the gradient penalty's
interpolates lie between a real sample and its own noisy copy). Its step is
``clipping_critics.critic_update``: the loss, the penalty and the optimiser of
``steps.critic_step`` (through ``experiment.build``), with that generator in place of a
network's.

- (a) surfaces: a clipped and a penalised critic on ring8, grid25 and swissroll (vmapped over the
  sets, one initialisation for all), each trained to the optimum the claims assume: until it
  meets the rule of wgan_jax/paper/convergence.py (its estimate changed by less than 5% over the
  last half of its steps, checked every 500 steps) or reaches that rule's cap, 10,000 steps, and
  is then reported as not converged. On fresh samples: the estimate mean f(real) - mean f(fake),
  the exact W1 between the same two sample sets (POT), the critic's Lipschitz constant K
  estimated as its largest input-gradient norm on those samples and their interpolates, and
  estimate / (K·W1), which is 1 for a critic optimal among K-Lipschitz functions. The value
  surface over the region the samples occupy (``clipping_measures.sample_box``: the
  axis-aligned box of the real and the fake samples, with a margin), and how simple it is there:
  the fraction of its variance that a quadratic in (x, y) leaves unexplained
  (``clipping_measures.quadratic_unexplained``).
- (b) deep: a 12-layer ReLU critic without normalisation on swissroll, clipped at c = 0.1, 0.01,
  0.001 and penalised, for a fixed budget (the figure is about gradients during training, not at
  the optimum): at evenly spaced points of training, the norm of the gradient of the critic's
  loss w.r.t. each hidden layer's activations, the paper's measure
  (``clipping_measures.activation_gradient_norms``); their log10 averaged over the points, and
  the least-squares slope of that against the layer. The gradient w.r.t. each layer's weights is
  measured too, and drawn beside it: it cannot show the trend, since a weight gradient is the
  backpropagated signal above the layer times the activation below it, whose gains multiply to
  the same product at every depth. (The bias gradients are kept in numbers.json only.)
- (c) weights: the kernels of the clipped and the penalised swissroll critic of (a), and the
  fraction of them within 1% of the edge of their range.

This module holds the verdict rules, the claims, the table and ``run``; the critics and their
numbers are in clipping_critics.py, the measures of a critic in clipping_measures.py, the figures
in clipping_figures.py. Its config is wgan_jax/configs/clipping.py, which checks its own section.
"""

from __future__ import annotations

import math
import os
import time

from wgan_jax import checks
from wgan_jax.configs import clipping as part_config
from wgan_jax.paper import Claim, PartResult
from wgan_jax.paper import clipping_critics as critics
from wgan_jax.paper import clipping_figures as figures
from wgan_jax.paper import clipping_measures as measures
from wgan_jax.paper import convergence

TITLE = "WGAN-GP's case against weight clipping (Gulrajani et al., Section 3, Figure 1)"
SURFACES_FIGURE = "value_surfaces.png"
GRADIENTS_FIGURE = "gradient_norms.png"
WEIGHTS_FIGURE = "weights.png"

# Verdict rules, fixed before any run.
# (b) The trend of log10 ‖∂loss/∂h_l‖ with the hidden layer l (1 = nearest the input) is fitted by
# least squares over every hidden layer (all of one shape, batch x width, so their Frobenius
# norms compare). The fitted change over them, slope x (their number - 1), in decades:
CHANGE_DECADES = 1.0  # at least a factor 10 over the depth: exploding (< 0) or vanishing (> 0)
GEOMETRIC_R2 = 0.8  # and the line explains this much of the variance: the change is geometric
# Within CHANGE_DECADES either way the trend is flat (the paper: the penalty's stays within about
# one order of magnitude).
# (c) A weight is at the edge of its range by clipping_measures.EDGE: c for a clipped critic, the
# largest |w| of its layer for a penalised one.
PILE_UP = 0.5  # clipped weights pile up at ±c: at least half of them at the edge
SPREAD = 0.05  # penalised weights spread: at most 5% at the edge of their own range
# (a) Surfaces "less simple": on a dataset, the penalised critic's surface leaves at least this
# many times the clipped one's fraction of variance unexplained by a quadratic fit (over the
# samples' box, clipping_measures.BOX_MARGIN).
COMPLEXITY_RATIO = 2.0
# (a) "Closer to W1": |1 - estimate / (K·W1)| smaller for the penalised critic (no threshold).
# (a) Every claim on the surface critics is "unclear" unless each critic it reads converged
# (convergence.py's rule with its TOLERANCE, checked every clipping.check_every steps, at most
# clipping.max_steps).


# Verdicts -------------------------------------------------------------------------------------

def depth_trend(change: float, r2: float) -> str:
  """What a fitted ``log_trend`` says: explodes (toward the input), vanishes (toward the input),
  flat, or geometric-less (changes by a decade or more but not along a line)."""
  if not (math.isfinite(change)):
    return "not finite"
  if abs(change) < CHANGE_DECADES:
    return "flat"
  if not (math.isfinite(r2) and r2 >= GEOMETRIC_R2):
    return "not geometric"
  return "explodes" if change < 0 else "vanishes"


def _count_verdict(wins: int, n: int) -> str:
  return "holds" if wins == n else "does not hold" if wins == 0 else "unclear"


def _not_converged(m: dict, datasets) -> list[str]:
  """The surface critics on ``datasets`` that reached the cap without converging."""
  return [f"{'clipped' if name == 'surface_clip' else 'penalised'} on {d}"
          for name in ("surface_clip", "surface_penalty") for d in datasets
          if m["surfaces"][name][d]["converged_at"] is None]


def _resting_on(m: dict, datasets, verdict: str) -> tuple[str, str]:
  """(what to add to a claim's numbers, its verdict): "unclear" when a surface critic on
  ``datasets`` it reads did not converge, ``verdict`` otherwise."""
  missing = _not_converged(m, datasets)
  if not missing:
    return "", verdict
  return (f"; not converged within {m['max_steps']:,} steps: {', '.join(missing)}, so unclear",
          "unclear")


def _claims(m: dict) -> list[Claim]:
  deep = m["deep"]
  trends = {clip: (d["activation_trend"], depth_trend(d["activation_trend"]["change"],
                                                       d["activation_trend"]["r2"]))
            for clip, d in deep.items()}

  def said(clip):
    trend, verdict = trends[clip]
    return (f"{trend['change']:+.1f} decades over the hidden layers, R² {trend['r2']:.2f} "
            f"({verdict}; the estimate {deep[clip]['estimate']:.3g})")

  small = [c for c in deep if c != "None" and float(c) <= 0.01]
  small_trends = [trends[c][1] for c in small]
  explode = trends["0.1"][1]
  flat = trends["None"][1]
  clip, penalty = m["surfaces"]["surface_clip"], m["surfaces"]["surface_penalty"]
  datasets = critics.surface_datasets(m)
  closer = sum(abs(1 - penalty[d]["normalised_ratio"]) < abs(1 - clip[d]["normalised_ratio"])
               for d in datasets)
  richer = sum(penalty[d]["unexplained"] >= COMPLEXITY_RATIO * clip[d]["unexplained"]
               for d in datasets)
  swiss = "swissroll" if "swissroll" in datasets else datasets[-1]
  piled, spread = clip[swiss]["at_edge"], penalty[swiss]["at_edge"]
  pile_note, pile_verdict = _resting_on(
      m, [swiss], "holds" if piled >= PILE_UP and spread <= SPREAD else "does not hold")
  closer_note, closer_verdict = _resting_on(m, datasets, _count_verdict(closer, len(datasets)))
  richer_note, richer_verdict = _resting_on(m, datasets, _count_verdict(richer, len(datasets)))
  return [
      Claim("In a deep critic without BatchNorm, clipping at c = 0.1 makes the gradients "
            "explode geometrically toward the input",
            f"log10 ‖∂loss/∂h_l‖ (w.r.t. each hidden layer's activations) against the layer, "
            f"c = 0.1: {said('0.1')}; explodes if ≤ -{CHANGE_DECADES:g} with R² ≥ "
            f"{GEOMETRIC_R2}",
            "holds" if explode == "explodes"
            else "unclear" if explode in ("not geometric", "not finite") else "does not hold"),
      Claim("Clipping at c ≤ 0.01 makes them vanish geometrically toward the input",
            "; ".join(f"c = {c}: {said(c)}" for c in small)
            + f"; vanishes if ≥ +{CHANGE_DECADES:g} with R² ≥ {GEOMETRIC_R2}",
            "holds" if all(t == "vanishes" for t in small_trends)
            else "does not hold" if any(t in ("flat", "explodes") for t in small_trends)
            else "unclear"),
      Claim("With the gradient penalty they neither explode nor vanish",
            f"penalty: {said('None')}; flat if within ±{CHANGE_DECADES:g} decade",
            "holds" if flat == "flat" else "unclear" if flat == "not finite"
            else "does not hold"),
      Claim("Clipped weights pile up at ±c; penalised ones spread",
            f"{swiss}, kernels within {measures.EDGE:.0%} of the edge: clipped (c = "
            f"{part_config.SURFACE_CLIP}) {piled:.1%} (pile-up if ≥ {PILE_UP:.0%}; "
            f"{clip[swiss]['at_edge_after_one_step']:.1%} after the first step), penalised "
            f"(edge: each layer's largest |w|) {spread:.1%} (spread if ≤ {SPREAD:.0%})"
            + pile_note, pile_verdict),
      Claim("The penalised critic comes closer to the optimum: its estimate is closer to "
            "W1 (K·W1 for a K-Lipschitz critic)",
            "estimate / (K·W1), clipped vs penalised: " + ", ".join(
                f"{d} {clip[d]['normalised_ratio']:.3f} vs {penalty[d]['normalised_ratio']:.3f}"
                for d in datasets) + f"; penalised closer to 1 on {closer} of {len(datasets)}"
            + closer_note, closer_verdict),
      Claim("Clipped critics learn simpler functions than penalised ones",
            "variance a quadratic fit leaves unexplained over the samples' box, clipped vs "
            "penalised: " + ", ".join(
                f"{d} {clip[d]['unexplained']:.3f} vs {penalty[d]['unexplained']:.3f}"
                for d in datasets) + f"; penalised ≥ {COMPLEXITY_RATIO:g}x on {richer} of "
            f"{len(datasets)}" + richer_note, richer_verdict),
  ]


# The table ------------------------------------------------------------------------------------

def _converged(s: dict, max_steps: int) -> str:
  return (f"{s['converged_at']:,}" if s["converged_at"] is not None
          else f"not converged ({max_steps:,})")


def _box(box) -> str:
  (x0, x1), (y0, y1) = box
  return f"[{x0:.1f}, {x1:.1f}] × [{y0:.1f}, {y1:.1f}]"


def _table(m: dict) -> str:
  rows = ["| set | critic | converged at step | estimate | exact W1 | estimate / W1 | "
          "K (max ‖∇f‖) | estimate / (K·W1) | unexplained by a quadratic (samples' box) | "
          "samples' box | estimate change, last half |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for d in critics.surface_datasets(m):
    for name, label in (("surface_clip", f"clip {part_config.SURFACE_CLIP}"),
                        ("surface_penalty", "penalty")):
      s = m["surfaces"][name][d]
      rows.append(f"| {d} | {label} | {_converged(s, m['max_steps'])} | {s['estimate']:.4g} | "
                  f"{s['w1']:.4f} | {s['ratio']:.4f} | {s['lipschitz']:.4g} | "
                  f"{s['normalised_ratio']:.3f} | {s['unexplained']:.3f} | "
                  f"{_box(s['box'])} | {s['change_last_half']:+.1%} |")
  rows += ["", "| deep critic | ‖∂loss/∂h_l‖, first hidden layer | last hidden layer | slope "
           "(decades / layer) | change over the hidden layers | R² | trend | ‖∂loss/∂W_l‖ "
           "(weights), change over the hidden-to-hidden layers | estimate | weights at ±c |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for clip, d in m["deep"].items():
    a, k = d["activation_trend"], d["kernel_trend"]
    at_edge = "" if clip == "None" else f"{d['at_edge']:.1%}"
    rows.append(f"| {critics.deep_label(clip)} | {d['activation_norms'][0]:.2e} | "
                f"{d['activation_norms'][-1]:.2e} | {a['slope']:+.3f} | {a['change']:+.2f} | "
                f"{a['r2']:.3f} | {depth_trend(a['change'], a['r2'])} | {k['change']:+.2f} | "
                f"{d['estimate']:.4g} | {at_edge} |")
  rows += ["", "| set | clipped: weights at ±c | after its first step | penalised: at the edge "
           "of each layer's range | clipped std / c | penalised std / largest |w| |",
           "| --- | --- | --- | --- | --- | --- |"]
  for d in critics.surface_datasets(m):
    c, p = m["surfaces"]["surface_clip"][d], m["surfaces"]["surface_penalty"][d]
    rows.append(f"| {d} | {c['at_edge']:.1%} | {c['at_edge_after_one_step']:.1%} | "
                f"{p['at_edge']:.1%} | {c['weight_std_over_edge']:.3f} | "
                f"{p['weight_std_over_edge']:.3f} |")
  return "\n".join(rows) + "\n"


# The part -------------------------------------------------------------------------------------

def _public(tree):
  """``tree`` without its keys starting with _ (the figures' arrays)."""
  if isinstance(tree, dict):
    return {k: _public(v) for k, v in tree.items() if not k.startswith("_")}
  return tree


def _how(config) -> str:
  cl, v = config.clipping, config.variants
  clip, penalty = v.surface_clip, v.surface_penalty
  deep = v[part_config.deep_variant(None)]
  return (f"Every critic trained against a fixed generator, real + N(0, {cl.noise_std:g}² I) "
          f"on the same real batch, one initialisation (seed {cl.seed}) for all sets. Surfaces: "
          f"{clip.critic.depth} hidden ReLU layers of {config.critic.hidden}, batch "
          f"{clip.schedule.batch_size}, on {cl.datasets.replace(',', ', ')} (ring8 and grid25 "
          f"scaled down as in gan_toy.py), each trained until its estimate (on the evaluation "
          f"samples below) changed by less than {convergence.TOLERANCE:.0%} over the last half "
          f"of its steps, checked every {cl.check_every:,} steps, at most {cl.max_steps:,}; "
          f"clipping: RMSProp {clip.critic_optimizer.learning_rate}, c = "
          f"{clip.critic_optimizer.clip}; penalty: λ {config.objective.gp_weight}, Adam "
          f"{penalty.critic_optimizer.learning_rate} β ({penalty.critic_optimizer.b1}, "
          f"{penalty.critic_optimizer.b2}). Estimate, K and exact W1 (POT) on "
          f"{cl.eval_samples} fresh real samples and their noisy copies; surfaces on a "
          f"{cl.grid}² grid over the box of those samples, widened by "
          f"{measures.BOX_MARGIN:.0%} of its side on each side. Deep critics: "
          f"{deep.critic.depth} hidden ReLU layers of "
          f"{config.critic.hidden} without normalisation on swissroll, {cl.deep_steps} steps "
          f"of batch {deep.schedule.batch_size}, the same optimisers; the gradient of the "
          f"critic loss w.r.t. each hidden layer's activations (after its ReLU; the real and "
          f"fake samples' together) and w.r.t. each layer's weights, on {cl.gradient_batch} "
          f"fresh samples after each of {cl.deep_checkpoints} equal parts of training, their "
          f"log10 averaged.")


def _changes(config) -> list[str]:
  cl = config.clipping
  return [
      "The paper's measure: the deep critics' gradient norms are taken w.r.t. each hidden "
      "layer's activations, ‖∂L/∂h_l‖, as Figure 1b plots them, not w.r.t. each layer's "
      "weights: a weight gradient is the signal backpropagated to the layer times the "
      "activation entering it, whose gains multiply to the same product at every depth, so it "
      "is flat by construction. The trend rules are unchanged; the weight gradients stay as "
      "the figure's second panel.",
      f"Trained to convergence: each surface critic trains until its estimate changed by less "
      f"than {convergence.TOLERANCE:.0%} over the last half of its steps (checked every "
      f"{cl.check_every:,} steps, at most {cl.max_steps:,}), not for a fixed 1,000 steps, "
      f"after which the estimates still rose by about a third over the last half; the paper "
      f"trains these critics to optimality. A critic that reaches the cap is reported as not "
      f"converged, and every claim that reads it is unclear.",
      f"The simpler-functions measure is taken over the region the samples occupy (the box of "
      f"the real and the fake samples, widened by {measures.BOX_MARGIN:.0%} on each side), not "
      f"over the fixed square [-3, 3]²; each set's box is in the table.",
  ]


def run(workdir: str, quick: bool = False, config=None) -> PartResult:
  """Measures, draws value_surfaces.png, gradient_norms.png and weights.png, and writes
  result.json and numbers.json; ``config`` replaces wgan_jax/configs/clipping.py's (its
  ``quick`` variant when ``quick``)."""
  start = time.perf_counter()
  config = config or part_config.get_config("quick" if quick else "")
  checks.check(config, part_config.check)
  m = critics.measure(config)
  os.makedirs(workdir, exist_ok=True)
  figures.draw_surfaces(os.path.join(workdir, SURFACES_FIGURE), m)
  figures.draw_gradients(os.path.join(workdir, GRADIENTS_FIGURE), m)
  figures.draw_weights(os.path.join(workdir, WEIGHTS_FIGURE), m)
  result = PartResult(title=TITLE, figures=[SURFACES_FIGURE, GRADIENTS_FIGURE, WEIGHTS_FIGURE],
                      table_md=_table(m), claims=_claims(m),
                      wall_time_s=time.perf_counter() - start, how=_how(config),
                      changes=_changes(config))
  result.save(workdir, config, _public(m))
  return result
