"""wgan_jax/paper/adam.py, its config's check and the cosine metric of wgan_jax/steps.py: the
cosine against values worked out by hand, the config's own rules, and a quick run (the episodes
and verdicts are in test_paper_adam_episodes.py)."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wgan_jax import checks
from wgan_jax import models
from wgan_jax import optim
from wgan_jax import steps as steps_lib
from wgan_jax.configs import adam as adam_config
from wgan_jax.data import toy
from wgan_jax.paper import PartResult
from wgan_jax.paper import adam
from wgan_jax.paper import adam_figures


def grads_and_params(seed=0):
  rng = np.random.default_rng(seed)
  params = {"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
            "b": jnp.asarray(rng.normal(size=(5,)), jnp.float32)}
  grads = {"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
           "b": jnp.asarray(rng.normal(size=(5,)), jnp.float32)}
  return grads, params


def flat(tree):
  return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)])


def sign_cosine(g):
  """cos(-sign(g), -g) = sum |g| / (sqrt(n) |g|): the cosine of a sign step."""
  return np.abs(g).sum() / (math.sqrt(g.size) * np.linalg.norm(g))


def test_cosine_of_sgd_is_one_and_of_ascent_minus_one():
  grads, params = grads_and_params()
  for lr, expected in ((0.1, 1.0), (-0.1, -1.0)):  # a negative rate climbs the gradient
    tx = optim.with_update_cosine(optax.sgd(lr))
    _, state = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(float(state.update_cosine), expected, rtol=1e-6)


def test_cosine_of_adams_first_step_is_that_of_the_gradients_sign():
  # Bias-corrected, Adam's first step is -lr g / (|g| + eps), about -lr sign(g).
  grads, params = grads_and_params(1)
  tx = optim.with_update_cosine(optax.adam(1e-3, b1=0.5, eps=1e-8))
  _, state = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(float(state.update_cosine), sign_cosine(flat(grads)), rtol=1e-5)


def test_cosine_turns_negative_when_momentum_outweighs_a_reversed_gradient():
  # b1 = 0.9: after g, a gradient -0.05 g leaves momentum 0.09 g - 0.005 g = 0.085 g, so the
  # step still goes along -sign(g) while the descent direction is now +g.
  grads, params = grads_and_params(2)
  tx = optim.with_update_cosine(optax.adam(1e-3, b1=0.9))
  _, state = tx.update(grads, tx.init(params), params)
  reversed_grads = jax.tree.map(lambda g: -0.05 * g, grads)
  _, state = tx.update(reversed_grads, state, params)
  np.testing.assert_allclose(float(state.update_cosine), -sign_cosine(flat(grads)), rtol=1e-4)


def test_rmsprop_cosine_is_positive_by_construction():
  rng = np.random.default_rng(3)
  _, params = grads_and_params()
  tx = optim.with_update_cosine(optim.torch_rmsprop(1e-2))
  state = tx.init(params)
  for _ in range(20):  # arbitrary gradients, momentum-free: always a positive rescaling
    grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape) * 10 ** rng.uniform(-3, 3),
                                               jnp.float32), params)
    _, state = tx.update(grads, state, params)
    assert float(state.update_cosine) > 0


def toy_spec(critic_tx, **kwargs):
  return steps_lib.GANSpec(
      generator=models.MLP((8,), 2), critic=models.MLP((8,), 1), generator_tx=optax.sgd(1e-3),
      critic_tx=critic_tx, objective=steps_lib.Objective("wgan"),
      sample_real=toy.get_dataset("ring8").sample, noise_dim=2, batch_size=16,
      log_update_cosine=True, **kwargs)


def test_training_step_returns_one_cosine_per_critic_update_before_clipping():
  # SGD inside the clipping: the step before the projection is exactly -lr * gradient, even
  # though the clipping (c small) changes what is applied.
  # With the official schedule, generator iteration 0 runs 7 critic updates and iteration 30
  # runs 3: both report the cosines of the last 3.
  tx = optax.chain(optim.with_update_cosine(optax.sgd(0.5)), optim.clip_params(0.05))
  steps = steps_lib.make_steps(
      toy_spec(tx, n_critic=3, official_schedule=True, warmup_critic_iters=7))
  state = steps.init(jax.random.key(0))
  for step in (0, 30):
    _, metrics = steps.train_step(state._replace(step=jnp.asarray(step, jnp.int32)),
                                  jax.random.key(1))
    assert int(metrics["critic_iters"]) == (7 if step == 0 else 3)
    cosines = [float(metrics[f"update_cosine_{i}"]) for i in range(3)]
    assert "update_cosine_3" not in metrics
    np.testing.assert_allclose(cosines, 1.0, rtol=1e-5)


def test_log_update_cosine_needs_the_wrapper():
  steps = steps_lib.make_steps(toy_spec(optax.sgd(0.1)))
  with pytest.raises(ValueError, match="with_update_cosine"):
    steps.train_step(steps.init(jax.random.key(0)), jax.random.key(1))


# The config's own rules --------------------------------------------------------------------------

def test_check_needs_the_baseline_in_both_sweeps_and_a_w1_spacing():
  adam_config.check(adam_config.get_config())
  adam_config.check(adam_config.get_config("quick"))
  for sweep in ("ring8", "mnist"):
    config = adam_config.get_config("quick")
    config.sweeps[sweep].sweep.runs = "adam_b1_0.9"
    with pytest.raises(checks.ConfigError, match=(
        r"^--config.sweeps.<ring8\|mnist>.sweep.runs must include rmsprop; got adam_b1_0.9$")):
      adam_config.check(config)
  config = adam_config.get_config("quick")
  config.sweeps.ring8.eval.w1_every = 0
  with pytest.raises(checks.ConfigError,
                     match="--config.sweeps.ring8.eval.w1_every must be at least 1, got 0"):
    adam_config.check(config)


# A quick run -------------------------------------------------------------------------------------

def test_quick_run_writes_its_result(tmp_path):
  result = adam.run(str(tmp_path), quick=True)
  assert PartResult.from_json((tmp_path / "result.json").read_text()) == result
  assert result.changes == adam.CHANGES
  for figure in result.figures:
    assert os.path.getsize(tmp_path / figure) > 1000
  assert len(result.claims) == 4
  assert all(c.verdict in ("holds", "does not hold", "unclear") for c in result.claims)
  rows = [line for line in result.table_md.splitlines() if line.startswith("| ring8 |")
          or line.startswith("| mnist |")]
  sweeps = adam_config.get_config("quick").sweeps
  ring_runs = sweeps.ring8.sweep.runs.split(",")
  assert len(rows) == len(ring_runs) + len(sweeps.mnist.sweep.runs.split(","))
  with np.load(tmp_path / "ring8_series.npz") as series:
    cosine = series[f"{ring_runs[1]}/seed0/cosine"]
    assert cosine.shape == (sweeps.ring8.schedule.num_steps * 5,)
    assert np.all(np.abs(cosine) <= 1 + 1e-5)
    assert np.all(series["rmsprop/seed0/cosine"] > 0)  # positive by construction
    every = sweeps.ring8.eval.w1_every
    w1_steps = np.arange(0, sweeps.ring8.schedule.num_steps + 1, every)
    np.testing.assert_array_equal(series["rmsprop/seed0/w1_steps"], w1_steps)
    assert np.all(series["rmsprop/seed0/w1"] > 0)


def test_estimate_and_cosine_writes_png(tmp_path):
  steps_T = np.arange(1, 201)
  run = {"name": "rmsprop", "steps": steps_T, "estimate": np.sin(steps_T / 20.0),
         "estimate_name": "EM estimate", "cosine_steps": np.linspace(0, 200, 1000),
         "cosine": np.cos(np.linspace(0, 30, 1000)), "episodes": [(50, 60)],
         "w1_steps": np.arange(0, 201, 50), "w1": np.linspace(1.0, 0.2, 5)}
  path = tmp_path / "cosine.png"
  adam_figures.estimate_and_cosine(path, [run, {**run, "name": "adam"}], title="t")
  assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  with pytest.raises(ValueError, match="at least one run"):
    adam_figures.estimate_and_cosine(tmp_path / "none.png", [])
