"""experiments/reproduce_mnist.py end to end (its quick config), its summary, and a diverging run
(its refused overrides are in test_config_checks.py)."""

import json
import math
import os
import re
import subprocess
import sys

from wgan_jax import mnist_reproduction as repro
from wgan_jax.configs.mnist_reproduction import RUNS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "reproduce_mnist.py")
QUICK = f"--config={ROOT}/wgan_jax/configs/mnist_reproduction.py:quick"


def _run(*args):
  return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                        cwd=ROOT, timeout=600)


def test_quick_run_writes_every_output(tmp_path):
  workdir = tmp_path / "mnist"
  result = _run(f"--workdir={workdir}", QUICK)
  assert result.returncode == 0, result.stderr[-2000:]
  # Quiet by default: no INFO lines of orbax or JAX (absl's format: I<mmdd> <time> ...).
  assert not re.search(r"^I\d{4} |Unable to initialize backend", result.stderr, re.M), (
      result.stderr[-2000:])
  for name in ("summary.json", "summary.md", "sheets.png"):
    assert os.path.getsize(workdir / name) > 0
  summary = json.loads((workdir / "summary.json").read_text())
  assert [r["run"] for r in summary["runs"]] == list(RUNS)
  methods = {r["run"]: (r["method"], r["generator"]) for r in summary["runs"]}
  assert methods == {"wgan_dcgan": ("wgan", "dcgan"), "wgan_gp_dcgan": ("wgan-gp", "dcgan"),
                     "wgan_mlp": ("wgan", "mlp"), "gan_mlp": ("gan", "mlp")}
  for run in summary["runs"]:
    assert run["generator_iterations"] == 4
    assert run["wall_time_s"] > 0
    for key in ("classes_covered", "mean_top_prob", "class_kl", "frechet", "class_histogram"):
      assert key in run
    if run.get("note") is None:  # a finite generator: the histogram counts every sample
      assert sum(run["class_histogram"]) == summary["settings"]["num_samples"] == 100
      assert 0 <= run["classes_covered"] <= 10
      assert 0.1 <= run["mean_top_prob"] <= 1.0
      assert 0.0 <= run["class_kl"] <= math.log(10) + 1e-9
    for output in ("learning_curve.png", "metrics.jsonl", "samples/step_4.png"):
      assert os.path.getsize(workdir / run["run"] / output) > 0
  assert summary["settings"]["official_schedule"] is False
  assert isinstance(summary["target"]["met"], bool)
  table = (workdir / "summary.md").read_text()
  assert "| run | generator iterations |" in table
  assert all(f"| {name} | 4 |" in table for name in RUNS)


# Bad flags (a run's field, an unknown run) are cases of test_config_checks.py's
# launcher_cases("reproduce_mnist.py"), all through the launcher's main in one process.


def test_training_wall_time_sums_resumed_segments():
  # Two segments: 0..3 s, then a resume whose clock restarts: 0..2 s; 5 s in all.
  rows = [{"wall_time_s": t} for t in (1.0, 2.0, 3.0, 0.5, 2.0)]
  assert repro.training_wall_time(rows) == 5.0
  assert repro.training_wall_time([]) == 0.0


def test_one_bfloat16_run_that_diverges_stops_with_one_line(tmp_path):
  # Adam's first step moves every weight by about the learning rate: 1e30 overflows at once.
  workdir = tmp_path / "mnist"
  lr = "--config.variants.wgan_gp_dcgan.{}_optimizer.learning_rate=1e30"
  result = _run(f"--workdir={workdir}", QUICK, "--config.sweep.runs=wgan_gp_dcgan",
                "--config.run.dtype=bfloat16", lr.format("generator"), lr.format("critic"))
  assert result.returncode == 1
  errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1 and errors[0].startswith("error: wgan_gp_dcgan: step 1: ")
  assert "Traceback" not in result.stderr
  # Only the chosen run, in the chosen dtype.
  assert os.listdir(workdir) == ["wgan_gp_dcgan"]
  config = json.loads((workdir / "wgan_gp_dcgan" / "config.json").read_text())
  assert config["run"]["dtype"] == "bfloat16" and config["objective"]["method"] == "wgan-gp"
