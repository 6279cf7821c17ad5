"""The meaningful loss, quantified: does the critic's estimate track the exact W1 over training?

On ring8 and grid25, WGAN, WGAN-GP and GAN are trained exactly as in the gaussians reproduction
(wgan_jax/configs/meaningful_loss.py, ``gaussians.train_one``), one seed each. At regular
points of training the exact W1 (POT) between 2,000 generated and 2,000 real samples is measured;
the critic's estimate at those points is its per-iteration estimate median-filtered with the
figures' centred window of 101 iterations. The number is Spearman's rank correlation between the
two over training: the paper's claim is that the EM estimate tracks sample quality (our target:
ρ ≥ 0.9 for WGAN and WGAN-GP) and that GAN's JS estimate does not.
"""

from __future__ import annotations

import json
import os
import time

import jax
import numpy as np

from wgan_jax import checks
from wgan_jax import experiment
from wgan_jax import files
from wgan_jax import gaussians
from wgan_jax import plots
from wgan_jax import series
from wgan_jax import steps as steps_lib
from wgan_jax.data import toy
from wgan_jax.configs import meaningful_loss as part_config
from wgan_jax.paper import Claim, PartResult

# Verdict thresholds, fixed before the runs: the target for "tracks" (ρ ≥ 0.9), and a correlation
# below which an estimate is taken not to track W1 (between the two, the verdict is unclear).
TRACKS = 0.9
DOES_NOT_TRACK = 0.5


def tracking(estimate_T: np.ndarray, eval_steps_E: np.ndarray, w1_E: np.ndarray,
             window: int = series.MEDIAN_WINDOW) -> dict:
  """The median-filtered estimate at the evaluation steps, and Spearman's ρ against W1.

  ``estimate_T[t]`` is the estimate of generator iteration t + 1; step 0 (no critic trained
  yet) and non-finite values are left out of the correlation.
  """
  smooth_T = series.running_median(estimate_T, window)
  eval_steps_E = np.asarray(eval_steps_E)
  keep_E = eval_steps_E > 0
  steps_K = eval_steps_E[keep_E]
  smooth_K = smooth_T[steps_K - 1]
  w1_K = np.asarray(w1_E, dtype=np.float64)[keep_E]
  finite_K = np.isfinite(smooth_K) & np.isfinite(w1_K)
  return {"steps": steps_K.tolist(), "estimate": smooth_K.tolist(), "w1": w1_K.tolist(),
          "spearman": series.spearman(smooth_K, w1_K), "points": int(finite_K.sum())}


def verdict(method: str, rho: float) -> str:
  if not np.isfinite(rho):
    return "unclear"
  if method == "gan":  # the claim is that GAN's estimate does not track W1
    return "holds" if rho < DOES_NOT_TRACK else "does not hold" if rho >= TRACKS else "unclear"
  return "holds" if rho >= TRACKS else "does not hold"


def _claim(dataset: str, method: str, t: dict) -> Claim:
  if method == "gan":
    claim = f"{dataset}: GAN's JS estimate does not track the exact W1 over training"
    rule = f"holds if ρ < {DOES_NOT_TRACK}, does not hold if ρ ≥ {TRACKS}"
  else:
    claim = (f"{dataset}: the {method.upper()} critic's EM estimate tracks the exact W1 over "
             "training")
    rule = f"target ρ ≥ {TRACKS}"
  number = (f"Spearman ρ between the estimate (running median, window {series.MEDIAN_WINDOW}) and "
            f"W1 at {t['points']} points = {t['spearman']:.3f} ({rule})")
  return Claim(claim, number, verdict(method, t["spearman"]))


def run(workdir: str, quick: bool = False, config=None) -> PartResult:
  """Trains the six runs, writes meaningful_loss_<dataset>.png, numbers.json and result.json;
  ``config`` replaces wgan_jax/configs/meaningful_loss.py's (its ``quick`` variant when
  ``quick``)."""
  start = time.perf_counter()
  config = config or part_config.get_config("quick" if quick else "")
  checks.check(config)
  runs = experiment.sweep(config)
  os.makedirs(workdir, exist_ok=True)
  numbers, claims, figures = {}, [], []
  rows = ["| dataset | method | Spearman ρ | W1 (first → last point) | estimate (first → last) "
          "| wall time (s) |", "| --- | --- | --- | --- | --- | --- |"]
  for dataset_name in config.sweep.datasets.split(","):
    dataset = toy.get_dataset(dataset_name)
    real_Nx2 = np.asarray(dataset.sample(jax.random.key(2017), config.eval.curve_samples))
    curves = {}
    for method in config.sweep.runs.split(","):
      result = gaussians.train_one(runs[f"{dataset_name}/{method}"], dataset, real_Nx2,
                                   label=f"meaningful_loss {dataset_name}/{method}")
      estimate_T = result["estimate_SxT"][0]
      t = tracking(estimate_T, result["eval_steps"], result["w1_curve"])
      t["wall_time_s"] = result["wall_time_s"]
      numbers.setdefault(dataset_name, {})[method] = t
      claims.append(_claim(dataset_name, method, t))
      rows.append(f"| {dataset_name} | {method} | {t['spearman']:.3f} | {t['w1'][0]:.3f} → "
                  f"{t['w1'][-1]:.3f} | {t['estimate'][0]:.4f} → {t['estimate'][-1]:.4f} | "
                  f"{t['wall_time_s']:.0f} |")
      curves[f"{method} (ρ = {t['spearman']:.2f})"] = {
          "steps": np.arange(1, len(estimate_T) + 1), "estimate": estimate_T,
          "estimate_name": steps_lib.ESTIMATE_NAMES[method],
          "eval_steps": result["eval_steps"], "w1": result["w1_curve"]}
    figure = f"meaningful_loss_{dataset_name}.png"
    plots.learning_curves(os.path.join(workdir, figure), {dataset_name: curves})
    figures.append(figure)
  files.save_text(os.path.join(workdir, "numbers.json"), json.dumps(
      {"config": config.to_dict(), "results": numbers}, indent=2) + "\n")
  iters, curve = config.schedule.num_steps, config.eval.curve_samples
  result = PartResult(
      title="The meaningful loss: the critic's estimate against the exact W1 over training",
      figures=figures,
      table_md="\n".join(rows) + "\n",
      claims=claims,
      wall_time_s=time.perf_counter() - start,
      how=(f"The gaussians reproduction's networks and hyperparameters (wgan_jax/configs/"
           f"gaussians.py), {iters} generator iterations, seed 0. Every "
           f"{iters // config.eval.num_evals} iterations, the exact W1 (POT ot.emd2) between "
           f"{curve} generated and {curve} real samples, in the "
           f"data's coordinates; the estimate there is the running median (centred window "
           f"{series.MEDIAN_WINDOW}) of the per-iteration estimate, in the coordinates the "
           f"networks see (a rescaling does not change a rank correlation). Step 0, before any "
           f"critic update, is left out."),
  )
  result.save(workdir)
  return result
