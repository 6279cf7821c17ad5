"""The clipping part (wgan_jax/paper/clipping.py, clipping_measures.py, clipping_critics.py): its
measures against independent computations, its verdicts on hand-made numbers and its config
(wgan_jax/configs/clipping.py) against the paper, with the check of its section (its quick run
is in test_paper_new_parts.py)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wgan_jax import checks
from wgan_jax import experiment
from wgan_jax.configs import clipping as clipping_config
from wgan_jax.configs import lines as lines_config
from wgan_jax.paper import clipping
from wgan_jax.paper import clipping_critics as critics
from wgan_jax.paper import clipping_measures as measures


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
  # The surface critics train to convergence under the rule the lines part's critics follow,
  # not for a budget of ours.
  lines = lines_config.get_config().lines
  assert (config.clipping.check_every, config.clipping.max_steps) == (500, 10_000)
  assert (config.clipping.check_every, config.clipping.max_steps) == (lines.check_every,
                                                                      lines.max_steps)


def test_quick_variant_is_small_and_unknown_variants_are_refused():
  quick = clipping_config.get_config("quick")
  assert quick.critic.hidden <= 16 and quick.clipping.max_steps <= 10
  with pytest.raises(ValueError, match="unknown variant"):
    clipping_config.get_config("full")


@pytest.mark.parametrize("variant", ["", "quick"])
def test_check_passes_the_configs(variant):
  clipping_config.check(clipping_config.get_config(variant))


@pytest.mark.parametrize("change, message", [
    (dict(check_every=3, max_steps=9), r"check_every \(3\) must be even and divide"),
    (dict(check_every=4, max_steps=10), r"check_every \(4\) must be even and divide"),
    (dict(grid=0), r"--config.clipping.grid must be at least 1"),
    (dict(eval_samples=1), r"--config.clipping.eval_samples must be at least 2"),
    (dict(seed=-1), r"--config.clipping.seed must be at least 0"),
    (dict(noise_std=0.0), r"--config.clipping.noise_std must be a finite number above 0"),
    (dict(datasets="ring8,moons"), r"unknown toy set 'moons'; choose from ring8, grid25"),
])
def test_check_refuses_a_section_that_cannot_run(change, message):
  config = clipping_config.get_config("quick")
  config.clipping.update(change)
  with pytest.raises(checks.ConfigError, match=message):
    clipping_config.check(config)


def test_check_refuses_a_deep_critic_too_shallow_for_a_trend():
  config = clipping_config.get_config("quick")
  config.variants[clipping_config.deep_variant(0.01)].critic.depth = 1
  with pytest.raises(checks.ConfigError, match="the deep critics need at least 2 hidden layers"):
    clipping_config.check(config)


def test_run_refuses_a_section_that_cannot_run_before_writing(tmp_path):
  # Through checks.check_config, which checks the part's section with clipping_config.check.
  config = clipping_config.get_config("quick")
  config.clipping.check_every = 3
  with pytest.raises(checks.ConfigError, match="--config.clipping.check_every"):
    clipping.run(str(tmp_path / "part"), config=config)
  assert not (tmp_path / "part").exists()


# Measures --------------------------------------------------------------------------------------

def test_stable_norm_does_not_underflow():
  x = np.full((30, 7), 3e-25, np.float32)
  x[0, 0] = -4e-24
  expected = np.linalg.norm(x.astype(np.float64))
  assert float(jnp.sqrt(jnp.sum(jnp.square(jnp.asarray(x))))) == 0.0  # the naive norm does
  assert float(measures.stable_norm(x)) == pytest.approx(expected, rel=1e-5)
  assert float(measures.stable_norm(np.zeros(3))) == 0.0
  assert float(measures.stable_norm(np.array([3.0, -4.0]))) == pytest.approx(5.0)


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
  names = measures.dense_layers(params)
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
  grads, _ = jax.grad(lambda p: critics.critic_loss(spec, p, real, fake, key_gp),
                      has_aux=True)(params)
  kernel_L, bias_L = measures.layer_norms(grads)
  np.testing.assert_allclose(kernel_L, [np.linalg.norm(np.asarray(w)) for w, _ in expected],
                             rtol=1e-4)
  np.testing.assert_allclose(bias_L, [np.linalg.norm(np.asarray(b)) for _, b in expected],
                             rtol=1e-4)


def test_log_trend_on_geometric_and_noisy_series():
  layers = np.arange(1, 13)
  trend = measures.log_trend(10.0 ** (0.3 * layers - 2))
  assert trend["slope"] == pytest.approx(0.3)
  assert trend["change"] == pytest.approx(0.3 * 11)  # over the 12 layers it is given
  assert trend["r2"] == pytest.approx(1.0)
  noisy = 10.0 ** (np.array([0, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 0]) * 0.4)
  assert measures.log_trend(noisy)["r2"] < 0.2
  assert math.isnan(measures.log_trend(np.array([1.0, 0.0, 1.0, 1.0]))["slope"])


def _dense(*layers):
  """Params of a toy critic (models.MLP) from (kernel, bias) pairs, input to output."""
  return {f"Dense_{i}": {"kernel": jnp.asarray(w, jnp.float32), "bias": jnp.asarray(b, jnp.float32)}
          for i, (w, b) in enumerate(layers)}


def test_activation_gradient_norms_of_a_linear_network_by_hand():
  # Positive inputs, weights and biases: every ReLU passes its input, the network is linear,
  # f(x) = ((x W1 + b1) W2 + b2) w3 + b3, and for L = mean f(fake) - mean f(real) each row of
  # ∂L/∂h2 is ±w3 / B and each row of ∂L/∂h1 is ±(W2 w3) / B (- for real, + for fake).
  rng = np.random.default_rng(0)
  w1, b1 = rng.uniform(0.1, 1, (2, 3)), rng.uniform(0.1, 1, 3)
  w2, b2 = rng.uniform(0.1, 1, (3, 4)), rng.uniform(0.1, 1, 4)
  w3, b3 = rng.normal(size=(4, 1)), np.array([0.3])
  real, fake = rng.uniform(0, 1, (5, 2)), rng.uniform(0, 2, (5, 2))
  sign_N = np.concatenate([-np.ones(5), np.ones(5)])[:, None] / 5
  grad_h2 = sign_N * w3[:, 0][None, :]  # (2B, 4)
  grad_h1 = sign_N * (w2 @ w3)[:, 0][None, :]  # (2B, 3)
  expected = [np.linalg.norm(grad_h1), np.linalg.norm(grad_h2)]
  assert expected[1] == pytest.approx(np.linalg.norm(w3) * np.sqrt(2 / 5))
  spec = experiment.build(experiment.variant(clipping_config.get_config("quick"),
                                             "deep_clip_0_1")).spec
  params = _dense((w1, b1), (w2, b2), (w3, b3))
  np.testing.assert_allclose(
      measures.activation_gradient_norms(spec, params, jnp.asarray(real, jnp.float32),
                                         jnp.asarray(fake, jnp.float32)), expected, rtol=1e-5)


def test_activation_gradient_norms_with_relu_masks_by_hand():
  # Random signs: backpropagation through the masks written out in numpy.
  rng = np.random.default_rng(1)
  w1, b1, w2, b2 = rng.normal(size=(2, 6)), rng.normal(size=6), rng.normal(size=(6, 5)), \
      rng.normal(size=5)
  w3, b3 = rng.normal(size=(5, 1)), rng.normal(size=1)
  real, fake = rng.normal(size=(7, 2)), rng.normal(size=(7, 2))
  x = np.concatenate([real, fake])
  a1 = x @ w1 + b1
  a2 = np.maximum(a1, 0) @ w2 + b2
  sign_N = np.concatenate([-np.ones(7), np.ones(7)])[:, None] / 7
  grad_h2 = sign_N * w3[:, 0][None, :]
  grad_h1 = (grad_h2 * (a2 > 0)) @ w2.T
  assert 0 < np.mean(a2 > 0) < 1  # some units off, some on: the masks matter
  spec = experiment.build(experiment.variant(clipping_config.get_config("quick"),
                                             "deep_penalty")).spec
  norms = measures.activation_gradient_norms(
      spec, _dense((w1, b1), (w2, b2), (w3, b3)), jnp.asarray(real, jnp.float32),
      jnp.asarray(fake, jnp.float32))
  np.testing.assert_allclose(norms, [np.linalg.norm(grad_h1), np.linalg.norm(grad_h2)],
                             rtol=1e-5)


def test_the_written_out_critic_is_the_model():
  config = clipping_config.get_config("quick")
  spec = experiment.build(experiment.variant(config, "deep_clip_0_01")).spec
  params = spec.critic.init(jax.random.key(0), jnp.zeros((1, 2)))["params"]
  x = jax.random.normal(jax.random.key(1), (9, 2))
  deltas = [jnp.zeros((9, params[n]["kernel"].shape[1]))
            for n in measures.dense_layers(params)[:-1]]
  np.testing.assert_allclose(measures.perturbed_scores(params, x, deltas),
                             spec.critic.apply({"params": params}, x), rtol=1e-5, atol=1e-7)


def test_sample_box_spans_both_sets_with_its_margin():
  real = np.array([[0.0, 0.0], [1.0, 2.0]])
  fake = np.array([[-1.0, 4.0], [0.5, 1.0]])
  # Spans x in [-1, 1] (side 2) and y in [0, 4] (side 4): widened by 5% of each side.
  low, high = measures.sample_box(real, fake)
  np.testing.assert_allclose(low, [-1.1, -0.2], rtol=1e-6)
  np.testing.assert_allclose(high, [1.1, 4.2], rtol=1e-6)
  assert measures.BOX_MARGIN == 0.05
  low, high = measures.sample_box(fake, real, margin=0.0)  # the order of the sets is no matter
  np.testing.assert_allclose(low, [-1.0, 0.0])
  np.testing.assert_allclose(high, [1.0, 4.0])


def test_fraction_at_edge_on_hand_made_weights():
  weights = [np.array([0.01, -0.01, 0.00995, -0.0098, 0.0, 0.005])]
  assert measures.fraction_at_edge(weights, 0.01) == pytest.approx(3 / 6)
  # Without an edge, each array's own largest |w|: 1 and 0.995 (>= 0.99) of [1, 0.995, 0.5],
  # and all three of [2, -2, 1.99] (1.99 >= 0.99 x 2).
  own = [np.array([1.0, 0.995, 0.5]), np.array([2.0, -2.0, 1.99])]
  assert measures.fraction_at_edge(own) == pytest.approx(5 / 6)
  assert measures.fraction_at_edge([np.array([[2.0, -2.0], [1.5, 0.0]])]) == pytest.approx(0.5)


def test_quadratic_unexplained_scores_low_order_surfaces_as_simple():
  xs = np.linspace(-3, 3, 40)
  x, y = np.meshgrid(xs, xs, indexing="ij")
  assert measures.quadratic_unexplained(2 * x - y + 1, xs, xs) == pytest.approx(0.0, abs=1e-12)
  assert measures.quadratic_unexplained(x * x - 3 * x * y, xs, xs) == pytest.approx(0.0,
                                                                           abs=1e-12)
  bumpy = np.sin(3 * x) * np.cos(3 * y)
  assert measures.quadratic_unexplained(bumpy, xs, xs) > 0.9
  # A cone (distance to the origin) is mostly but not wholly quadratic.
  cone = -np.sqrt(x * x + y * y)
  assert 0.0 < measures.quadratic_unexplained(cone, xs, xs) < 0.2
  # x indexes the first axis: a surface varying along x alone is not mistaken for one along y.
  assert measures.quadratic_unexplained(x ** 3, xs, xs) == pytest.approx(
      measures.quadratic_unexplained(y.T ** 3, xs, xs))


def test_noisy_copy_adds_the_noise_to_each_sample():
  real = jnp.tile(jnp.array([[1.0, -2.0]]), (20000, 1))
  fake = critics.noisy_copy(real, jax.random.key(0), 0.5)
  np.testing.assert_allclose(np.std(np.asarray(fake - real), axis=0), 0.5, rtol=0.03)
  np.testing.assert_allclose(np.mean(np.asarray(fake), axis=0), [1.0, -2.0], atol=0.02)


def test_population_refuses_runs_that_differ_in_the_critic():
  config = clipping_config.get_config("quick")
  runs = [experiment.build(experiment.variant(config, name))
          for name in ("deep_clip_0_1", "surface_clip")]
  with pytest.raises(ValueError, match="share their critic"):
    critics.population(runs)


# Verdicts --------------------------------------------------------------------------------------

def test_depth_trend_rules():
  assert clipping.depth_trend(-1.5, 0.9) == "explodes"
  assert clipping.depth_trend(2.0, 0.95) == "vanishes"
  assert clipping.depth_trend(0.9, 0.99) == "flat"
  assert clipping.depth_trend(-0.5, 0.1) == "flat"
  assert clipping.depth_trend(-3.0, 0.5) == "not geometric"
  assert clipping.depth_trend(math.nan, 1.0) == "not finite"


def _measurements(changes: dict, r2: float = 0.95, ratios=((0.5, 0.95),) * 3,
                  unexplained=((0.01, 0.1),) * 3, at_edge=(0.9, 0.01),
                  not_converged=()) -> dict:
  """A hand-made ``clipping_critics.measure`` result with the numbers the claims read; the surface
  critics (name, dataset) in ``not_converged`` reached the cap."""
  deep = {}
  for clip, change in changes.items():
    trend = {"slope": change / 11, "change": change, "r2": r2}
    # The weight gradients' trend says the opposite: the claims must not read it.
    deep[clip] = {"activation_trend": trend, "kernel_trend": {**trend, "change": -change},
                  "estimate": 1.0}
  surfaces = {"surface_clip": {}, "surface_penalty": {}}
  for d, dataset in enumerate(("ring8", "grid25", "swissroll")):
    for k, name in enumerate(surfaces):
      surfaces[name][dataset] = {"normalised_ratio": ratios[d][k],
                                 "unexplained": unexplained[d][k], "at_edge": at_edge[k],
                                 "at_edge_after_one_step": 0.9,
                                 "converged_at": None if (name, dataset) in not_converged
                                 else 1500}
  return {"surfaces": surfaces, "deep": deep, "max_steps": 10_000}


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



def test_a_critic_that_did_not_converge_leaves_the_claims_on_it_unclear():
  paper = {"0.1": -5.0, "0.01": 8.0, "0.001": 15.0, "None": 0.3}
  # The clipped grid25 critic reached the cap: the two claims over every set turn unclear; the
  # weights' claim reads swissroll only, and the deep critics' claims none of them.
  m = _measurements(paper, not_converged=[("surface_clip", "grid25")])
  assert _verdicts(m) == ["holds"] * 4 + ["unclear"] * 2
  claims = clipping._claims(m)
  assert "not converged within 10,000 steps: clipped on grid25" in claims[4].number
  m = _measurements(paper, not_converged=[("surface_penalty", "swissroll")])
  assert _verdicts(m) == ["holds"] * 3 + ["unclear"] * 3
  # It also overrides a "does not hold": an unconverged critic cannot refute a claim about the
  # optimum either.
  m = _measurements(paper, ratios=((0.99, 0.5),) * 3, unexplained=((0.2, 0.1),) * 3,
                    not_converged=[("surface_penalty", "ring8")])
  assert _verdicts(m)[4:] == ["unclear", "unclear"]
  table = clipping._table({**m, "surfaces": {
      name: {d: {**s, "estimate": 1.0, "w1": 1.0, "ratio": 1.0, "lipschitz": 1.0,
                 "change_last_half": 0.0, "box": [[-1.0, 1.0], [-2.0, 2.0]],
                 "weight_std_over_edge": 1.0}
             for d, s in sets.items()} for name, sets in m["surfaces"].items()},
      "deep": {}})
  assert "not converged" in table and "[-1.0, 1.0] × [-2.0, 2.0]" in table
