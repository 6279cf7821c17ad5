"""Figures 4, 5 and 9: does the critic's estimate track sample quality on MNIST?

The runs of wgan_jax/configs/image_curves.py: WGAN and GAN with the DCGAN and the MLP generator
against the DCGAN critic (the architectures part's runs, reused from ``<workdir>/../architectures``
when they are the same and finished), and WGAN with an MLP generator and critic at a learning
rate ten times Algorithm 1's, which the paper reports to fail. At every checkpoint the generator's
samples are judged by the digit classifier of ``wgan_jax.metrics.images`` (the Fréchet distance
of its features to real digits, and the classes covered); the critic's estimate there is its
per-iteration value median-filtered with the figures' centred window of 101 iterations (for GAN:
the JS estimate ½L + log 2 and, for Figure 9, the generator's loss). The number of each claim is
Spearman's ρ between an estimate and the Fréchet distance over the checkpoints: both fall as
samples improve when the estimate tracks quality.
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np

from wgan_jax import checks
from wgan_jax import experiment
from wgan_jax import files
from wgan_jax import mnist_reproduction as repro
from wgan_jax import plots
from wgan_jax import series
from wgan_jax import steps as steps_lib
from wgan_jax import train
from wgan_jax import writers
from wgan_jax.configs import image_curves as part_config
from wgan_jax.metrics import images as image_metrics
from wgan_jax.paper import Claim, PartResult
from wgan_jax.paper import architectures

TITLE = "The estimate against sample quality on MNIST (Figures 4, 5 and 9)"
# Thresholds of the verdicts, fixed before the runs. An estimate tracks quality when its ρ with
# the Fréchet distance over the checkpoints is at least TRACKS (the issue's rule); below
# DOES_NOT_TRACK it does not (between the two, a GAN verdict is unclear). A curve is flat when
# the |ρ| of its values with the checkpoint's step is below FLAT: no trend either way.
TRACKS = 0.8
DOES_NOT_TRACK = 0.5
FLAT = 0.5
SHEETS = 4  # sample sheets marked on each run's curve


def tracks_verdict(rho: float) -> str:
  """A WGAN estimate's verdict: it tracks quality (ρ ≥ TRACKS)."""
  return "unclear" if math.isnan(rho) else "holds" if rho >= TRACKS else "does not hold"


def does_not_track_verdict(rho: float) -> str:
  """A GAN estimate's verdict: it does not track quality (ρ < DOES_NOT_TRACK)."""
  if math.isnan(rho):
    return "unclear"
  return "holds" if rho < DOES_NOT_TRACK else "does not hold" if rho >= TRACKS else "unclear"


def failed_verdict(rho_estimate_step: float, rho_frechet_step: float) -> str:
  """The failed run's verdict: the estimate stays flat (|ρ with the step| < FLAT) and quality
  does not improve (the Fréchet distance has no falling trend: ρ with the step > -FLAT); it does
  not hold when the estimate falls and quality improves."""
  if math.isnan(rho_estimate_step) or math.isnan(rho_frechet_step):
    return "unclear"
  if abs(rho_estimate_step) < FLAT and rho_frechet_step > -FLAT:
    return "holds"
  if rho_estimate_step <= -FLAT and rho_frechet_step <= -FLAT:
    return "does not hold"
  return "unclear"


def _finished_same_run(run_dir: str, config) -> bool:
  """Whether ``run_dir`` holds ``config``'s run (its config apart from the part's ``eval``),
  checkpointed at its last step."""
  if not os.path.exists(os.path.join(run_dir, "config.json")):
    return False
  theirs, ours = train.load_config(run_dir).to_dict(), config.to_dict()
  theirs.pop("eval", None)
  ours.pop("eval", None)
  if json.dumps(theirs, sort_keys=True) != json.dumps(ours, sort_keys=True):
    return False
  checkpoints = train.Checkpoints(os.path.join(run_dir, "checkpoints"), 1, create=False)
  try:
    return config.schedule.num_steps in checkpoints.steps()
  finally:
    checkpoints.close()


def run_dirs(runs: dict, workdir: str, reuse: str) -> dict[str, str]:
  """Where each run is: the ``reuse`` part's folder for a run it holds, finished; else here."""
  dirs = {}
  for name, config in runs.items():
    shared = os.path.join(os.path.dirname(os.path.abspath(workdir)), reuse, name)
    dirs[name] = (shared if reuse and os.path.isdir(shared) and _finished_same_run(shared, config)
                  else os.path.join(workdir, name))
  return dirs


def curve(run_dir: str, name: str) -> tuple[np.ndarray, np.ndarray]:
  """(steps_T, values_T) of the metric ``name`` in ``run_dir``'s log, one value per step (the
  last logged, as a resumed run logs some steps twice); nan where it is missing."""
  by_step = {row["step"]: row.get(name) for row in writers.read_metrics(run_dir)}
  steps_T = np.array(sorted(by_step), dtype=np.int64)
  values_T = np.array([np.nan if by_step[s] is None else by_step[s] for s in steps_T],
                      dtype=np.float64)
  return steps_T, values_T


def at_steps(steps_T, values_T, steps_E, window: int = series.MEDIAN_WINDOW) -> np.ndarray:
  """The running median (centred ``window``) of ``values_T`` at ``steps_E``; nan where a step
  was not logged. Non-finite values (a diverged critic) are left out of the median."""
  finite_T = np.isfinite(values_T)
  out_E = np.full(len(steps_E), np.nan)
  if not finite_T.any():
    return out_E
  smooth_F = series.running_median(values_T[finite_T], window)
  position = {int(s): i for i, s in enumerate(steps_T[finite_T])}
  for e, step in enumerate(steps_E):
    if int(step) in position:
      out_E[e] = smooth_F[position[int(step)]]
  return out_E


def run(workdir: str, quick: bool = False, config=None) -> PartResult:
  """Trains the runs not reused, judges every checkpoint, writes a figure per run, numbers.json
  and result.json; ``config`` replaces wgan_jax/configs/image_curves.py's (its ``quick`` variant
  when ``quick``)."""
  start = time.perf_counter()
  config = config or part_config.get_config("quick" if quick else "")
  checks.check(config)
  runs = experiment.sweep(config)
  os.makedirs(workdir, exist_ok=True)
  dirs = run_dirs(runs, workdir, config.eval.reuse)
  own = {name: c for name, c in runs.items() if dirs[name] == os.path.join(workdir, name)}
  repro.check_runs(own, workdir)
  diverged = repro.train_runs(own, workdir, judge_diverged=True)

  classifier = architectures.digit_classifier(workdir, config)
  reference = repro.real_reference(config.eval.real, config.run.seed)
  numbers, claims, figures = {}, [], []
  rows = ["| run | checkpoints | Fréchet (first → last) | classes (first → last) | estimate "
          "(first → last) | ρ(estimate, Fréchet) | ρ(generator loss, Fréchet) | ρ(estimate, "
          "step) | ρ(Fréchet, step) | reused |", "|" + "---|" * 10]
  for name, c in runs.items():
    judged = [(step, image_metrics.digit_metrics_or_nan(classifier, samples, reference))
              for step, samples in train.sample_checkpoints(dirs[name], config.eval.samples,
                                                            config.run.seed + 1000)]
    steps_E = np.array([step for step, _ in judged])
    frechet_E = np.array([m["frechet"] for _, m in judged], dtype=np.float64)
    classes_E = [int(m["classes_covered"]) for _, m in judged]
    steps_T, estimate_T = curve(dirs[name], "estimate")
    _, loss_T = curve(dirs[name], "generator_loss")
    estimate_E, loss_E = at_steps(steps_T, estimate_T, steps_E), at_steps(steps_T, loss_T, steps_E)
    method = c.objective.method
    n = {"dir": dirs[name], "steps": steps_E.tolist(), "frechet": frechet_E.tolist(),
         "classes": classes_E, "estimate": estimate_E.tolist(), "generator_loss": loss_E.tolist(),
         "rho_estimate_frechet": series.spearman(estimate_E, frechet_E),
         "rho_loss_frechet": series.spearman(loss_E, frechet_E),
         "rho_estimate_step": series.spearman(estimate_E, steps_E),
         "rho_frechet_step": series.spearman(frechet_E, steps_E), "diverged": diverged.get(name)}
    numbers[name] = n
    claims += _claims(name, method, n)
    rows.append(
        f"| {name} | {len(steps_E)} | {_span(frechet_E, '.1f')} | {_span(classes_E, 'd')} | "
        f"{_span(estimate_E, '.4f')} | {n['rho_estimate_frechet']:.3f} | "
        + (f"{n['rho_loss_frechet']:.3f}" if method == "gan" else "—")
        + f" | {n['rho_estimate_step']:.3f} | {n['rho_frechet_step']:.3f} | "
        f"{'yes' if dirs[name] != os.path.join(workdir, name) else 'no'} |")
    figure = f"curve_{name}.png"
    plots.image_learning_curve(
        os.path.join(workdir, figure), steps_T, estimate_T, steps_lib.ESTIMATE_NAMES[method],
        train.marked_sheets(dirs[name], steps_E, SHEETS), title=name,
        quality=("Fréchet distance (digit classifier)", steps_E, frechet_E))
    figures.append(figure)
    if method == "gan":  # Figure 9: the generator's loss
      figure = f"curve_{name}_generator_loss.png"
      plots.image_learning_curve(
          os.path.join(workdir, figure), steps_T, loss_T, "generator loss (-log D)",
          [], title=f"{name}: the generator's loss",
          quality=("Fréchet distance (digit classifier)", steps_E, frechet_E))
      figures.append(figure)
  files.save_text(os.path.join(workdir, "numbers.json"), json.dumps(
      {"config": config.to_dict(), "runs": numbers}, indent=2, default=float) + "\n")
  result = PartResult(title=TITLE, figures=figures, table_md="\n".join(rows) + "\n",
                      claims=claims, wall_time_s=time.perf_counter() - start,
                      how=_how(config, classifier.heldout_accuracy))
  result.save(workdir)
  return result


def _span(values, spec: str) -> str:
  values = list(values)
  if not values:
    return "n/a"
  fmt = lambda v: "n/a" if isinstance(v, float) and math.isnan(v) else format(v, spec)
  return f"{fmt(values[0])} → {fmt(values[-1])}"


def _claims(name: str, method: str, n: dict) -> list[Claim]:
  rho = n["rho_estimate_frechet"]
  if name == part_config.HIGH_LR:
    return [Claim(
        f"{name}: with a learning rate too high, training fails and the EM estimate stays flat "
        f"(Figure 4, right)",
        f"ρ(estimate, step) = {n['rho_estimate_step']:.3f}, ρ(Fréchet, step) = "
        f"{n['rho_frechet_step']:.3f} (holds if |ρ(estimate, step)| < {FLAT} and ρ(Fréchet, "
        f"step) > -{FLAT}; does not hold if both ≤ -{FLAT})",
        failed_verdict(n["rho_estimate_step"], n["rho_frechet_step"]))]
  if method == "wgan":
    return [Claim(
        f"{name}: the EM estimate falls as sample quality rises (Figure 4)",
        f"Spearman ρ between the estimate (running median, window {series.MEDIAN_WINDOW}) and "
        f"the Fréchet distance at {len(n['steps'])} checkpoints = {rho:.3f} (target ρ ≥ "
        f"{TRACKS})", tracks_verdict(rho))]
  rule = f"holds if ρ < {DOES_NOT_TRACK}, does not hold if ρ ≥ {TRACKS}"
  return [
      Claim(f"{name}: GAN's JS estimate does not track sample quality (Figure 5)",
            f"Spearman ρ between the JS estimate (running median) and the Fréchet distance at "
            f"{len(n['steps'])} checkpoints = {rho:.3f} ({rule})", does_not_track_verdict(rho)),
      Claim(f"{name}: GAN's generator loss does not track sample quality (Figure 9)",
            f"Spearman ρ between the generator's loss (running median) and the Fréchet distance"
            f" = {n['rho_loss_frechet']:.3f} ({rule})",
            does_not_track_verdict(n["rho_loss_frechet"]))]


def _how(config, heldout_accuracy: float) -> str:
  s = config.schedule
  return (
      f"Offline MNIST (5,000 digits), seed {config.run.seed}, {s.num_steps} generator iterations "
      f"per run, DCGAN features {config.generator.features}, MLPs {config.generator.depth} "
      f"hidden layers of {config.generator.hidden}; the architectures part's settings (and its "
      f"runs, where the table says reused). At each of the checkpoints (every "
      f"{config.run.checkpoint_every} iterations) {config.eval.samples} samples, all from the "
      f"same noise, judged by the digit classifier (held-out accuracy {heldout_accuracy:.3f}) "
      f"against {config.eval.real} random real digits: the Fréchet distance of its features and "
      f"the classes covered. The estimate at a checkpoint is the running median (centred window "
      f"{series.MEDIAN_WINDOW}) of the per-iteration estimate. Each ρ is Spearman's over the "
      f"checkpoints; the rules are in the numbers.")
