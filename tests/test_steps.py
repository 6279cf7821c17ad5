"""The jitted steps: purity, no recompilation, the critic schedule, and what each step updates."""

import dataclasses
import functools
import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
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
      generator=models.DCGANGenerator(16, 1, noise_dim=4, features=4),
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
  assert batched.critic_iter.shape == () and int(batched.critic_iter) == 200  # two warm-ups
  for i in range(2):
    alone, _ = steps.train_steps(steps.init(keys[i]), keys[i], 2)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, rtol=1e-4, atol=1e-6),
                 batched._replace(step=batched.step[None].repeat(2),
                                  critic_iter=batched.critic_iter[None].repeat(2)), alone)


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
  spec = toy_spec("wgan", sample_real=lambda j, n, data: data[(j * n + jnp.arange(n)) % 10])
  steps = steps_lib.make_steps(spec)
  state = steps.init(jax.random.key(0))
  a, _ = steps.train_steps(state, jax.random.key(1), 2, images)
  b, _ = steps.train_steps(state, jax.random.key(1), 2, images + 1.0)
  assert steps.train_steps._cache_size() == 1  # new data, same program
  assert not np.allclose(a.critic_params["Dense_0"]["kernel"], b.critic_params["Dense_0"]["kernel"])



# What the steps optimise, checked against losses written out here. The specs below use plain SGD
# (optax.sgd, no clipping), so that an update is -lr times the gradient, and fixed batches.

REAL = jax.random.normal(jax.random.key(10), (16, 2)) + 1.0
FAKE = 0.5 * jax.random.normal(jax.random.key(11), (16, 2)) - 1.0
SGD_LR = 1e-3


class FixedGenerator(nn.Module):
  """Ignores its noise: the first n rows of FAKE plus an offset (its one parameter, initially 0)."""

  @nn.compact
  def __call__(self, z_BxN, train=True):
    del train
    offset = self.param("offset", nn.initializers.zeros, (FAKE.shape[1],))
    return FAKE[:z_BxN.shape[0]] + offset[None]


def sgd_spec(method="wgan", lr=SGD_LR, **kwargs):
  defaults = dict(generator=FixedGenerator(), critic=models.MLP((8,), 1),
                  generator_tx=optax.sgd(lr), critic_tx=optax.sgd(lr),
                  objective=steps_lib.Objective(method), sample_real=lambda key, n: REAL[:n],
                  noise_dim=2, batch_size=16)
  return steps_lib.GANSpec(**{**defaults, **kwargs})


@functools.lru_cache(maxsize=None)
def sgd_steps(method):
  """(spec, steps, initial state) of ``sgd_spec(method)``, compiled once for the tests below."""
  spec = sgd_spec(method)
  steps = steps_lib.make_steps(spec)
  return spec, steps, steps.init(jax.random.key(0))


def tree_dot(a, b):
  return sum(float(jnp.vdot(x, y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def em_on_batches(critic, params, real, fake):
  """E[f(real)] - E[f(fake)]."""
  return jnp.mean(critic.apply({"params": params}, real)) - jnp.mean(
      critic.apply({"params": params}, fake))


def js_on_batches(critic, params, real, fake):
  """½ (E log D(real) + E log(1 - D(fake))) + log 2, D = sigmoid of the logit."""
  d_real = jax.nn.sigmoid(critic.apply({"params": params}, real))
  d_fake = jax.nn.sigmoid(critic.apply({"params": params}, fake))
  return 0.5 * (jnp.mean(jnp.log(d_real)) + jnp.mean(jnp.log(1.0 - d_fake))) + np.log(2.0)


# The critic's loss is -EM: a step of lr on the estimate; the discriminator's is
# -2 (JS estimate - log 2): a step of 2 lr.
@pytest.mark.parametrize("method, estimate_fn, ascent_rate",
                         [("wgan", em_on_batches, 1.0), ("gan", js_on_batches, 2.0)])
def test_critic_step_raises_its_estimate_on_its_batches(method, estimate_fn, ascent_rate):
  spec, steps, state = sgd_steps(method)
  after, metrics = steps.critic_step(state, jax.random.key(1))
  value_and_grad = jax.jit(jax.value_and_grad(lambda p: estimate_fn(spec.critic, p, REAL, FAKE)))
  before, grad = value_and_grad(state.critic_params)
  np.testing.assert_allclose(metrics["estimate"], before, rtol=1e-5)
  rise = float(value_and_grad(after.critic_params)[0] - before)
  # First order: lr ∇·∇. Swapping real and fake (or the loss's sign) would make it a fall.
  expected = ascent_rate * SGD_LR * tree_dot(grad, grad)
  assert expected > 1e-6
  assert rise > 0
  np.testing.assert_allclose(rise, expected, rtol=0.1)


def test_generator_step_lowers_the_em_estimate():
  # The generator's one parameter is an offset added to FAKE: g(z) does not depend on z.
  spec, steps, state = sgd_steps("wgan")
  after, metrics = steps.generator_step(state, jax.random.key(2))
  critic = lambda x: spec.critic.apply({"params": state.critic_params}, x)  # fixed
  value_and_grad = jax.jit(jax.value_and_grad(
      lambda g: jnp.mean(critic(REAL)) - jnp.mean(critic(spec.generator.apply({"params": g},
                                                                                 FAKE)))))
  before, grad = value_and_grad(state.generator_params)
  np.testing.assert_allclose(metrics["generator_loss"], -jnp.mean(critic(FAKE)), rtol=1e-5)
  fall = float(before - value_and_grad(after.generator_params)[0])
  expected = SGD_LR * tree_dot(grad, grad)
  assert expected > 1e-6
  assert fall > 0  # E f(g(z)) rose
  np.testing.assert_allclose(fall, expected, rtol=0.1)


def test_gradient_penalty_update_is_the_gradient_of_the_penalised_loss():
  lr, gp_weight = 0.1, 10.0
  spec = sgd_spec("wgan-gp", lr)
  steps = steps_lib.make_steps(spec)
  state = steps.init(jax.random.key(0))
  key = jax.random.key(3)
  after, metrics = steps.critic_step(state, key)
  # ε as the step draws it: the third of three keys split from the step's key. The real and fake
  # batches are fixed (REAL, FAKE), so ε is the only draw to reproduce.
  eps_Bx1 = jax.random.uniform(jax.random.split(key, 3)[2], (spec.batch_size,))[:, None]
  interpolates = eps_Bx1 * REAL + (1 - eps_Bx1) * FAKE

  @jax.jit
  def loss_grad(params, weight):
    def loss(params):
      f = lambda x: spec.critic.apply({"params": params}, x)
      grads_BxD = jax.vmap(jax.grad(lambda x: f(x[None])[0]))(interpolates)  # sample by sample
      penalty = jnp.mean(jnp.square(jnp.linalg.norm(grads_BxD, axis=1) - 1.0))
      return jnp.mean(f(FAKE)) - jnp.mean(f(REAL)) + weight * penalty, penalty
    return jax.grad(loss, has_aux=True)(params)

  grad, penalty = loss_grad(state.critic_params, gp_weight)
  np.testing.assert_allclose(metrics["gradient_penalty"], penalty, rtol=1e-5,
                             err_msg="the step's ε is not jax.random.split(key, 3)[2]")
  update = jax.tree.map(lambda a, b: a - b, after.critic_params, state.critic_params)
  jax.tree.map(lambda u, g: np.testing.assert_allclose(u, -lr * g, rtol=1e-3, atol=1e-6),
               update, grad)
  # The penalty's share of the update is far above that tolerance: without it the update differs.
  grad_no_gp, _ = loss_grad(state.critic_params, 0.0)
  assert not all(np.allclose(u, -lr * g, rtol=1e-3, atol=1e-6) for u, g in
                 zip(jax.tree.leaves(update), jax.tree.leaves(grad_no_gp)))


@pytest.mark.parametrize("one_sided", [False, True])
def test_one_sided_gradient_penalty_on_a_linear_critic(one_sided):
  # f(x) = w·x + b has ∇f = w everywhere, whatever ε: the penalty is (‖w‖ - 1)², or
  # max(0, ‖w‖ - 1)², with gradient 2 (‖w‖ - 1) w / ‖w‖ (0 where one-sided and ‖w‖ < 1).
  lr, gp_weight = 0.1, 10.0
  spec = sgd_spec("wgan-gp", lr, critic=models.MLP((), 1),
                  objective=steps_lib.Objective("wgan-gp", gp_weight, one_sided_gp=one_sided))
  steps = steps_lib.make_steps(spec)
  state = steps.init(jax.random.key(0))
  wgan_grad = np.mean(FAKE, axis=0) - np.mean(REAL, axis=0)
  for w, norm in (([0.3, -0.4], 0.5), ([3.0, 4.0], 5.0)):
    w = np.asarray(w, np.float32)
    params = {"Dense_0": {"kernel": jnp.asarray(w[:, None]), "bias": jnp.zeros(1)}}
    after, metrics = steps.critic_step(state._replace(critic_params=params), jax.random.key(4))
    excess = 0.0 if one_sided and norm < 1 else norm - 1.0
    assert (excess != 0) or one_sided  # two-sided: > 0 even with ‖∇f‖ < 1
    np.testing.assert_allclose(metrics["gradient_penalty"], excess**2, rtol=1e-5, atol=1e-7)
    grad_w = wgan_grad + gp_weight * 2 * excess * w / norm
    np.testing.assert_allclose(after.critic_params["Dense_0"]["kernel"][:, 0], w - lr * grad_w,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(after.critic_params["Dense_0"]["bias"], 0.0, atol=1e-6)


class BatchNormCritic(nn.Module):
  @nn.compact
  def __call__(self, x_BxD, train=True):
    h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(nn.Dense(4)(x_BxD))
    return nn.Dense(1)(nn.relu(h))[:, 0]


def test_generator_step_runs_the_critic_batchnorm_on_batch_statistics():
  spec = sgd_spec("wgan", critic=BatchNormCritic())  # the generator's output is FAKE
  steps = steps_lib.make_steps(spec)
  state = steps.init(jax.random.key(0))  # running averages 0 and 1, far from FAKE's statistics
  _, metrics = steps.generator_step(state, jax.random.key(5))
  variables = {"params": state.critic_params, **state.critic_stats}

  @jax.jit
  def losses_both_ways():
    batch_scores, _ = spec.critic.apply(variables, FAKE, train=True, mutable=["batch_stats"])
    return -jnp.mean(batch_scores), -jnp.mean(spec.critic.apply(variables, FAKE, train=False))

  batch_loss, running_loss = losses_both_ways()
  assert abs(float(batch_loss - running_loss)) > 1e-2  # the two modes are told apart here
  np.testing.assert_allclose(metrics["generator_loss"], batch_loss, rtol=1e-5, atol=1e-6)


def rank_correlation(a, b):
  rank = lambda x: np.argsort(np.argsort(np.ravel(x)))
  return float(np.corrcoef(rank(a), rank(b))[0, 1])


def test_critic_step_draws_real_noise_and_eps_from_independent_keys():
  # Everything one-dimensional: were two of the draws made from one key, normal(k, (B, 1)) and
  # normal(k, (B, 1)) would be equal, and uniform(k, (B,)) a monotone function of either.
  # The real batch, the noise and every critic input are recorded as the step runs.
  seen = {"real": [], "noise": [], "critic": []}
  record = lambda name: lambda x: seen[name].append(np.asarray(x)[:, 0])

  def sample_real(key, n):
    real = jax.random.normal(key, (n, 1))
    jax.debug.callback(record("real"), real)
    return real

  class IdentityGenerator(nn.Module):  # g(z) = z, plus a zero offset (its one parameter)
    @nn.compact
    def __call__(self, z_BxN, train=True):
      jax.debug.callback(record("noise"), z_BxN)
      return z_BxN + self.param("offset", nn.initializers.zeros, (z_BxN.shape[1],))[None]

  class RecordingCritic(nn.Module):
    @nn.compact
    def __call__(self, x_BxD, train=True):
      jax.debug.callback(record("critic"), x_BxD)
      return models.MLP((4,), 1)(x_BxD)

  spec = sgd_spec("wgan-gp", generator=IdentityGenerator(), critic=RecordingCritic(),
                  sample_real=sample_real, noise_dim=1, batch_size=32)
  steps = steps_lib.make_steps(spec)
  state = steps.init(jax.random.key(0))
  jax.effects_barrier()
  for records in seen.values():
    records.clear()
  steps.critic_step(state, jax.random.key(6))
  jax.effects_barrier()
  (real,), (noise,) = seen["real"], seen["noise"]  # the fake batch is the noise
  assert not np.allclose(real, noise), "the noise is the real batch"
  # The critic sees the real batch, the fake one and, inside the penalty, the interpolates.
  interpolates = [x for x in seen["critic"]
                  if not (np.array_equal(x, real) or np.array_equal(x, noise))]
  assert interpolates, "the critic never saw interpolates"
  eps = (interpolates[0] - noise) / (real - noise)
  assert np.all((eps > -1e-4) & (eps < 1 + 1e-4))
  for (name_a, a), (name_b, b) in itertools.combinations(
      {"real": real, "noise": noise, "eps": eps}.items(), 2):
    assert abs(rank_correlation(a, b)) < 0.7, f"{name_a} and {name_b} are drawn from one key"


@pytest.mark.parametrize("n", [5, 8, 19])
def test_generate_normalises_with_the_chosen_batchnorm_statistics(n):
  spec = image_spec()
  steps = steps_lib.make_steps(spec)
  state = steps.init(jax.random.key(0))
  state, _ = steps.train_step(state, jax.random.key(1))  # running averages away from 0 and 1
  key = jax.random.key(2)
  variables = {"params": state.generator_params, **state.generator_stats}
  # Computed here without generate: the noise of whole training batches, each batch through
  # the generator in train mode (its own statistics), then the first n samples.
  num_batches = -(-n // spec.batch_size)
  z = jax.random.normal(key, (num_batches * spec.batch_size, spec.noise_dim))
  by_batch = [spec.generator.apply(variables, z_B, train=True, mutable=["batch_stats"])[0]
              for z_B in jnp.split(z, num_batches)]
  expected = np.concatenate(by_batch)[:n]
  np.testing.assert_allclose(steps.generate(state, key, n), expected, rtol=1e-5, atol=1e-6)
  running = steps_lib.make_steps(dataclasses.replace(spec, sample_statistics="running"))
  z_n = jax.random.normal(key, (n, spec.noise_dim))
  np.testing.assert_allclose(running.generate(state, key, n),
                             spec.generator.apply(variables, z_n, train=False), rtol=1e-5, atol=1e-6)
  assert not np.allclose(running.generate(state, key, n), expected, atol=1e-3)


def test_generate_without_batchnorm_ignores_the_statistics_choice():
  spec = toy_spec()
  state, key = steps_lib.make_steps(spec).init(jax.random.key(0)), jax.random.key(3)
  batch = steps_lib.make_steps(spec).generate(state, key, 7)
  running = steps_lib.make_steps(dataclasses.replace(spec, sample_statistics="running"))
  np.testing.assert_array_equal(batch, running.generate(state, key, 7))
  with pytest.raises(ValueError, match="sample_statistics"):
    dataclasses.replace(spec, sample_statistics="eval")
