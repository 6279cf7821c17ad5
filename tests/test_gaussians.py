"""experiments/gaussians.py end to end (tiny), and its refusals of bad input: the sweep config
(wgan_jax/configs/gaussians.py) is checked by checks.check_config before anything is written."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "gaussians.py")
# The quick variant (40 steps of 64, 10 per dispatch, 2 evaluations, 300 final and 200 curve
# samples, snapshots at 0.5 and 1) with two seeds of 16-unit networks.
# Every method on one mixture (grid25 differs only in its data: wgan_jax/data/toy.py's tests).
TINY = [f"--config={ROOT}/wgan_jax/configs/gaussians.py:quick", "--config.run.seeds=2",
        "--config.generator.hidden=16", "--config.critic.hidden=16",
        "--config.sweep.datasets=ring8"]


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
  assert list(summary["results"]) == ["ring8"]
  for dataset in ("ring8",):
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


# Overrides of the default config (no --config), as on the command line.
@pytest.mark.parametrize("flag, message", [
    ("--config.variants.wgan.schedule.n_critic=0",
     "ring8/wgan: --config.schedule.n_critic must be at least 1"),
    ("--config.variants.wgan.critic_optimizer.clip=0",
     "ring8/wgan: --config.critic_optimizer.clip must be a finite number above 0"),
    ("--config.variants.wgan.critic_optimizer.clip=-0.01",
     "ring8/wgan: --config.critic_optimizer.clip must be a finite number above 0"),
    ("--config.schedule.batch_size=0", "--config.schedule.batch_size must be at least 1"),
    ("--config.sweep.runs=wgan,vae", "--config.sweep.runs: unknown name 'vae'"),
    ("--config.sweep.datasets=ring9", "--config.sweep.datasets: unknown name 'ring9'"),
    ("--config.schedule.num_steps=abc", "--config.schedule.num_steps=abc"),
    ("--no_such_flag=1", "no_such_flag"),
    ("--config.variants.wgan_gp.critic_optimizer.b1=1.5",
     "ring8/wgan-gp: --config.critic_optimizer.b1 must lie in [0, 1)"),
    ("--config.eval.snapshots=(0,1)", "--config.eval.snapshots"),
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
