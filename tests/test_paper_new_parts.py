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
    assert result.claims and all(c.verdict in ("holds", "does not hold", "unclear")
                                 for c in result.claims)
    for figure in result.figures:
      assert os.path.getsize(quick_run / part / figure) > 1000
      assert f"{part}/{figure}" in report


def test_two_gaussians_numbers(quick_run):
  result = _result(quick_run, "two_gaussians")
  assert result.figures == ["figure_3.png"]
  assert len(result.claims) == 3
  numbers = json.loads((quick_run / "two_gaussians" / "numbers.json").read_text())
  quick = two_gaussians_config.get_config("quick")
  assert len(numbers["curves"]["x"]) == len(numbers["curves"]["critic"]) == quick.two_gaussians.grid
  assert set(numbers["gradients"]) == set(two_gaussians.LOSSES)
  assert 0.0 <= numbers["d_fake"] <= 1.0 and 0.0 <= numbers["d_real"] <= 1.0
  assert numbers["gradients"]["wgan"]["ratio_to_wgan"] == pytest.approx(1.0)


def test_clipping_numbers(quick_run):
  result = _result(quick_run, "clipping")
  assert result.figures == ["value_surfaces.png", "gradient_norms.png", "weights.png"]
  assert len(result.claims) == 6
  numbers = json.loads((quick_run / "clipping" / "numbers.json").read_text())
  quick = clipping_config.get_config("quick")
  assert set(numbers["deep"]) == {"0.1", "0.01", "0.001", "None"}
  for clip, deep in numbers["deep"].items():
    assert len(deep["kernel_norms"]) == quick.variants[
        clipping_config.deep_variant(None if clip == "None" else float(clip))].critic.depth + 1
    assert len(deep["steps"]) == quick.clipping.deep_checkpoints
  for name in ("surface_clip", "surface_penalty"):
    for dataset in ("ring8", "grid25", "swissroll"):
      s = numbers["surfaces"][name][dataset]
      assert s["w1"] > 0 and s["lipschitz"] > 0 and 0 <= s["at_edge"] <= 1
      assert s["curve_steps"][0] == 1 and s["curve_steps"][-1] == quick.clipping.surface_steps
  assert "swissroll" in result.table_md


def test_image_curves_judges_every_checkpoint(quick_run):
  numbers = json.loads((quick_run / "image_curves" / "numbers.json").read_text())
  quick = image_curves_config.get_config("quick")
  for name in quick.sweep.runs.split(","):
    assert numbers["runs"][name]["steps"] == list(range(1, quick.schedule.num_steps + 1))
  result = _result(quick_run, "image_curves")
  # A figure per run, and Figure 9's generator loss for each GAN run.
  assert result.figures == [f"curve_{name}.png" for name in quick.sweep.runs.split(",")
                            ] + ["curve_gan_mlp_generator_loss.png"]


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
