"""experiments/gaussians.py end to end (tiny), and its refusals of bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "gaussians.py")
TINY = ["--iters=40", "--seeds=2", "--hidden=16", "--batch_size=64", "--num_evals=2",
        "--eval_samples=300", "--curve_samples=200", "--chunk=10", "--snapshots=0.5,1"]


def run_script(*args):
  return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                        cwd=ROOT, timeout=600)


def test_end_to_end(tmp_path):
  workdir = tmp_path / "run"
  result = run_script(f"--workdir={workdir}", *TINY)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "it/s" in result.stderr and "left" in result.stderr  # the progress line
  for name in ("summary.json", "summary.md", "figure_2.png", "learning_curves.png"):
    assert (workdir / name).stat().st_size > 0, name
  summary = json.loads((workdir / "summary.json").read_text())
  for dataset in ("ring8", "grid25"):
    for method in ("gan", "wgan", "wgan-gp", "ebgan"):
      out = workdir / dataset / method
      samples = np.load(out / "samples.npy")
      assert samples.shape == (300, 2) and samples.dtype == np.float32
      np.testing.assert_array_equal(samples, np.load(out / "samples_seed0.npy"))
      assert not np.array_equal(samples, np.load(out / "samples_seed1.npy"))
      row = summary["results"][dataset][method]
      assert len(row["per_seed"]) == 2
      assert row["modes_min"] <= row["modes_mean"] <= {"ring8": 8, "grid25": 25}[dataset]
      assert 0 <= row["high_quality_pct_mean"] <= 100
      w1 = [r["w1"] for r in row["per_seed"]]  # two seeds: SE = |a - b| / 2
      assert row["w1_se"] == pytest.approx(abs(w1[0] - w1[1]) / 2)
  assert "| ring8 | wgan-gp |" in (workdir / "summary.md").read_text()
  assert " ± " in (workdir / "summary.md").read_text()
  assert not [p for p in workdir.rglob("*.tmp*")]


@pytest.mark.parametrize("flag, message", [
    ("--n_critic=0", "--n_critic must be at least 1"),
    ("--clip=0", "--clip must be positive"),
    ("--clip=-0.01", "--clip must be positive"),
    ("--batch_size=0", "--batch_size must be at least 1"),
    ("--methods=wgan,vae", "--methods: unknown method 'vae'"),
    ("--datasets=ring9", "--datasets: unknown dataset 'ring9'"),
    ("--iters=abc", "iters"),
    ("--no_such_flag=1", "no_such_flag"),
    ("--gp_b1=1.5", "--gp_b1 must lie in [0, 1)"),
    ("--snapshots=0,1", "--snapshots"),
])
def test_bad_flags_fail_in_one_line(tmp_path, flag, message):
  workdir = tmp_path / "run"
  result = run_script(f"--workdir={workdir}", flag)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and message in lines[0], result.stderr
  assert "Traceback" not in result.stderr
  assert not workdir.exists()


def test_standard_error_by_hand():
  from wgan_jax import gaussians  # pylint: disable=import-outside-toplevel
  # [1, 2, 3, 6]: mean 3, squared deviations 4 + 1 + 0 + 9 = 14, std sqrt(14 / 3), SE that / 2.
  assert gaussians.standard_error(np.array([1.0, 2.0, 3.0, 6.0])) == pytest.approx(
      (14 / 3) ** 0.5 / 2)
  assert np.isnan(gaussians.standard_error(np.array([4.0])))
