"""wgan_jax/paper/lines.py: the closed forms against independent computations, the best clipped
critic against a construction and against feasible critics, the convergence of the clipped
critics and its verdict, and a quick run."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.spatial.distance
import scipy.stats

from wgan_jax import checks
from wgan_jax import experiment
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
  grid = quick.lines.grid
  assert len(numbers["em_estimate"]) == len(numbers["thetas"]) == grid
  # The generator learning θ starts at θ = 1 and the steps fixed it only in the grid's runs.
  assert numbers["theta_path"][0] == 1.0
  assert numbers["theta_steps"][-1] == quick.variants.learn_theta.schedule.num_steps
  assert list(numbers["gradients"]) == ["gan minimax", "gan -log D", "wgan"]  # the table's
  assert all(len(g) == len(quick.lines.gradient_checkpoints)
             for g in numbers["gradients"].values())
  assert result.table_md.count("\n| +") + result.table_md.count("\n| -") >= grid
  # The clipped critics trained to convergence, each estimate the last of its trace.
  hidden, clip = (quick.critic.hidden,) * quick.critic.depth, 0.1
  assert numbers["best_slope"] == pytest.approx(np.prod(hidden) * clip ** (len(hidden) + 1))
  trace = np.asarray(numbers["em_trace"]["estimates"])
  assert trace.shape == (len(numbers["em_trace"]["steps"]), grid)
  np.testing.assert_allclose(trace[-1], numbers["em_estimate"])
  assert numbers["em_trace"]["steps"][-1] <= quick.lines.max_steps
  for at, steps in zip(numbers["em_converged_at"], numbers["em_steps"]):
    assert steps == (at if at >= 0 else numbers["em_trace"]["steps"][-1])
  linear = result.claims[0]
  assert linear.verdict == lines.linear_verdict(numbers["em_fit"]["r2"],
                                                lines.not_converged(numbers))
  assert f"the best clipped critic's {numbers['best_slope']:.3f}" in linear.number
  assert len(result.changes) == 2 and "convergence" in result.changes[0]


# The best clipped critic -------------------------------------------------------------------------

def _estimate(hidden, params, theta, z_N):
  """E f(0, Z) - E f(θ, Z) of the MLP critic on the same Z for both lines."""
  critic = models.MLP(tuple(hidden), 1)
  real_Nx2 = jnp.stack([jnp.zeros_like(z_N), z_N], axis=1)
  fake_Nx2 = jnp.stack([jnp.full_like(z_N, theta), z_N], axis=1)
  return (critic.apply({"params": params}, real_Nx2).mean()
          - critic.apply({"params": params}, fake_Nx2).mean())


def _feasible(hidden, clip, key, vertices: bool):
  """Parameters of the MLP critic with every entry uniform in [-c, c] or at ±c at random."""
  template = models.MLP(tuple(hidden), 1).init(jax.random.key(0), jnp.zeros((1, 2)))["params"]
  leaves, tree = jax.tree.flatten(template)
  keys = jax.random.split(key, len(leaves))
  if vertices:
    draw = lambda k, x: clip * jax.random.rademacher(k, x.shape, jnp.float32)
  else:
    draw = lambda k, x: jax.random.uniform(k, x.shape, minval=-clip, maxval=clip)
  return jax.tree.unflatten(tree, [draw(k, x) for k, x in zip(keys, leaves)])


def test_best_clipped_slope_by_hand():
  assert lines.best_clipped_slope((64, 64, 64), 0.1) == pytest.approx(26.2144)
  assert lines.best_clipped_slope((4, 3, 5), 0.5) == pytest.approx(60 * 0.5 ** 4)
  assert lines.best_clipped_slope((3,), 0.2) == pytest.approx(3 * 0.04)
  config = lines_config.get_config()
  assert lines.clipped_critic_shape(config) == ((64, 64, 64), 0.1)


@pytest.mark.parametrize("theta", [-1.0, -0.35, 0.1, 0.6, 1.0])
def test_the_constructed_critic_attains_the_best_slope(theta):
  hidden, clip = (64, 64, 64), 0.1
  params = lines.best_clipped_critic(hidden, clip, np.sign(theta))
  # A parameter set of the part's critic, every entry within [-c, c].
  run = experiment.build(experiment.variant(lines_config.get_config(), "wgan"))
  initial = run.steps.init(jax.random.key(0)).critic_params
  assert jax.tree.structure(params) == jax.tree.structure(initial)
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, initial)
  # (c in float32, as the optimiser's clipping holds it)
  assert max(float(jnp.abs(x).max()) for x in jax.tree.leaves(params)) <= np.float32(clip)
  z_N = jax.random.uniform(jax.random.key(1), (512,))
  # f(x) = s(1 - sign(θ) x_1) exactly: 64³ · 0.1⁴ = 26.2144 per unit of |θ|.
  # (float32: f(0) = 26.2 is held to about 1e-6 of itself)
  assert float(_estimate(hidden, params, theta, z_N)) == pytest.approx(26.2144 * abs(theta),
                                                                       rel=1e-5, abs=1e-4)
  # The part's own critic with these parameters: the same function.
  x_Nx2 = jnp.stack([jnp.full_like(z_N, theta), z_N], axis=1)
  np.testing.assert_allclose(run.spec.critic.apply({"params": params}, x_Nx2, train=False),
                             26.2144 * (1 - np.sign(theta) * theta), rtol=1e-5)


@pytest.mark.parametrize("vertices", [True, False])
def test_no_random_feasible_critic_beats_the_best_slope(vertices):
  hidden, clip = (64, 64, 64), 0.1
  best = lines.best_clipped_slope(hidden, clip)
  z_N = jax.random.uniform(jax.random.key(1), (256,))
  keys = jax.random.split(jax.random.key(2 + vertices), 64)
  params = jax.vmap(lambda k: _feasible(hidden, clip, k, vertices))(keys)
  for theta in (-1.0, 1.0):
    estimates = jax.vmap(lambda p: _estimate(hidden, p, theta, z_N))(params)
    assert float(jnp.max(jnp.abs(estimates))) <= best * (1 + 1e-5)
  # The bound on the slope itself, at random points of the square the lines lie in.
  x_Mx2 = jax.random.uniform(jax.random.key(4), (32, 2), minval=jnp.array([-1.0, 0.0]),
                             maxval=jnp.array([1.0, 1.0]))
  critic = models.MLP(hidden, 1)
  slope = lambda p, x: jax.grad(lambda x: critic.apply({"params": p}, x[None])[0])(x)[0]
  slopes = jax.vmap(lambda p: jax.vmap(lambda x: slope(p, x))(x_Mx2))(params)
  assert float(jnp.max(jnp.abs(slopes))) <= best * (1 + 1e-5)


def test_clipped_critics_optimised_from_random_starts_reach_but_never_beat_the_best():
  # A small critic, so that projected gradient ascent (clip after each Adam step) finds its
  # optimum from some starts; the widths differ so that the product is tested, not a power.
  hidden, clip, theta = (3, 2), 0.3, 1.0
  best = lines.best_clipped_slope(hidden, clip)
  z_N = jax.random.uniform(jax.random.key(1), (64,))
  tx = optax.adam(0.05 * clip)

  def ascend(key):
    def step(carry, _):
      params, opt = carry
      grads = jax.grad(lambda p: -_estimate(hidden, p, theta, z_N))(params)
      updates, opt = tx.update(grads, opt, params)
      params = jax.tree.map(lambda x: jnp.clip(x, -clip, clip),
                            optax.apply_updates(params, updates))
      return (params, opt), None
    params = _feasible(hidden, clip, key, vertices=False)
    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=150)
    return _estimate(hidden, params, theta, z_N)

  found = np.asarray(jax.jit(jax.vmap(ascend))(jax.random.split(jax.random.key(5), 32)))
  assert found.max() <= best * (1 + 1e-5)
  assert found.max() >= best * 0.999  # the bound is attained, not only an upper bound


# Convergence of the clipped critics and the verdict ----------------------------------------------

def test_config_sets_the_convergence_rule():
  config = lines_config.get_config()
  assert (config.lines.check_every, config.lines.max_steps) == (500, 10_000)
  assert config.lines.critic_steps == 3000  # the discriminators' and the control's budget


@pytest.mark.parametrize("check_every, max_steps", [(7, 21), (10, 25)])
def test_config_refuses_checks_that_do_not_divide_the_cap(check_every, max_steps):
  config = lines_config.get_config("quick")
  config.lines.update(dict(check_every=check_every, max_steps=max_steps))
  with pytest.raises(checks.ConfigError, match="check_every .* must be even and divide"):
    lines.run("/nonexistent/never-written", config=config)


def test_linear_verdict_is_unclear_when_any_critic_did_not_converge():
  m = {"thetas": [-1.0, 0.0, 1.0], "em_converged_at": [1500, 500, 2000]}
  assert lines.not_converged(m) == []
  assert lines.linear_verdict(0.995, lines.not_converged(m)) == "holds"
  assert lines.linear_verdict(0.98, lines.not_converged(m)) == "does not hold"
  m["em_converged_at"] = [1500, -1, 2000]  # θ = 0 too: the rule as written
  assert lines.not_converged(m) == [0.0]
  assert lines.linear_verdict(0.999, lines.not_converged(m)) == "unclear"
  m["em_converged_at"] = [1500, 500, -1]
  assert lines.not_converged(m) == [1.0]
  assert lines.linear_verdict(0.999, lines.not_converged(m)) == "unclear"
  assert lines.linear_verdict(0.5, lines.not_converged(m)) == "unclear"


def test_converged_critics_are_frozen_and_their_estimates_are_their_own():
  config = lines_config.get_config("quick")
  config.lines.update(dict(check_every=10, max_steps=60))
  thetas_G = np.linspace(-1.0, 1.0, config.lines.grid)  # the quick run's grid: its program
  trained = lines.converge_critics(config, thetas_G)
  assert list(trained.steps_T) == list(range(0, int(trained.steps_T[-1]) + 1, 5))
  assert trained.steps_T[-1] <= 60
  for g, at in enumerate(trained.converged_at_G):
    if at >= 0:  # unchanged after the check that stopped it
      after = trained.estimates_TxG[list(trained.steps_T).index(at):, g]
      np.testing.assert_array_equal(after, after[0])
  # The last estimates, computed again from the returned critics on the same samples.
  run = experiment.build(experiment.variant(config, "wgan"))
  # The part's estimate: eval key 2, its first half for the estimates, one key per θ.
  keys_G = jax.random.split(jax.random.split(jax.random.key(2))[0], len(thetas_G))
  n = config.lines.eval_samples
  for g in range(len(thetas_G)):
    key_real, key_fake = jax.random.split(keys_G[g])
    state = jax.tree.map(lambda x: x[g], trained.states)
    variables = {"params": state.critic_params}
    real_N = run.spec.critic.apply(variables, toy.parallel_lines_sample(key_real, n),
                                   train=False)
    fake_N = run.spec.critic.apply(variables, run.steps.generate(state, key_fake, n),
                                   train=False)
    assert float(real_N.mean() - fake_N.mean()) == pytest.approx(
        trained.estimates_TxG[-1, g], rel=1e-4, abs=1e-6)


def test_config_refuses_an_even_grid():
  config = lines_config.get_config("quick")
  config.lines.grid = 4
  with pytest.raises(checks.ConfigError, match="--config.lines.grid must be odd"):
    lines.run("/nonexistent/never-written", config=config)


@pytest.mark.parametrize("variant", ["", "quick"])
def test_check_passes_the_configs(variant):
  lines_config.check(lines_config.get_config(variant))


@pytest.mark.parametrize("change, message", [
    (dict(grid=4), r"--config.lines.grid must be odd and at least 3, got 4"),
    (dict(grid=1), r"--config.lines.grid must be odd and at least 3, got 1"),
    (dict(critic_steps=0), r"--config.lines.critic_steps must be at least 1"),
    (dict(check_every=10, max_steps=25), r"check_every \(10\) must be even and divide"),
    (dict(gradient_checkpoints=(2, 11)), r"gradient_checkpoints must lie in \[1, critic_steps = "
                                         r"10\], got \(2, 11\)"),
    (dict(gradient_checkpoints=()), r"gradient_checkpoints must lie in"),
])
def test_check_refuses_a_section_that_cannot_run(change, message):
  config = lines_config.get_config("quick")
  config.lines.update(change)
  with pytest.raises(checks.ConfigError, match=message):
    lines_config.check(config)
