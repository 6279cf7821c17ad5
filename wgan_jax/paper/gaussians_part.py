"""Figure 2's claim as a part: WGAN does not collapse modes, GAN does.

Runs the gaussians reproduction (``gaussians.run`` with wgan_jax/configs/gaussians.py's ``paper``
variant: what ``make reproduce-gaussians`` runs, with 3 seeds instead of 10) in the part's
workdir, or reuses its ``summary.json`` there when it was made with the same settings, and draws
the verdicts from the mode counts of every seed.
"""

from __future__ import annotations

import json
import os
import time

from wgan_jax import checks
from wgan_jax import gaussians
from wgan_jax.configs import gaussians as gaussians_config
from wgan_jax.data import toy
from wgan_jax.paper import Claim, PartResult

# Fields that change how a run executes, not its results.
_EXECUTION_ONLY = (("run", "jobs"),)


def _same_settings(summary: dict, config) -> bool:
  """Whether ``summary`` was made with ``config``'s settings."""
  def settings(fields: dict) -> dict:
    fields = json.loads(json.dumps(fields))  # through JSON, so that tuples and lists compare equal
    for section, name in _EXECUTION_ONLY:
      fields.get(section, {}).pop(name, None)
    return fields

  return "config" in summary and settings(summary["config"]) == settings(config.to_dict())


# (method, its name in a claim, the claim, whether the claim holds given (modes_min, modes)).
_MODE_CLAIMS = (
    ("wgan", "WGAN", "WGAN does not collapse: it covers every mode", lambda low, n: low == n),
    ("gan", "GAN", "GAN collapses: it drops modes", lambda low, n: low < n),
)


def claims(summary: dict) -> list[Claim]:
  """Per dataset: WGAN keeps every mode in every seed; GAN drops one in at least one seed."""
  out = []
  for dataset, rows in summary["results"].items():
    modes = len(toy.get_dataset(dataset).centers)
    seeds = len(next(iter(rows.values()))["per_seed"])
    for method, name, claim, holds in _MODE_CLAIMS:
      if method not in rows:
        continue
      per_seed = ", ".join(str(r["modes"]) for r in rows[method]["per_seed"])
      # Figure 2 is the ring of 8; the 5 x 5 grid is the WGAN-GP paper's toy set.
      label = dataset if dataset == "ring8" else f"{dataset} (our extension of Figure 2)"
      out.append(Claim(
          f"{label}: {claim}",
          f"{name} modes per seed: {per_seed} of {modes} ({seeds} seed{'s' if seeds != 1 else ''})",
          "holds" if holds(rows[method]["modes_min"], modes) else "does not hold"))
  return out


def table(summary: dict) -> str:
  rows = ["| dataset | method | modes (mean / min) | high quality % (mean / min) "
          "| reverse KL (mean) | exact W1 |", "| --- | --- | --- | --- | --- | --- |"]
  for dataset, methods in summary["results"].items():
    for method, r in methods.items():
      rows.append(f"| {dataset} | {method} | {r['modes_mean']:.2f} / {r['modes_min']} | "
                  f"{r['high_quality_pct_mean']:.1f} / {r['high_quality_pct_min']:.1f} | "
                  f"{r['reverse_kl_mean']:.4f} | {r['w1_mean']:.4f} |")
  return "\n".join(rows) + "\n"


def run(workdir: str, quick: bool = False, config=None) -> PartResult:
  """The gaussians reproduction in ``workdir`` (reused when its summary.json has the same
  settings) and its verdicts; ``config`` replaces wgan_jax/configs/gaussians.py's."""
  start = time.perf_counter()
  config = config or gaussians_config.get_config("quick" if quick else "paper")
  checks.check(config, gaussians_config.check)
  summary_path = os.path.join(workdir, "summary.json")
  summary = None
  if os.path.exists(summary_path):
    with open(summary_path) as f:
      summary = json.load(f)
    if not _same_settings(summary, config):
      summary = None
  reused = summary is not None
  if summary is None:
    summary = gaussians.run(config, workdir)
  result = PartResult(
      title="Figure 2: mode collapse on Gaussian mixtures",
      figures=["figure_2.png", "learning_curves.png"],
      table_md=table(summary),
      claims=claims(summary),
      wall_time_s=summary["total_wall_time_s"] if reused else time.perf_counter() - start,
      how=(f"The gaussians reproduction (make reproduce-gaussians, which runs 10 seeds): "
           f"{config.run.seeds} seeds, "
           f"{config.schedule.num_steps} generator iterations, {config.eval.samples} samples per "
           f"seed; a mode "
           f"is covered when it is the nearest centre of a sample within 3 std of it "
           f"(VEEGAN/PacGAN protocol). Full table and settings in summary.md."
           + (" Reused from the summary.json already in this folder." if reused else "")),
  )
  result.save(workdir)
  return result
