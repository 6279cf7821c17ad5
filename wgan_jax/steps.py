"""Pure, jit-compiled training steps for WGAN, WGAN-GP, GAN and EBGAN.

``make_steps(spec)`` closes over the static parts of a GAN (modules, optimisers, objective, data
sampler) and returns pure functions of (state, key):

- ``critic_step``: one critic update on a fresh real batch and a fresh fake batch;
- ``generator_step``: one generator update; it changes neither the critic's parameters nor its
  BatchNorm statistics;
- ``train_step``: the critic iterations with ``lax.scan``, then the generator step (Algorithm 1);
- ``train_steps``: ``num_steps`` training steps scanned in one dispatch, so that a small model is
  not bound by Python.

Randomness is explicit: a training step uses ``fold_in(key, state.step)``, so the same state and
key give the same result, and a run resumed from a checkpoint draws the same numbers as one that
was not interrupted. Real batches of a dataset are not random draws but a function of the run's
data order and ``state.critic_iter``, the critic iterations done: consecutive critic iterations
take consecutive batches of an epoch, so within an epoch no image repeats. ``over_seeds`` vmaps a
driver over independent seeds.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Literal, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from wgan_jax import losses

Method = Literal["wgan", "wgan-gp", "gan", "ebgan"]
METHODS: tuple[str, ...] = ("wgan", "wgan-gp", "gan", "ebgan")
# What the ``estimate`` metric of each method estimates (EBGAN's loss estimates no distance).
ESTIMATE_NAMES = {"wgan": "EM estimate", "wgan-gp": "EM estimate",
                  "gan": "JS estimate (½L + log 2)", "ebgan": ""}
SAMPLE_STATISTICS = ("batch", "running")  # see GANSpec.sample_statistics


@dataclasses.dataclass(frozen=True)
class Objective:
  """What the critic and the generator minimise."""

  method: Method
  gp_weight: float = 10.0  # λ of WGAN-GP
  one_sided_gp: bool = False  # WGAN-GP: penalise max(0, ‖g‖ - 1)² instead of (‖g‖ - 1)²
  gan_generator_loss: Literal["nonsaturating", "minimax"] = "nonsaturating"
  margin: float = 1.0  # m of EBGAN

  def __post_init__(self):
    if self.method not in METHODS:
      raise ValueError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")

  def critic_loss(self, real_B: jax.Array, fake_B: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(loss without any gradient penalty, the distance estimate that the loss implies)."""
    if self.method in ("wgan", "wgan-gp"):
      loss = losses.wgan_critic_loss(real_B, fake_B)
      return loss, losses.em_estimate(loss)
    if self.method == "gan":
      loss = losses.gan_discriminator_loss(real_B, fake_B)
      return loss, losses.js_estimate(loss)
    loss = losses.ebgan_discriminator_loss(real_B, fake_B, self.margin)
    return loss, jnp.full((), jnp.nan)  # EBGAN's loss estimates no distance

  def penalised(self, loss: jax.Array, critic_fn: Callable[[jax.Array], jax.Array],
                real: jax.Array, fake: jax.Array, key: jax.Array
                ) -> tuple[jax.Array, jax.Array]:
    """(the critic's training loss, the gradient penalty): for WGAN-GP ``loss`` + λ·penalty at
    interpolates of ``real`` and ``fake`` (``losses.gradient_penalty``, ``critic_fn`` scoring
    each sample on its own), else ``loss`` and 0."""
    if self.method != "wgan-gp":
      return loss, jnp.zeros(())
    penalty = losses.gradient_penalty(critic_fn, real, fake, key, self.one_sided_gp)
    return loss + self.gp_weight * penalty, penalty

  def generator_loss(self, fake_B: jax.Array) -> jax.Array:
    if self.method in ("wgan", "wgan-gp"):
      return losses.wgan_generator_loss(fake_B)
    if self.method == "gan":
      if self.gan_generator_loss == "minimax":
        return losses.gan_generator_loss_minimax(fake_B)
      return losses.gan_generator_loss_nonsaturating(fake_B)
    return losses.ebgan_generator_loss(fake_B)


@dataclasses.dataclass(frozen=True)
class GANSpec:
  """The static parts of a GAN.

  ``sample_real`` gives the real batch of a critic iteration inside jit. A distribution (the toy
  sets) is sampled: ``sample_real(key, n)``, a fresh key each iteration. A dataset is passed to
  the steps as ``data=...`` (an argument, so that the array is not baked into the compiled
  program) and read in order: ``sample_real(critic_iter, n, data)`` returns the n images of
  global critic iteration ``critic_iter`` (``GANState.critic_iter``), a pure function of the
  data and that index, so that the batches of an epoch do not repeat an image and a resumed run
  reads what an uninterrupted one would (``device.DeviceSampler.draw``, ``stream.StreamFeed``).
  """

  generator: nn.Module
  critic: nn.Module
  generator_tx: optax.GradientTransformation
  critic_tx: optax.GradientTransformation
  objective: Objective
  sample_real: Callable[..., jax.Array]  # (key, n), or (critic_iter, n, data) with data
  noise_dim: int
  batch_size: int = 64
  n_critic: int = 5
  # The official WGAN code's schedule: 100 critic iterations for each of the first 25
  # generator iterations and on every 500th one, otherwise n_critic.
  official_schedule: bool = False
  warmup_critic_iters: int = 100
  # Unroll the n_critic critic iterations and the steps of ``train_steps`` instead of looping
  # (the official schedule's extra critic iterations stay a loop): a longer compilation, for
  # code in which XLA's CPU backend runs something slower inside a loop than outside one, as it
  # does the kernel gradients of Flax's own convolutions (benchmarks/cpu_conv_loops.py; the
  # DCGAN models' layers avoid them).
  unroll: bool = False
  # Data parallelism (wgan_jax/parallel.py): a sharding of the batch axis, applied to every real
  # and noise batch of a training step, so that XLA splits the step over the devices.
  batch_sharding: Any = None
  # Log cos(update, -gradient) of every critic update (Section 4.3: negative when the critic's
  # optimiser steps against the descent direction). The critic's optimiser must record it: wrap
  # the optimiser inside any clipping with ``optim.with_update_cosine``.
  log_update_cosine: bool = False
  # The BatchNorm statistics of ``generate``: "batch", each batch of ``batch_size`` samples its
  # own, as in the official code (which never switches the generator to eval mode), or
  # "running", the averages kept during training.
  sample_statistics: str = "batch"

  def __post_init__(self):
    if self.n_critic < 1:
      raise ValueError(f"n_critic must be at least 1, got {self.n_critic}")
    if self.batch_size < 1:
      raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
    if self.sample_statistics not in SAMPLE_STATISTICS:
      raise ValueError(f"sample_statistics must be one of {', '.join(SAMPLE_STATISTICS)}, got "
                       f"{self.sample_statistics!r}")


class GANState(NamedTuple):
  """Everything that changes during training. ``*_stats`` hold BatchNorm statistics ({} if none)."""

  step: jax.Array  # generator iterations done
  generator_params: Any
  generator_stats: Any
  generator_opt_state: Any
  critic_params: Any
  critic_stats: Any
  critic_opt_state: Any
  # Critic iterations done, int32: the index of the next real batch of a dataset (see
  # ``GANSpec.sample_real``). Every critic step advances it, including those of ``critic_step``
  # called on its own.
  critic_iter: jax.Array


def critic_iterations(spec: GANSpec, step: jax.Array) -> jax.Array:
  """How many critic iterations generator iteration ``step`` (0-based) runs."""
  return critic_iterations_of(spec.n_critic, spec.official_schedule, step,
                              spec.warmup_critic_iters)


def critic_iterations_of(n_critic: int, official_schedule: bool, step,
                         warmup_critic_iters: int = 100):
  """``critic_iterations`` without a spec, elementwise over an array of steps."""
  warm = official_schedule & ((jnp.asarray(step) < 25) | (jnp.asarray(step) % 500 == 0))
  return jnp.where(warm, max(warmup_critic_iters, n_critic), n_critic)


class Steps(NamedTuple):
  init: Callable[[jax.Array], GANState]
  critic_step: Callable[..., tuple[GANState, dict]]  # (state, key, data=None)
  generator_step: Callable[[GANState, jax.Array], tuple[GANState, dict]]
  train_step: Callable[..., tuple[GANState, dict]]  # (state, key, data=None)
  train_steps: Callable[..., tuple[GANState, dict]]  # (state, key, num_steps, data=None)
  generate: Callable[[GANState, jax.Array, int], jax.Array]


def _split_variables(variables) -> tuple[Any, Any]:
  variables = dict(variables)
  params = variables.pop("params")
  return params, variables


def make_steps(spec: GANSpec) -> Steps:
  """Pure functions for ``spec``; the step functions are jit-compiled."""
  objective = spec.objective
  batch = spec.batch_size

  def noise(key, n):
    return jax.random.normal(key, (n, spec.noise_dim))

  def shard_batch(x):
    if spec.batch_sharding is None:
      return x
    return jax.lax.with_sharding_constraint(x, spec.batch_sharding)

  def run_generator(params, stats, z):
    fake, new_stats = spec.generator.apply({"params": params, **stats}, z, train=True,
                                           mutable=list(stats))
    return fake, dict(new_stats)

  def run_critic(params, stats, x):
    scores_B, new_stats = spec.critic.apply({"params": params, **stats}, x, train=True,
                                            mutable=list(stats))
    return scores_B, dict(new_stats)

  def init(key: jax.Array) -> GANState:
    key_g, key_c = jax.random.split(key)
    z = noise(key_g, 2)
    g_params, g_stats = _split_variables(spec.generator.init(key_g, z, train=True))
    fake = spec.generator.apply({"params": g_params, **g_stats}, z, train=False)
    c_params, c_stats = _split_variables(spec.critic.init(key_c, fake, train=True))
    if objective.method == "wgan-gp" and c_stats:
      raise ValueError("the gradient penalty needs a critic without BatchNorm "
                       "(use LayerNorm or none): BatchNorm couples the samples of a batch")
    return GANState(jnp.zeros((), jnp.int32), g_params, g_stats, spec.generator_tx.init(g_params),
                    c_params, c_stats, spec.critic_tx.init(c_params), jnp.zeros((), jnp.int32))

  def critic_step(state: GANState, key: jax.Array, data: Any = None) -> tuple[GANState, dict]:
    key_real, key_z, key_gp = jax.random.split(key, 3)
    real = shard_batch(spec.sample_real(key_real, batch) if data is None
                       else spec.sample_real(state.critic_iter, batch, data))
    fake, g_stats = run_generator(state.generator_params, state.generator_stats,
                                  shard_batch(noise(key_z, batch)))
    fake = jax.lax.stop_gradient(fake)

    def loss_fn(c_params):
      # Real and fake go through the critic separately, as in the official code, so that a
      # BatchNorm critic normalises each batch on its own.
      real_B, c_stats = run_critic(c_params, state.critic_stats, real)
      fake_B, c_stats = run_critic(c_params, c_stats, fake)
      loss, estimate = objective.critic_loss(real_B, fake_B)
      total, penalty = objective.penalised(loss, lambda x: run_critic(c_params, {}, x)[0], real,
                                           fake, key_gp)
      return total, (c_stats, {"critic_loss": loss, "estimate": estimate,
                               "gradient_penalty": penalty})

    grads, (c_stats, metrics) = jax.grad(loss_fn, has_aux=True)(state.critic_params)
    updates, c_opt = spec.critic_tx.update(grads, state.critic_opt_state, state.critic_params)
    c_params = optax.apply_updates(state.critic_params, updates)
    metrics.update(critic_grad_norm=optax.tree.norm(grads),
                   critic_param_norm=optax.tree.norm(c_params))
    if spec.log_update_cosine:
      cosine = optax.tree.get(c_opt, "update_cosine")
      if cosine is None:
        raise ValueError("log_update_cosine needs a critic optimiser wrapped in "
                         "optim.with_update_cosine")
      metrics["update_cosine"] = cosine
    return state._replace(generator_stats=g_stats, critic_params=c_params, critic_stats=c_stats,
                          critic_opt_state=c_opt, critic_iter=state.critic_iter + 1), metrics

  def generator_step(state: GANState, key: jax.Array) -> tuple[GANState, dict]:
    z = shard_batch(noise(key, batch))

    def loss_fn(g_params):
      fake, g_stats = run_generator(g_params, state.generator_stats, z)
      # The critic's BatchNorm statistics from this pass are dropped: only critic steps move them.
      fake_B, _ = run_critic(state.critic_params, state.critic_stats, fake)
      return objective.generator_loss(fake_B), g_stats

    (loss, g_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.generator_params)
    updates, g_opt = spec.generator_tx.update(grads, state.generator_opt_state,
                                              state.generator_params)
    g_params = optax.apply_updates(state.generator_params, updates)
    return state._replace(generator_params=g_params, generator_stats=g_stats,
                          generator_opt_state=g_opt), {
                              "generator_loss": loss,
                              "generator_grad_norm": optax.tree.norm(grads),
                              "generator_param_norm": optax.tree.norm(g_params)}

  def critic_steps(state, keys, data, unroll=False):
    """len(keys) critic steps; the metrics of the last one, which the official code logs."""
    state, metrics = jax.lax.scan(lambda s, k: critic_step(s, k, data), state, keys,
                                  unroll=unroll)
    last = jax.tree.map(lambda m: m[-1], metrics)
    if spec.log_update_cosine:
      last["update_cosine"] = metrics["update_cosine"]  # every iteration's
    return state, last

  def train_step(state: GANState, key: jax.Array, data: Any = None) -> tuple[GANState, dict]:
    key = jax.random.fold_in(key, state.step)
    key_critic, key_extra, key_gen = jax.random.split(key, 3)
    state, metrics = critic_steps(state, jax.random.split(key_critic, spec.n_critic), data,
                                  spec.unroll)
    n_iters = critic_iterations(spec, state.step)
    n_extra = spec.warmup_critic_iters - spec.n_critic
    if spec.official_schedule and n_extra > 0:
      extra_keys = jax.random.split(key_extra, n_extra)
      def run_extra(s):
        s, extra = critic_steps(s, extra_keys, data)
        if spec.log_update_cosine:  # the same shape as without the extra iterations
          extra["update_cosine"] = jnp.concatenate(
              [metrics["update_cosine"], extra["update_cosine"]])[-spec.n_critic:]
        return s, extra
      skip = lambda s: (s, metrics)
      # A real branch (not a select) as long as the step is not batched: see ``over_seeds``.
      state, metrics = jax.lax.cond(n_iters > spec.n_critic, run_extra, skip, state)
    state, gen_metrics = generator_step(state, key_gen)
    if spec.log_update_cosine:
      # Scalars, as every logged metric: update_cosine_<i> of the step's last n_critic updates.
      cosines = metrics.pop("update_cosine")
      metrics.update({f"update_cosine_{i}": cosines[i] for i in range(spec.n_critic)})
    metrics = {**metrics, **gen_metrics, "critic_iters": n_iters}
    return state._replace(step=state.step + 1), metrics

  def train_steps(state: GANState, key: jax.Array, num_steps: int,
                  data: Any = None) -> tuple[GANState, dict]:
    """``num_steps`` training steps in one dispatch; metrics are stacked along axis 0."""
    return jax.lax.scan(lambda s, _: train_step(s, key, data), state, None, length=num_steps,
                        unroll=spec.unroll)

  def generate(state: GANState, key: jax.Array, n: int) -> jax.Array:
    """n samples of the generator, BatchNorm normalising with ``spec.sample_statistics``."""
    variables = {"params": state.generator_params, **state.generator_stats}
    if spec.sample_statistics == "running" or not state.generator_stats:
      return spec.generator.apply(variables, noise(key, n), train=False)
    # Batches of the training batch size, each normalised by its own statistics (the updated
    # running averages are dropped).
    num_batches = -(-n // batch)
    z = noise(key, num_batches * batch).reshape(num_batches, batch, spec.noise_dim)
    fake = jax.lax.map(
        lambda z_B: run_generator(state.generator_params, state.generator_stats, z_B)[0], z)
    return fake.reshape(num_batches * batch, *fake.shape[2:])[:n]

  return Steps(
      init=jax.jit(init),
      critic_step=jax.jit(critic_step),
      generator_step=jax.jit(generator_step),
      train_step=jax.jit(train_step),
      train_steps=jax.jit(train_steps, static_argnames="num_steps"),
      generate=jax.jit(generate, static_argnames="n"),
  )


# vmap axes of a state holding several seeds: the step and the critic-iteration counter (and so
# the order of the real batches) are shared, everything else is per seed.
SEED_AXES = GANState(None, 0, 0, 0, 0, 0, 0, None)


def init_over_seeds(init: Callable[[jax.Array], GANState], keys: jax.Array) -> GANState:
  """Initial states for len(keys) seeds, stacked along axis 0, with one shared step and
  critic-iteration counter."""
  state = jax.vmap(init)(keys)
  return state._replace(step=state.step[0], critic_iter=state.critic_iter[0])


def over_seeds(fn: Callable, out_axes: Any = (SEED_AXES, 0)) -> Callable:
  """vmaps ``fn(state, key, *args)`` over seeds: the leading axis of the state and of the keys.

  The step counter stays unbatched, so that the official schedule's ``lax.cond`` remains a real
  branch instead of a select that would run the extra critic iterations every time; so does the
  critic-iteration counter, and every seed reads the same real batches of a dataset. Wrap the
  result in ``jax.jit`` (with ``static_argnums`` for static ``args``).
  """

  def batched(state, keys, *args):
    return jax.vmap(lambda s, k: fn(s, k, *args), in_axes=(SEED_AXES, 0),
                    out_axes=out_axes)(state, keys)

  return batched


def generate_over_seeds(steps: Steps) -> Callable[[GANState, jax.Array, int], jax.Array]:
  """A jitted ``(state, keys, n) -> samples``: ``n`` samples of each seed's generator, stacked
  along axis 0, for a state of several seeds and one key per seed."""
  return jax.jit(over_seeds(steps.generate, out_axes=0), static_argnums=2)
