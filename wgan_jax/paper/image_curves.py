"""Figures 4, 5 and 9: does the critic's estimate track sample quality on MNIST?

The runs of wgan_jax/configs/image_curves.py: WGAN and GAN with the DCGAN and the MLP generator
against the DCGAN critic (the architectures part's runs, reused from ``<workdir>/../architectures``
when they are the same and finished), and WGAN with an MLP generator and critic at a learning
rate ten times Algorithm 1's, which the paper reports to fail. At every checkpoint the generator's
samples are judged by the digit classifier of ``wgan_jax.metrics.digits`` (the Fréchet distance
of its features to real digits, and the classes covered); the critic's estimate there is its
per-iteration value median-filtered with the figures' centred window of 101 iterations (for GAN:
the JS estimate ½L + log 2 and, for Figure 9, the generator's loss).

Every claim is "when X, then Y", and X is decided first, from the Fréchet distances alone: a claim
whose run does not show X is "premise not met", whatever its own number. The tracking claims
(Figure 4's WGAN runs, Figures 5 and 9's GAN runs) have the premise "samples improve" (the last
checkpoint's Fréchet distance at most IMPROVE_RATIO times the first's) and as number Spearman's ρ
between an estimate and the Fréchet distance over the checkpoints (both fall as samples improve
when the estimate tracks quality). The high learning rate claim has the premise "training fails"
(the contrary) and asks that the estimate stay flat: the range of its median-filtered values over
the last LATE_FRACTION of training at most FLAT_RATIO times the range of the DCGAN WGAN run's
median-filtered estimate over the same steps.
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np

from wgan_jax import checkpoints
from wgan_jax import checks
from wgan_jax import experiment
from wgan_jax import mnist_reproduction as repro
from wgan_jax import plots
from wgan_jax import series
from wgan_jax import steps as steps_lib
from wgan_jax import writers
from wgan_jax.configs import image_curves as part_config
from wgan_jax.metrics import digits
from wgan_jax.paper import Claim, PartResult, fmt
from wgan_jax.paper import architectures

TITLE = "The estimate against sample quality on MNIST (Figures 4, 5 and 9)"
PREMISE_NOT_MET = "premise not met"
# The rules of the verdicts, fixed before the runs.
# Premises, from the Fréchet distances at the first and the last checkpoint: samples improve when
# the last is at most IMPROVE_RATIO times the first; training fails otherwise.
IMPROVE_RATIO = 0.8
# An estimate tracks quality when its ρ with the Fréchet distance over the checkpoints is at least
# TRACKS; below DOES_NOT_TRACK it does not (between the two, a GAN verdict is unclear).
TRACKS = 0.8
DOES_NOT_TRACK = 0.5
# Flat: over the last LATE_FRACTION of training, the range of the median-filtered estimate is at
# most FLAT_RATIO times that of the FLAT_REFERENCE run's (Figure 4, left) median-filtered
# estimate over the same steps.
LATE_FRACTION = 0.8
FLAT_RATIO = 0.1
FLAT_REFERENCE = "wgan_dcgan"
SHEETS = 4  # sample sheets marked on each run's curve
# What changed in the protocol and why, a line each under the part in the report.
CHANGES = [
    "a fourth verdict, premise not met: each claim is \"when X, then Y\", and X is decided from "
    "the Fréchet distances before the claim's own number is looked at; tracking claims had been "
    "judged on runs whose samples never improved",
    f"premise of every tracking claim (Figure 4's WGAN runs, Figures 5 and 9's GAN runs), samples "
    f"improve: the last checkpoint's Fréchet distance at most {IMPROVE_RATIO} × the first's",
    f"premise of the high learning rate claim, training fails: the last checkpoint's Fréchet "
    f"distance more than {IMPROVE_RATIO} × the first's (was ρ(Fréchet, step) > -0.5)",
    f"flat: the range of the median-filtered estimate over the last {LATE_FRACTION:.0%} of "
    f"training at most {FLAT_RATIO:.0%} of the {FLAT_REFERENCE} run's over the same steps (was "
    f"|ρ(estimate, step)| < 0.5, a rank correlation that says nothing of how far the estimate "
    f"moves)",
    "the WGAN runs (the architectures part's, and the high learning rate run) have the official "
    "critic schedule and every run 2,000 generator iterations, a checkpoint every 200 (was off, "
    "800, every 80); the MLP generator and critic are initialised as PyTorch's Linear default, "
    "as the official code leaves them (was Flax's lecun normal)",
]


def _worst(frechet: float) -> float:
  # A checkpoint whose samples the classifier cannot judge (not finite) is as bad as can be.
  return frechet if math.isfinite(frechet) else math.inf


def samples_improve(frechet_E) -> bool:
  """The tracking claims' premise: the last checkpoint's Fréchet distance is at most
  IMPROVE_RATIO times the first's (a non-finite one counts as infinitely far)."""
  if len(frechet_E) == 0:
    return False
  first, last = _worst(float(frechet_E[0])), _worst(float(frechet_E[-1]))
  return math.isfinite(last) and last <= IMPROVE_RATIO * first


def training_fails(frechet_E) -> bool:
  """The high learning rate claim's premise: the samples do not improve."""
  return not samples_improve(frechet_E)


def tracks_verdict(improve: bool, rho: float) -> str:
  """A WGAN estimate's verdict: it tracks quality (ρ ≥ TRACKS), given that the samples improve;
  ``rho`` is not looked at when they do not."""
  if not improve:
    return PREMISE_NOT_MET
  return "unclear" if math.isnan(rho) else "holds" if rho >= TRACKS else "does not hold"


def does_not_track_verdict(improve: bool, rho: float) -> str:
  """A GAN estimate's verdict: it does not track quality (ρ < DOES_NOT_TRACK), given that the
  samples improve; ``rho`` is not looked at when they do not."""
  if not improve:
    return PREMISE_NOT_MET
  if math.isnan(rho):
    return "unclear"
  return "holds" if rho < DOES_NOT_TRACK else "does not hold" if rho >= TRACKS else "unclear"


def flat_verdict(fails: bool, late_range: float, reference_late_range: float) -> str:
  """The high learning rate claim's verdict: the estimate stays flat (``late_range`` at most
  FLAT_RATIO times ``reference_late_range``), given that training fails; the ranges are not
  looked at when it does not."""
  if not fails:
    return PREMISE_NOT_MET
  if math.isnan(late_range) or math.isnan(reference_late_range):
    return "unclear"
  return "holds" if late_range <= FLAT_RATIO * reference_late_range else "does not hold"


def _finished_same_run(run_dir: str, config) -> bool:
  """Whether ``run_dir`` holds ``config``'s run (its config apart from the part's ``eval``),
  checkpointed at its last step."""
  if not os.path.exists(os.path.join(run_dir, "config.json")):
    return False
  theirs, ours = checkpoints.load_config(run_dir).to_dict(), config.to_dict()
  theirs.pop("eval", None)
  ours.pop("eval", None)
  if json.dumps(theirs, sort_keys=True) != json.dumps(ours, sort_keys=True):
    return False
  saved = checkpoints.Checkpoints(os.path.join(run_dir, "checkpoints"), 1, create=False)
  try:
    return config.schedule.num_steps in saved.steps()
  finally:
    saved.close()


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


def _smoothed(steps_T, values_T, window: int) -> tuple[np.ndarray, np.ndarray]:
  """(steps_F, median_F): the running median (centred ``window``) of the finite values of
  ``values_T`` (a diverged critic's are left out) and their steps."""
  finite_T = np.isfinite(values_T)
  if not finite_T.any():
    return np.zeros(0, dtype=np.int64), np.zeros(0)
  return np.asarray(steps_T)[finite_T], series.running_median(values_T[finite_T], window)


def at_steps(steps_T, values_T, steps_E, window: int = series.MEDIAN_WINDOW) -> np.ndarray:
  """The running median (centred ``window``) of ``values_T`` at ``steps_E``; nan where a step
  was not logged. Non-finite values (a diverged critic) are left out of the median."""
  steps_F, median_F = _smoothed(steps_T, values_T, window)
  position = {int(s): i for i, s in enumerate(steps_F)}
  return np.array([median_F[position[int(step)]] if int(step) in position else np.nan
                   for step in steps_E], dtype=np.float64)


def late_range(steps_T, values_T, num_steps: int, window: int = series.MEDIAN_WINDOW) -> float:
  """max - min of the running median of ``values_T`` (as ``at_steps``) over the last
  LATE_FRACTION of ``num_steps`` training steps (steps > (1 - LATE_FRACTION) num_steps); nan
  when no finite value is logged there."""
  steps_F, median_F = _smoothed(steps_T, values_T, window)
  late_F = steps_F > num_steps - LATE_FRACTION * num_steps
  if not late_F.any():
    return math.nan
  return float(median_F[late_F].max() - median_F[late_F].min())


def run(workdir: str, quick: bool = False, config=None) -> PartResult:
  """Trains the runs not reused, judges every checkpoint, writes a figure per run, numbers.json
  and result.json; ``config`` replaces wgan_jax/configs/image_curves.py's (its ``quick`` variant
  when ``quick``)."""
  start = time.perf_counter()
  config = config or part_config.get_config("quick" if quick else "")
  checks.check(config, part_config.check)
  runs = experiment.sweep(config)
  os.makedirs(workdir, exist_ok=True)
  dirs = run_dirs(runs, workdir, config.eval.reuse)
  own = {name: c for name, c in runs.items() if dirs[name] == os.path.join(workdir, name)}
  repro.check_runs(own, workdir)
  diverged = repro.train_runs(own, workdir, judge_diverged=True)

  classifier = architectures.digit_classifier(workdir, config)
  reference = repro.real_reference(config.eval.real, config.run.seed)
  numbers, figures = {}, []
  for name, c in runs.items():
    judged = [(step, digits.digit_metrics_or_nan(classifier, samples, reference))
              for step, samples in checkpoints.sample_checkpoints(dirs[name], config.eval.samples,
                                                                  config.run.seed + 1000)]
    steps_E = np.array([step for step, _ in judged])
    frechet_E = np.array([m["frechet"] for _, m in judged], dtype=np.float64)
    classes_E = [int(m["classes_covered"]) for _, m in judged]
    steps_T, estimate_T = curve(dirs[name], "estimate")
    _, loss_T = curve(dirs[name], "generator_loss")
    estimate_E, loss_E = at_steps(steps_T, estimate_T, steps_E), at_steps(steps_T, loss_T, steps_E)
    method = c.objective.method
    numbers[name] = {
        "dir": dirs[name], "method": method, "steps": steps_E.tolist(),
        "frechet": frechet_E.tolist(), "classes": classes_E, "estimate": estimate_E.tolist(),
        "generator_loss": loss_E.tolist(), "samples_improve": samples_improve(frechet_E),
        "rho_estimate_frechet": series.spearman(estimate_E, frechet_E),
        "rho_loss_frechet": series.spearman(loss_E, frechet_E),
        "late_range": late_range(steps_T, estimate_T, c.schedule.num_steps),
        "diverged": diverged.get(name)}
    figure = f"curve_{name}.png"
    plots.image_learning_curve(
        os.path.join(workdir, figure), steps_T, estimate_T, steps_lib.ESTIMATE_NAMES[method],
        writers.marked_sheets(dirs[name], steps_E, SHEETS), title=name,
        quality=("Fréchet distance (digit classifier)", steps_E, frechet_E))
    figures.append(figure)
    if method == "gan":  # Figure 9: the generator's loss
      figure = f"curve_{name}_generator_loss.png"
      plots.image_learning_curve(
          os.path.join(workdir, figure), steps_T, loss_T, "generator loss (-log D)",
          [], title=f"{name}: the generator's loss",
          quality=("Fréchet distance (digit classifier)", steps_E, frechet_E))
      figures.append(figure)
  reference_range = numbers.get(FLAT_REFERENCE, {}).get("late_range", math.nan)
  claims = [claim for name, n in numbers.items() for claim in _claims(name, n, reference_range)]
  rows = ["| run | checkpoints | Fréchet (first → last) | last / first | samples improve | "
          "classes (first → last) | estimate (first → last) | estimate range, last "
          f"{LATE_FRACTION:.0%} | ρ(estimate, Fréchet) | ρ(generator loss, Fréchet) | reused |",
          "|" + "---|" * 11]
  rows += [
      f"| {name} | {len(n['steps'])} | {_span(n['frechet'], '.1f')} | "
      f"{fmt(_last_over_first(n['frechet']), '.2f')} | {'yes' if n['samples_improve'] else 'no'}"
      f" | {_span(n['classes'], 'd')} | {_span(n['estimate'], '.4f')} | "
      f"{fmt(n['late_range'], '.4f')} | {fmt(n['rho_estimate_frechet'], '.3f')} | "
      + (fmt(n["rho_loss_frechet"], ".3f") if n["method"] == "gan" else "—")
      + f" | {'yes' if n['dir'] != os.path.join(workdir, name) else 'no'} |"
      for name, n in numbers.items()]
  result = PartResult(title=TITLE, figures=figures, table_md="\n".join(rows) + "\n",
                      claims=claims, wall_time_s=time.perf_counter() - start,
                      how=_how(config, runs, classifier.heldout_accuracy), changes=CHANGES)
  result.save(workdir, config, {
      "runs": numbers, "flat_reference": {"run": FLAT_REFERENCE, "late_range": reference_range}})
  return result


def _span(values, spec: str) -> str:
  values = list(values)
  if not values:
    return "n/a"
  fmt = lambda v: "n/a" if isinstance(v, float) and math.isnan(v) else format(v, spec)
  return f"{fmt(values[0])} → {fmt(values[-1])}"


def _last_over_first(frechet_E) -> float:
  if len(frechet_E) == 0:
    return math.nan
  with np.errstate(divide="ignore", invalid="ignore"):
    return float(np.float64(frechet_E[-1]) / np.float64(frechet_E[0]))


def _premise(name: str, frechet_E, met: bool) -> str:
  return (f"premise, {name}: Fréchet distance {_span(frechet_E, '.1f')} (last / first "
          f"{fmt(_last_over_first(frechet_E), '.2f')}; samples improve when ≤ {IMPROVE_RATIO}),"
          f" {'met' if met else 'not met'}")


def _claims(name: str, n: dict, reference_range: float) -> list[Claim]:
  """The run's claims, each premise decided before its number is consulted."""
  frechet_E = n["frechet"]
  if name == part_config.HIGH_LR:
    fails = training_fails(frechet_E)
    verdict = flat_verdict(fails, n["late_range"], reference_range)
    return [Claim(
        f"{name}: when a learning rate too high makes training fail, the EM estimate stays flat "
        f"(Figure 4, right)",
        f"{_premise('training fails', frechet_E, fails)}; range of the estimate (running "
        f"median, window {series.MEDIAN_WINDOW}) over the last {LATE_FRACTION:.0%} of training "
        f"= {fmt(n['late_range'], '.4f')}, the {FLAT_REFERENCE} run's over the same steps = "
        f"{fmt(reference_range, '.4f')} (flat, so holds, if at most {FLAT_RATIO} × that; does "
        f"not hold above)", verdict)]
  improve = samples_improve(frechet_E)
  premise = _premise("samples improve", frechet_E, improve)
  rho = n["rho_estimate_frechet"]
  if n["method"] == "wgan":
    return [Claim(
        f"{name}: as samples improve, the EM estimate falls with the Fréchet distance (Figure 4)",
        f"{premise}; Spearman ρ between the estimate (running median, window "
        f"{series.MEDIAN_WINDOW}) and the Fréchet distance at {len(n['steps'])} checkpoints = "
        f"{fmt(rho, '.3f')} (holds if ρ ≥ {TRACKS})", tracks_verdict(improve, rho))]
  rule = f"holds if ρ < {DOES_NOT_TRACK}, does not hold if ρ ≥ {TRACKS}"
  return [
      Claim(f"{name}: as samples improve, GAN's JS estimate does not track their quality "
            f"(Figure 5)",
            f"{premise}; Spearman ρ between the JS estimate (running median) and the Fréchet "
            f"distance at {len(n['steps'])} checkpoints = {fmt(rho, '.3f')} ({rule})",
            does_not_track_verdict(improve, rho)),
      Claim(f"{name}: as samples improve, GAN's generator loss does not track their quality "
            f"(Figure 9)",
            f"{premise}; Spearman ρ between the generator's loss (running median) and the "
            f"Fréchet distance = {fmt(n['rho_loss_frechet'], '.3f')} ({rule})",
            does_not_track_verdict(improve, n["rho_loss_frechet"]))]


def _how(config, runs: dict, heldout_accuracy: float) -> str:
  s = config.schedule
  shared = {name: run for name, run in runs.items() if name != part_config.HIGH_LR}
  high = runs.get(part_config.HIGH_LR)
  high_text = "" if high is None else (
      f"The high learning rate run: MLP generator and critic, WGAN with RMSProp "
      f"{high.generator_optimizer.learning_rate:g} (generator) and "
      f"{high.critic_optimizer.learning_rate:g} (critic, clipped at "
      f"{high.critic_optimizer.clip}), {high.schedule.n_critic} critic iterations and the "
      f"official critic schedule {'on' if high.schedule.official_schedule else 'off'}. ")
  return (
      f"Offline MNIST (5,000 digits), seed {config.run.seed}, {s.num_steps} generator iterations "
      f"per run, DCGAN features {config.generator.features}, MLPs {config.generator.depth} "
      f"hidden layers of {config.generator.hidden} initialised as PyTorch's Linear default; the "
      f"architectures part's settings (and its runs, where the table says reused): WGAN with "
      f"the official critic schedule {architectures.official_schedule(shared, 'wgan')}, GAN "
      f"with it {architectures.official_schedule(shared, 'gan')}. {high_text}"
      f"At each of the checkpoints (every {config.run.checkpoint_every} iterations) "
      f"{config.eval.samples} samples, all from the same noise, judged by the digit classifier "
      f"(held-out accuracy {heldout_accuracy:.3f}) against {config.eval.real} random real "
      f"digits: the Fréchet distance of its features and the classes covered. The estimate at a "
      f"checkpoint is the running median (centred window {series.MEDIAN_WINDOW}) of the "
      f"per-iteration estimate. Each claim's premise is decided first, from the Fréchet "
      f"distances alone: samples improve when the last checkpoint's is at most {IMPROVE_RATIO} "
      f"× the first's (the premise of every tracking claim), training fails otherwise (the "
      f"premise of the high learning rate claim); a claim whose premise the run does not show "
      f"is \"premise not met\", and its number is reported but not judged. Each ρ is Spearman's "
      f"over the checkpoints. Flat: the range (max - min) of the running-median estimate over "
      f"the last {LATE_FRACTION:.0%} of training (steps after {1 - LATE_FRACTION:.0%} of them) "
      f"is at most {FLAT_RATIO} × the range of the {FLAT_REFERENCE} run's running-median "
      f"estimate over the same steps. The rules are in the numbers.")
