"""The quick runs of the parts two_gaussians, image_curves and clipping, through
experiments/reproduce_paper.py, and what each writes; image_curves' reuse of finished runs."""

import json
import os
import subprocess
import sys

import pytest

from wgan_jax import experiment
from wgan_jax.configs import clipping as clipping_config
from wgan_jax.configs import image_curves as image_curves_config
from wgan_jax.configs import two_gaussians as two_gaussians_config
from wgan_jax.paper import PartResult
from wgan_jax.paper import image_curves
from wgan_jax.paper import two_gaussians

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEW_PARTS = ("two_gaussians", "image_curves", "clipping")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("paper") / "quick"
  done = subprocess.run(
      [sys.executable, os.path.join(ROOT, "experiments", "reproduce_paper.py"),
       f"--workdir={workdir}", f"--parts={','.join(NEW_PARTS)}", "--quick"],
      capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  return workdir


def _result(quick_run, part: str) -> PartResult:
  return PartResult.from_json((quick_run / part / "result.json").read_text())


def test_every_part_writes_its_figures_and_verdicts_into_the_report(quick_run):
  report = (quick_run / "report.md").read_text()
  for part in NEW_PARTS:
    result = _result(quick_run, part)
    # image_curves' claims are "when X, then Y": a run without X is "premise not met".
    verdicts = ("holds", "does not hold", "unclear") + (
        ("premise not met",) if part == "image_curves" else ())
    assert result.claims and all(c.verdict in verdicts for c in result.claims)
    for figure in result.figures:
      assert os.path.getsize(quick_run / part / figure) > 1000
      assert f"{part}/{figure}" in report


def test_two_gaussians_numbers(quick_run):
  result = _result(quick_run, "two_gaussians")
  assert result.figures == ["figure_3.png"]
  assert len(result.claims) == 3
  numbers = json.loads((quick_run / "two_gaussians" / "numbers.json").read_text())
  quick = two_gaussians_config.get_config("quick")
  seeds = list(range(quick.run.seed, quick.run.seed + quick.two_gaussians.seeds))
  assert numbers["seeds"] == [p["seed"] for p in numbers["per_seed"]] == seeds
  curves, grid = numbers["curves"], quick.two_gaussians.grid
  assert len(curves["x"]) == grid
  for name in ("critic", "discriminator"):
    assert [len(c) for c in curves[name]] == [grid] * len(seeds)
  for p in numbers["per_seed"]:
    assert set(p["gradients"]) == set(two_gaussians.LOSSES)
    assert 0.0 <= p["d_fake"] <= 1.0 and 0.0 <= p["d_real"] <= 1.0
    assert p["gradients"]["wgan"]["ratio_to_wgan"] == pytest.approx(1.0)
  # Each verdict is the seed rule applied to the claim's per-seed outcomes, which it reports.
  for claim, name in zip(result.claims, ("saturates", "vanishes", "clean")):
    holds_S = numbers["holds"][name]
    assert len(holds_S) == len(seeds)
    assert claim.verdict == two_gaussians.across_seeds(holds_S)
    assert f"in {sum(holds_S)} of {len(seeds)} seeds" in claim.number
    assert all(f"seed {seed} " in claim.number for seed in seeds)
  assert len(result.changes) == 1 and f"{len(seeds)} initialisations" in result.changes[0]


def test_clipping_numbers(quick_run):
  result = _result(quick_run, "clipping")
  assert result.figures == ["value_surfaces.png", "gradient_norms.png", "weights.png"]
  assert len(result.claims) == 6
  assert len(result.changes) == 3  # the paper's measure, convergence, the samples' box
  numbers = json.loads((quick_run / "clipping" / "numbers.json").read_text())
  quick = clipping_config.get_config("quick")
  assert set(numbers["deep"]) == {"0.1", "0.01", "0.001", "None"}
  for clip, deep in numbers["deep"].items():
    depth = quick.variants[
        clipping_config.deep_variant(None if clip == "None" else float(clip))].critic.depth
    assert len(deep["activation_norms"]) == depth  # one per hidden layer
    assert len(deep["kernel_norms"]) == depth + 1  # one per Dense layer
    assert len(deep["steps"]) == quick.clipping.deep_checkpoints
  cl = quick.clipping
  for name in ("surface_clip", "surface_penalty"):
    for dataset in ("ring8", "grid25", "swissroll"):
      s = numbers["surfaces"][name][dataset]
      assert s["w1"] > 0 and s["lipschitz"] > 0 and 0 <= s["at_edge"] <= 1
      # Recorded every half check from step 0 to where the critic stopped: at its convergence
      # (a check) or at the cap.
      assert s["curve_steps"] == list(range(0, s["steps"] + 1, cl.check_every // 2))
      if s["converged_at"] is None:
        assert s["steps"] == cl.max_steps
      else:
        assert s["steps"] == s["converged_at"] and s["converged_at"] % cl.check_every == 0
      (x_low, x_high), (y_low, y_high) = s["box"]
      assert x_low < x_high and y_low < y_high
  assert "swissroll" in result.table_md and "converged at step" in result.table_md
  assert "samples' box" in result.table_md


def test_image_curves_judges_every_checkpoint(quick_run):
  numbers = json.loads((quick_run / "image_curves" / "numbers.json").read_text())
  quick = image_curves_config.get_config("quick")
  for name in quick.sweep.runs.split(","):
    assert numbers["runs"][name]["steps"] == list(range(1, quick.schedule.num_steps + 1))
  result = _result(quick_run, "image_curves")
  # A figure per run, and Figure 9's generator loss for each GAN run.
  assert result.figures == [f"curve_{name}.png" for name in quick.sweep.runs.split(",")
                            ] + ["curve_gan_mlp_generator_loss.png"]
  assert result.changes == image_curves.CHANGES
  # One claim for the high learning rate run, two (Figures 5 and 9) for the GAN run; each
  # premise follows the run's own Fréchet distances, and each claim's number is reported.
  high, js, loss = result.claims
  runs = numbers["runs"]
  improve = image_curves.samples_improve(runs["gan_mlp"]["frechet"])
  assert runs["gan_mlp"]["samples_improve"] == improve
  assert (js.verdict == "premise not met") == (loss.verdict == "premise not met") == (
      not improve)
  assert "Spearman ρ" in js.number and "premise, samples improve" in js.number
  fails = image_curves.training_fails(runs[image_curves_config.HIGH_LR]["frechet"])
  # The quick sweep has no reference run, so a failed run's flatness cannot be judged.
  assert high.verdict == ("unclear" if fails else "premise not met")
  assert "premise, training fails" in high.number and "range of the estimate" in high.number


def test_image_curves_reuses_finished_runs_and_trains_others_itself(quick_run):
  runs = experiment.sweep(image_curves_config.get_config("quick"))
  there, elsewhere = quick_run / "image_curves", quick_run / "elsewhere"
  # Another part's folder beside the one that holds the runs: each is found there.
  assert image_curves.run_dirs(runs, str(elsewhere), "image_curves") == {
      name: str(there / name) for name in runs}
  # A run that differs (one more step) is trained in the part's own folder, as is every run
  # when the part reuses nothing.
  name = next(iter(runs))
  runs[name].schedule.num_steps += 1
  assert image_curves.run_dirs(runs, str(elsewhere), "image_curves")[name] == str(
      elsewhere / name)
  assert image_curves.run_dirs(runs, str(elsewhere), "") == {
      n: str(elsewhere / n) for n in runs}
