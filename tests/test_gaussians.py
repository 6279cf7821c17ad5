"""experiments/gaussians.py end to end (tiny), and its refusals of bad input: the sweep config
(wgan_jax/configs/gaussians.py) is checked by checks.check_config before anything is written;
the standard error, and Figure 2: the mixture's density against scipy, the figure a complete PNG
with no temporary file left behind."""

import json
import os
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.stats

from wgan_jax import gaussians

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


# Overrides of the default config (no --config), as on the command line: a run's field, a value
# that does not parse, and a flag absl does not know, each through the launcher in its own process
# (the default config is loaded by cli.run's parser). Every other refusal of a bad field (n_critic,
# clip, batch_size, b1, snapshots, unknown runs and datasets, ...) is one case of
# test_config_checks.py's GAUSSIANS_CASES, which runs them all through the launcher's main in one
# process.
@pytest.mark.parametrize("flag, message", [
    ("--config.variants.wgan.schedule.n_critic=0",
     "ring8/wgan: --config.schedule.n_critic must be at least 1"),
    ("--config.schedule.num_steps=abc", "--config.schedule.num_steps=abc"),
    ("--no_such_flag=1", "no_such_flag"),
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
  # [1, 2, 3, 6]: mean 3, squared deviations 4 + 1 + 0 + 9 = 14, std sqrt(14 / 3), SE that / 2.
  assert gaussians.standard_error(np.array([1.0, 2.0, 3.0, 6.0])) == pytest.approx(
      (14 / 3) ** 0.5 / 2)
  assert np.isnan(gaussians.standard_error(np.array([4.0])))


# Figure 2 ----------------------------------------------------------------------------------------

def ring(k=8, radius=2.0):
  angles_K = 2 * np.pi * np.arange(k) / k
  return radius * np.stack([np.cos(angles_K), np.sin(angles_K)], axis=1)


def grid():
  return np.array([(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)], dtype=float)


def mixture_samples(rng, centers_Kx2, std, n, keep_K=None):
  """n samples from the equal-weight mixture, optionally over only the modes in keep_K."""
  keep_K = np.arange(len(centers_Kx2)) if keep_K is None else np.asarray(keep_K)
  modes_N = rng.choice(keep_K, size=n)
  return centers_Kx2[modes_N] + std * rng.standard_normal((n, 2))


def test_mixture_log_density_matches_scipy():
  centers_Kx2, std = ring(), 0.3
  points_Px2 = np.random.default_rng(0).uniform(-3, 3, size=(50, 2))
  expected_P = np.log(np.mean(
      [scipy.stats.multivariate_normal(c, std**2 * np.eye(2)).pdf(points_Px2)
       for c in centers_Kx2], axis=0))
  np.testing.assert_allclose(gaussians.mixture_log_density(points_Px2, centers_Kx2, std),
                             expected_P, rtol=1e-10)


def test_mixture_log_density_is_finite_far_from_every_centre():
  # exp(-(10/0.02)^2 / 2) underflows to 0; the log-sum-exp must not return -inf.
  value = gaussians.mixture_log_density(np.array([[10.0, 10.0]]), ring(), 0.02)
  assert np.isfinite(value).all()


def test_figure_2_writes_png(tmp_path):
  rng = np.random.default_rng(0)
  datasets = [
      {"name": "ring8", "centers": ring(), "std": 0.02,
       "real": mixture_samples(rng, ring(), 0.02, 300)},
      {"name": "grid25", "centers": grid(), "std": 0.05,
       "real": mixture_samples(rng, grid(), 0.05, 300)},
  ]
  panels = {}
  for d in datasets:
    k = len(d["centers"])
    panels[d["name"]] = {
        # GAN: a collapsing sampler, with a few far-off samples to exercise the off-panel note.
        "GAN": [(it, np.concatenate([mixture_samples(rng, d["centers"], d["std"], 290, [0, 1]),
                                     rng.normal(0, 20, size=(10, 2))]))
                for it in (250, 500, 1000)],
        "WGAN": [(it, mixture_samples(rng, d["centers"], 5 * d["std"], 300, range(k - 1)))
                 for it in (250, 500, 1000)],
    }
  path = tmp_path / "fig2.png"
  gaussians.figure_2(path, datasets, panels)
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert os.path.getsize(path) > 1000
  assert os.listdir(tmp_path) == ["fig2.png"]
  assert plt.get_fignums() == []  # pyplot keeps open figures alive; a training loop would leak.
  with pytest.raises(ValueError, match="at least one method"):
    gaussians.figure_2(tmp_path / "none.png", datasets, {"ring8": {}, "grid25": {}})
