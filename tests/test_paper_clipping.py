"""wgan_jax/paper/clipping.py: its measures against independent computations, its verdicts on
hand-made numbers and its config against the paper (its quick run is in test_paper_new_parts.py)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wgan_jax import experiment
from wgan_jax.configs import clipping as clipping_config
from wgan_jax.paper import clipping


# The config ------------------------------------------------------------------------------------

def test_config_follows_the_paper():
  config = clipping_config.get_config()
  assert config.clipping.datasets.split(",") == ["ring8", "grid25", "swissroll"]
  assert config.clipping.noise_std == 1.0  # "the real distribution plus unit-variance noise"
  assert config.data.scale_data  # the toy script's scaled ring and grid
  clips = []
  for name in config.variants:
    run = experiment.variant(config, name)
    assert run.critic.name == "toy_mlp" and run.critic.norm == "none"
    assert run.critic.hidden == 512  # the toy script's DIM
    assert run.generator_optimizer.name == "frozen"
    opt = run.critic_optimizer
    if name.startswith("deep"):
      assert run.critic.depth == 12 and run.data.dataset == "swissroll"
    else:
      assert run.critic.depth == 3 and run.schedule.batch_size == 256
    if run.objective.method == "wgan":
      assert (opt.name, opt.learning_rate) == ("rmsprop", 5e-5)
      clips.append(opt.clip)
    else:
      assert run.objective.method == "wgan-gp"
      assert run.objective.gp_weight == 0.1  # the toy script's
      assert (opt.name, opt.learning_rate, opt.b1, opt.b2, opt.clip) == ("adam", 1e-4, 0.5, 0.9,
                                                                         None)
  assert sorted(clips) == [0.001, 0.01, 0.01, 0.1]  # the deep critics' three and the surfaces'
  assert experiment.variant(config, "surface_clip").critic_optimizer.clip == 0.01


def test_quick_variant_is_small_and_unknown_variants_are_refused():
  quick = clipping_config.get_config("quick")
  assert quick.critic.hidden <= 16 and quick.clipping.surface_steps <= 10
  with pytest.raises(ValueError, match="unknown variant"):
    clipping_config.get_config("full")


# Measures --------------------------------------------------------------------------------------

def test_stable_norm_does_not_underflow():
  x = np.full((30, 7), 3e-25, np.float32)
  x[0, 0] = -4e-24
  expected = np.linalg.norm(x.astype(np.float64))
  assert float(jnp.sqrt(jnp.sum(jnp.square(jnp.asarray(x))))) == 0.0  # the naive norm does
  assert float(clipping.stable_norm(x)) == pytest.approx(expected, rel=1e-5)
  assert float(clipping.stable_norm(np.zeros(3))) == 0.0
  assert float(clipping.stable_norm(np.array([3.0, -4.0]))) == pytest.approx(5.0)


def _manual_critic(layers, x):
  """The toy critic written out: ReLU(x W + b) for every layer but the last, which is linear."""
  h = x
  for w, b in layers[:-1]:
    h = jnp.maximum(h @ w + b[None, :], 0.0)
  w, b = layers[-1]
  return (h @ w + b[None, :])[:, 0]


@pytest.mark.parametrize("name", ["deep_clip_0_01", "deep_penalty"])
def test_layer_gradient_norms_against_a_loss_written_out(name):
  config = clipping_config.get_config("quick")
  spec = experiment.build(experiment.variant(config, name)).spec
  key_init, key_real, key_noise, key_gp = jax.random.split(jax.random.key(3), 4)
  params = spec.critic.init(key_init, jnp.zeros((1, 2)))["params"]
  real = jax.random.normal(key_real, (24, 2))
  fake = real + jax.random.normal(key_noise, (24, 2))
  names = clipping.dense_layers(params)
  assert names == [f"Dense_{i}" for i in range(len(params))]

  def loss(layers):
    f = lambda x: _manual_critic(layers, x)
    total = jnp.mean(f(fake)) - jnp.mean(f(real))
    if name == "deep_penalty":
      eps = jax.random.uniform(key_gp, (24,))[:, None]
      between = eps * real + (1 - eps) * fake
      norms = jnp.sqrt(jnp.sum(jnp.square(jax.grad(lambda x: jnp.sum(f(x)))(between)), axis=1))
      total = total + 0.1 * jnp.mean(jnp.square(norms - 1.0))
    return total

  layers = [(params[n]["kernel"], params[n]["bias"]) for n in names]
  expected = jax.grad(loss)(layers)
  grads, _ = jax.grad(lambda p: clipping.critic_loss(spec, p, real, fake, key_gp),
                      has_aux=True)(params)
  kernel_L, bias_L = clipping.layer_norms(grads)
  np.testing.assert_allclose(kernel_L, [np.linalg.norm(np.asarray(w)) for w, _ in expected],
                             rtol=1e-4)
  np.testing.assert_allclose(bias_L, [np.linalg.norm(np.asarray(b)) for _, b in expected],
                             rtol=1e-4)


def test_log_trend_fits_the_hidden_layers_only():
  layers = np.arange(1, 14)
  norms = 10.0 ** (0.3 * layers - 2)
  norms[0], norms[-1] = 1e9, 1e-9  # the input and output layers are left out of the fit
  trend = clipping.log_trend(norms)
  assert trend["slope"] == pytest.approx(0.3)
  assert trend["change"] == pytest.approx(0.3 * 10)  # over the 11 hidden-to-hidden layers
  assert trend["r2"] == pytest.approx(1.0)
  noisy = 10.0 ** (np.array([0, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, 0]) * 0.4)
  assert clipping.log_trend(noisy)["r2"] < 0.2
  assert math.isnan(clipping.log_trend(np.array([1.0, 0.0, 1.0, 1.0]))["slope"])


def test_fraction_at_edge_on_hand_made_weights():
  weights = [np.array([0.01, -0.01, 0.00995, -0.0098, 0.0, 0.005])]
  assert clipping.fraction_at_edge(weights, 0.01) == pytest.approx(3 / 6)
  # Without an edge, each array's own largest |w|: 1 and 0.995 (>= 0.99) of [1, 0.995, 0.5],
  # and all three of [2, -2, 1.99] (1.99 >= 0.99 x 2).
  own = [np.array([1.0, 0.995, 0.5]), np.array([2.0, -2.0, 1.99])]
  assert clipping.fraction_at_edge(own) == pytest.approx(5 / 6)
  assert clipping.fraction_at_edge([np.array([[2.0, -2.0], [1.5, 0.0]])]) == pytest.approx(0.5)


def test_quadratic_unexplained_scores_low_order_surfaces_as_simple():
  xs = np.linspace(-3, 3, 40)
  x, y = np.meshgrid(xs, xs, indexing="ij")
  assert clipping.quadratic_unexplained(2 * x - y + 1, xs, xs) == pytest.approx(0.0, abs=1e-12)
  assert clipping.quadratic_unexplained(x * x - 3 * x * y, xs, xs) == pytest.approx(0.0,
                                                                                   abs=1e-12)
  bumpy = np.sin(3 * x) * np.cos(3 * y)
  assert clipping.quadratic_unexplained(bumpy, xs, xs) > 0.9
  # A cone (distance to the origin) is mostly but not wholly quadratic.
  cone = -np.sqrt(x * x + y * y)
  assert 0.0 < clipping.quadratic_unexplained(cone, xs, xs) < 0.2
  # x indexes the first axis: a surface varying along x alone is not mistaken for one along y.
  assert clipping.quadratic_unexplained(x ** 3, xs, xs) == pytest.approx(
      clipping.quadratic_unexplained(y.T ** 3, xs, xs))


def test_noisy_copy_adds_the_noise_to_each_sample():
  real = jnp.tile(jnp.array([[1.0, -2.0]]), (20000, 1))
  fake = clipping.noisy_copy(real, jax.random.key(0), 0.5)
  np.testing.assert_allclose(np.std(np.asarray(fake - real), axis=0), 0.5, rtol=0.03)
  np.testing.assert_allclose(np.mean(np.asarray(fake), axis=0), [1.0, -2.0], atol=0.02)


def test_population_refuses_runs_that_differ_in_the_critic():
  config = clipping_config.get_config("quick")
  runs = [experiment.build(experiment.variant(config, name))
          for name in ("deep_clip_0_1", "surface_clip")]
  with pytest.raises(ValueError, match="share their critic"):
    clipping.population(runs)


# Verdicts --------------------------------------------------------------------------------------

def test_depth_trend_rules():
  assert clipping.depth_trend(-1.5, 0.9) == "explodes"
  assert clipping.depth_trend(2.0, 0.95) == "vanishes"
  assert clipping.depth_trend(0.9, 0.99) == "flat"
  assert clipping.depth_trend(-0.5, 0.1) == "flat"
  assert clipping.depth_trend(-3.0, 0.5) == "not geometric"
  assert clipping.depth_trend(math.nan, 1.0) == "not finite"


def _measurements(changes: dict, r2: float = 0.95, ratios=((0.5, 0.95),) * 3,
                  unexplained=((0.01, 0.1),) * 3, at_edge=(0.9, 0.01)) -> dict:
  """A hand-made ``clipping.measure`` result with the numbers the claims read."""
  deep = {}
  for clip, change in changes.items():
    trend = {"slope": change / 10, "change": change, "r2": r2}
    deep[clip] = {"kernel_trend": trend, "bias_trend": trend, "estimate": 1.0}
  surfaces = {"surface_clip": {}, "surface_penalty": {}}
  for d, dataset in enumerate(("ring8", "grid25", "swissroll")):
    for k, name in enumerate(surfaces):
      surfaces[name][dataset] = {"normalised_ratio": ratios[d][k],
                                 "unexplained": unexplained[d][k], "at_edge": at_edge[k],
                                 "at_edge_after_one_step": 0.9}
  return {"surfaces": surfaces, "deep": deep}


def _verdicts(m: dict) -> list[str]:
  return [c.verdict for c in clipping._claims(m)]


def test_claims_hold_on_the_paper_s_numbers():
  m = _measurements({"0.1": -5.0, "0.01": 8.0, "0.001": 15.0, "None": 0.3})
  assert _verdicts(m) == ["holds"] * 6


def test_claims_fail_on_contrary_numbers():
  m = _measurements({"0.1": -0.2, "0.01": 0.5, "0.001": -4.0, "None": 3.0},
                    ratios=((0.99, 0.5),) * 3, unexplained=((0.2, 0.1),) * 3,
                    at_edge=(0.3, 0.01))
  assert _verdicts(m) == ["does not hold"] * 6


def test_claims_are_unclear_on_mixed_numbers():
  m = _measurements({"0.1": -5.0, "0.01": 8.0, "0.001": 15.0, "None": 0.3}, r2=0.5,
                    ratios=((0.5, 0.95), (0.99, 0.5), (0.5, 0.95)),
                    unexplained=((0.01, 0.1), (0.2, 0.1), (0.01, 0.1)))
  verdicts = _verdicts(m)
  # R² 0.5: a change of several decades that is not geometric; the penalty's stays flat.
  assert verdicts[:3] == ["unclear", "unclear", "holds"]
  assert verdicts[4:] == ["unclear", "unclear"]  # two datasets of three
  # The penalised weights at the edge of their range: no spread.
  assert _verdicts(_measurements({"0.1": -5.0, "0.01": 8.0, "0.001": 15.0, "None": 0.3},
                                 at_edge=(0.9, 0.2)))[3] == "does not hold"

