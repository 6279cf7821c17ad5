"""wgan_jax/paper/lines.py: the closed forms against independent computations, and a quick run."""

import json
import math

import jax
import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats

from wgan_jax import checks
from wgan_jax import models
from wgan_jax.configs import lines as lines_config
from wgan_jax.metrics import mixtures as metrics
from wgan_jax.data import toy
from wgan_jax.paper import PartResult
from wgan_jax.paper import lines


def _line_samples(theta: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """n samples of P0 (the toy sampler) and of P_θ (the part's generator on Gaussian noise)."""
  key_real, key_noise, key_init = jax.random.split(jax.random.key(seed), 3)
  real = np.asarray(toy.parallel_lines_sample(key_real, n))
  generator = models.ParallelLine(theta_init=theta)
  z = jax.random.normal(key_noise, (n, 1))
  fake = np.asarray(generator.apply(generator.init(key_init, z), z))
  return real, fake


@pytest.mark.parametrize("theta", [-0.7, 0.0, 0.3])
def test_em_is_the_exact_w1_between_samples(theta):
  real, fake = _line_samples(theta, 600, seed=1)
  # Independent samples: W1 exceeds |θ| by the mismatch of the two empirical uniforms.
  assert metrics.exact_w1(real, fake) == pytest.approx(lines.exact_distances(theta)["EM"],
                                                       abs=0.03)


@pytest.mark.parametrize("theta", [-0.5, 0.0, 0.2, 1.0])
def test_js_kl_tv_of_histograms(theta):
  real, fake = _line_samples(theta, 20000, seed=2)
  # Bins of width 0.1 centred on the grid's θ values, so that 0 and θ ≠ 0 fall apart.
  edges = (np.linspace(-1.05, 1.05, 22), np.linspace(0.0, 1.0, 11))
  p = np.histogram2d(real[:, 0], real[:, 1], bins=edges)[0].ravel()
  q = np.histogram2d(fake[:, 0], fake[:, 1], bins=edges)[0].ravel()
  p, q = p / p.sum(), q / q.sum()
  exact = lines.exact_distances(theta)
  # scipy's jensenshannon is the square root of JS, in nats by default.
  assert scipy.spatial.distance.jensenshannon(p, q) ** 2 == pytest.approx(exact["JS"], abs=0.01)
  assert 0.5 * np.abs(p - q).sum() == pytest.approx(exact["TV"], abs=0.05)
  kl = scipy.stats.entropy(p, q)
  assert (math.isinf(kl) and math.isinf(exact["KL"])) or kl == pytest.approx(exact["KL"], abs=0.01)


def test_exact_distances_elementwise():
  d = lines.exact_distances([-1.0, 0.0, 0.25])
  np.testing.assert_allclose(d["EM"], [1.0, 0.0, 0.25])
  np.testing.assert_allclose(d["JS"], [math.log(2), 0.0, math.log(2)])
  np.testing.assert_array_equal(d["KL"], [np.inf, 0.0, np.inf])
  np.testing.assert_array_equal(d["TV"], [1.0, 0.0, 1.0])


def test_linear_fit_against_scipy():
  x = np.array([0.0, 0.1, 0.4, 0.5, 0.9, 1.0])
  y = np.array([0.05, 0.7, 2.9, 3.0, 4.6, 5.3])
  slope, intercept, r2 = lines.linear_fit(x, y)
  expected = scipy.stats.linregress(x, y)
  assert slope == pytest.approx(expected.slope)
  assert intercept == pytest.approx(expected.intercept)
  assert r2 == pytest.approx(expected.rvalue ** 2)
  assert lines.linear_fit(x, 2 * x + 1)[2] == pytest.approx(1.0)


def test_quick_run(tmp_path):
  result = lines.run(str(tmp_path), quick=True)
  assert PartResult.from_json((tmp_path / "result.json").read_text()) == result
  for figure in result.figures:
    assert (tmp_path / figure).stat().st_size > 0, figure
  assert len(result.claims) == 4
  assert all(c.verdict in ("holds", "does not hold", "unclear") for c in result.claims)
  quick = lines_config.get_config("quick")
  numbers = json.loads((tmp_path / "numbers.json").read_text())
  assert len(numbers["em_estimate"]) == len(numbers["thetas"]) == quick.lines.grid
  # The generator learning θ starts at θ = 1 and the steps fixed it only in the grid's runs.
  assert numbers["theta_path"][0] == 1.0
  assert numbers["theta_steps"][-1] == quick.variants.learn_theta.schedule.num_steps
  assert set(numbers["gradients"]) == {"gan minimax", "gan -log D", "wgan"}
  assert result.table_md.count("\n| +") + result.table_md.count("\n| -") >= quick.lines.grid


def test_config_refuses_an_even_grid():
  config = lines_config.get_config("quick")
  config.lines.grid = 4
  with pytest.raises(checks.ConfigError, match="--config.lines.grid must be odd"):
    lines.run("/nonexistent/never-written", config=config)
