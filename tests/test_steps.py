"""The jitted steps: purity, no recompilation, the critic schedule, and what each step updates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wgan_jax import models
from wgan_jax import optim
from wgan_jax import steps as steps_lib
from wgan_jax.data import toy


def toy_spec(method="wgan", **kwargs):
  gen_cfg, critic_cfg = optim.PAPER_OPTIMIZERS[method]
  critic = models.MLPAutoencoder((16,)) if method == "ebgan" else models.MLP((16, 16), 1)
  defaults = dict(generator=models.MLP((16, 16), 2), critic=critic,
                  generator_tx=optim.make_optimizer(gen_cfg),
                  critic_tx=optim.make_optimizer(critic_cfg),
                  objective=steps_lib.Objective(method), sample_real=toy.get_dataset("ring8").sample,
                  noise_dim=2, batch_size=32)
  return steps_lib.GANSpec(**{**defaults, **kwargs})


def image_spec(method="wgan", norm="batch"):
  """Tiny 16x16 DCGAN with BatchNorm in both networks."""
  gen_cfg, critic_cfg = optim.PAPER_OPTIMIZERS[method]
  return steps_lib.GANSpec(
      generator=models.DCGANGenerator(16, 1, nz=4, features=4),
      critic=models.DCGANCritic(16, 1, features=4, norm=norm),
      generator_tx=optim.make_optimizer(gen_cfg), critic_tx=optim.make_optimizer(critic_cfg),
      objective=steps_lib.Objective(method),
      sample_real=lambda key, n: jnp.tanh(jax.random.normal(key, (n, 16, 16, 1))),
      noise_dim=4, batch_size=8)


def assert_trees_equal(a, b):
  jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.mark.parametrize("method", steps_lib.METHODS)
def test_train_step_is_pure_and_compiles_once(method):
  steps = steps_lib.make_steps(toy_spec(method))
  state = steps.init(jax.random.key(0))
  key = jax.random.key(1)
  first, metrics_1 = steps.train_step(state, key)
  again, metrics_2 = steps.train_step(state, key)
  assert_trees_equal(first, again)
  assert_trees_equal(metrics_1, metrics_2)
  second, _ = steps.train_step(first, key)
  assert steps.train_step._cache_size() == 1
  assert int(second.step) == 2
  # The step number is folded into the key: the second step draws other batches.
  assert not np.allclose(metrics_1["critic_loss"], steps.train_step(first, key)[1]["critic_loss"])


def test_train_steps_scans_the_same_steps():
  steps = steps_lib.make_steps(toy_spec("wgan-gp"))
  state, key = steps.init(jax.random.key(0)), jax.random.key(5)
  looped = state
  for _ in range(3):
    looped, last = steps.train_step(looped, key)
  scanned, metrics = steps.train_steps(state, key, 3)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), looped, scanned)
  assert metrics["critic_loss"].shape == (3,)
  np.testing.assert_allclose(metrics["critic_loss"][-1], last["critic_loss"], rtol=1e-5)


def test_wgan_critic_parameters_stay_clipped():
  steps = steps_lib.make_steps(image_spec("wgan"))
  state = steps.init(jax.random.key(0))
  state, _ = steps.critic_step(state, jax.random.key(1))
  leaves = jax.tree.leaves(state.critic_params)
  assert any(leaf.size > 1 for leaf in leaves)
  for leaf in leaves:  # BatchNorm scales (initialised near 1) included
    assert float(jnp.max(jnp.abs(leaf))) <= np.float32(0.01)


def test_generator_step_leaves_the_critic_alone():
  steps = steps_lib.make_steps(image_spec("wgan"))
  state = steps.init(jax.random.key(0))
  state, _ = steps.critic_step(state, jax.random.key(1))  # non-trivial BatchNorm statistics
  after, _ = steps.generator_step(state, jax.random.key(2))
  assert_trees_equal(after.critic_params, state.critic_params)
  assert_trees_equal(after.critic_stats, state.critic_stats)
  assert_trees_equal(after.critic_opt_state, state.critic_opt_state)
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), after.generator_params,
                         state.generator_params)
  assert any(jax.tree.leaves(changed))


def test_critic_step_leaves_generator_parameters_alone():
  steps = steps_lib.make_steps(image_spec("gan"))
  state = steps.init(jax.random.key(0))
  after, _ = steps.critic_step(state, jax.random.key(1))
  assert_trees_equal(after.generator_params, state.generator_params)
  assert_trees_equal(after.generator_opt_state, state.generator_opt_state)
  assert not np.array_equal(jax.tree.leaves(after.critic_stats)[0],
                            jax.tree.leaves(state.critic_stats)[0])


def test_official_schedule():
  spec = toy_spec("wgan", official_schedule=True)
  expected = {0: 100, 24: 100, 25: 5, 499: 5, 500: 100, 501: 5, 1000: 100}
  for step, n in expected.items():
    assert int(steps_lib.critic_iterations(spec, jnp.asarray(step))) == n
  assert int(steps_lib.critic_iterations(toy_spec("wgan"), jnp.asarray(0))) == 5


def test_official_schedule_runs_that_many_critic_updates():
  # Adam counts its updates: read the count after steps at generator iterations 0 and 30.
  spec = toy_spec("wgan-gp", official_schedule=True)
  steps = steps_lib.make_steps(spec)
  state = steps.init(jax.random.key(0))
  count = lambda s: int(s.critic_opt_state[0].count)
  state, metrics = steps.train_step(state, jax.random.key(1))
  assert count(state) == 100 and int(metrics["critic_iters"]) == 100
  state, metrics = steps.train_step(state._replace(step=jnp.asarray(30, jnp.int32)),
                                    jax.random.key(1))
  assert count(state) == 105 and int(metrics["critic_iters"]) == 5


def test_over_seeds_matches_each_seed_alone():
  steps = steps_lib.make_steps(toy_spec("wgan", official_schedule=True))
  keys = jax.random.split(jax.random.key(0), 2)
  run = jax.jit(steps_lib.over_seeds(steps.train_steps), static_argnums=2)
  state = steps_lib.init_over_seeds(steps.init, keys)
  batched, metrics = run(state, keys, 2)
  assert batched.step.shape == () and metrics["critic_loss"].shape == (2, 2)
  for i in range(2):
    alone, _ = steps.train_steps(steps.init(keys[i]), keys[i], 2)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, rtol=1e-4, atol=1e-6),
                 batched._replace(step=batched.step[None].repeat(2)), alone)


def test_gradient_penalty_refuses_a_batchnorm_critic():
  with pytest.raises(ValueError, match="BatchNorm"):
    steps_lib.make_steps(image_spec("wgan-gp", norm="batch")).init(jax.random.key(0))
  steps = steps_lib.make_steps(image_spec("wgan-gp", norm="layer"))
  _, metrics = steps.train_step(steps.init(jax.random.key(0)), jax.random.key(1))
  assert float(metrics["gradient_penalty"]) > 0


def test_invalid_specs():
  with pytest.raises(ValueError, match="n_critic"):
    toy_spec(n_critic=0)
  with pytest.raises(ValueError, match="batch_size"):
    toy_spec(batch_size=0)
  with pytest.raises(ValueError, match="unknown method"):
    steps_lib.Objective("vae")


def test_estimates():
  steps = steps_lib.make_steps(toy_spec("gan"))
  _, metrics = steps.train_step(steps.init(jax.random.key(0)), jax.random.key(1))
  assert float(metrics["estimate"]) <= np.log(2) + 1e-6  # ½L + log 2 is at most log 2
  steps = steps_lib.make_steps(toy_spec("ebgan"))
  _, metrics = steps.train_step(steps.init(jax.random.key(0)), jax.random.key(1))
  assert np.isnan(metrics["estimate"])


def test_data_passed_as_an_argument():
  # A sampler over an in-memory set: the set is an argument of the compiled step, not a constant.
  images = jnp.arange(10.0)[:, None].repeat(2, axis=1)  # ten distinct 2-D points
  spec = toy_spec("wgan", sample_real=lambda key, n, data: data[jax.random.randint(key, (n,), 0, 10)])
  steps = steps_lib.make_steps(spec)
  state = steps.init(jax.random.key(0))
  a, _ = steps.train_steps(state, jax.random.key(1), 2, images)
  b, _ = steps.train_steps(state, jax.random.key(1), 2, images + 1.0)
  assert steps.train_steps._cache_size() == 1  # new data, same program
  assert not np.allclose(a.critic_params["Dense_0"]["kernel"], b.critic_params["Dense_0"]["kernel"])
