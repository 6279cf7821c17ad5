"""The critics of the clipping part (wgan_jax/paper/clipping.py), trained against its fixed
"generator", and what is measured of them.

The fixed generator is the real data plus N(0, σ² I) noise, added to the same real batch as the
official gan_toy.py does (so the gradient penalty's interpolates lie between a real sample and its
own noisy copy). A critic's step is ``critic_update``: the loss, the penalty and the optimiser of
``steps.critic_step`` (through ``experiment.build``), with that generator in place of a
network's. Critics that share their network, objective and batch train at once (``population``,
vmapped): the surface critics on every set (``train_surfaces``, until each converges), the deep
critics at every clip value (``deep_gradients``, for a fixed budget). ``measure`` gives every
number of the part, with the arrays its figures draw.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from wgan_jax import experiment
from wgan_jax.configs import clipping as part_config
from wgan_jax.metrics import mixtures
from wgan_jax.paper import clipping_measures as measures
from wgan_jax.paper import convergence


# Training against the fixed generator ---------------------------------------------------------

def noisy_copy(real_BxD, key, noise_std: float) -> jax.Array:
  """The fixed generator's samples: ``real_BxD`` plus N(0, noise_std² I)."""
  return real_BxD + noise_std * jax.random.normal(key, real_BxD.shape)


def critic_loss(spec, params, real_BxD, fake_BxD, key) -> tuple[jax.Array, jax.Array]:
  """(the critic's training loss, its estimate mean f(real) - mean f(fake)), as
  ``steps.critic_step`` computes them: the penalty included for WGAN-GP
  (``Objective.penalised``)."""
  critic_fn = lambda x: spec.critic.apply({"params": params}, x, train=True)
  loss, estimate = spec.objective.critic_loss(critic_fn(real_BxD), critic_fn(fake_BxD))
  total, _ = spec.objective.penalised(loss, critic_fn, real_BxD, fake_BxD, key)
  return total, estimate


def critic_update(spec, sample, tx_update, noise_std: float, params, opt_state, key):
  """One critic step on ``sample(key, n)`` real samples and their noisy copies: new (params,
  opt_state) through ``tx_update`` (an optimiser's update, clipping included)."""
  key_real, key_noise, key_gp = jax.random.split(key, 3)
  real = sample(key_real, spec.batch_size)
  fake = noisy_copy(real, key_noise, noise_std)
  grads, _ = jax.grad(lambda p: critic_loss(spec, p, real, fake, key_gp), has_aux=True)(params)
  updates, opt_state = tx_update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state


def population(runs: list[experiment.Run]):
  """(spec, sample(i, key, n), tx_update(i, grads, opt_state, params)) of runs that share their
  critic, objective and batch and differ in data or optimiser: member i's sampler and optimiser
  are chosen by ``lax.switch``, which vmap turns into a select (every member runs each
  sampler's and optimiser's cheap elementwise work, and keeps its own)."""
  spec = runs[0].spec
  for run in runs[1:]:
    if (run.spec.critic, run.spec.objective, run.spec.batch_size) != (
        spec.critic, spec.objective, spec.batch_size):
      raise ValueError("a population's runs must share their critic, objective and batch")
  samplers = [run.spec.sample_real for run in runs]
  updates = [run.spec.critic_tx.update for run in runs]

  def sample(i, key, n):
    return jax.lax.switch(i, [lambda k, s=s: s(k, n) for s in samplers], key)

  def tx_update(i, grads, opt_state, params):
    return jax.lax.switch(i, updates, grads, opt_state, params)

  return spec, sample, tx_update


def init_population(runs: list[experiment.Run], seed: int):
  """(params_P, opt_P): one initialisation for every member, each with its optimiser's state."""
  def init(key):
    params = runs[0].spec.critic.init(key, jnp.zeros((1, 2)), train=True)["params"]
    stack = lambda *leaves: jnp.stack(leaves)
    return (jax.tree.map(lambda x: stack(*[x] * len(runs)), params),
            jax.tree.map(stack, *[run.spec.critic_tx.init(params) for run in runs]))

  return jax.jit(init)(jax.random.key(seed))  # one compilation instead of one per operation


def make_trainer(runs: list[experiment.Run], noise_std: float):
  """(spec, advance, each) for the members of a ``population``.

  advance((params_P, opt_P), train_key, num_steps) -> (params_P, opt_P) runs num_steps critic
  steps of every member, step t on the batch of fold_in(train_key, t) (a while loop, so that
  every number of steps shares one compilation). each(fn) is fn(spec, sample_i, params, key),
  jitted and vmapped over the members: (params_P, key) -> fn's outputs stacked, member i on
  key i of split(key).
  """
  spec, sample, tx_update = population(runs)
  members = jnp.arange(len(runs))
  of = lambda i: (lambda key, n: sample(i, key, n))

  def step_P(state, key):
    return jax.vmap(lambda i, p, o, k: critic_update(
        spec, of(i), lambda g, s, q: tx_update(i, g, s, q), noise_std, p, o, k))(
            members, *state, jax.random.split(key, len(runs)))

  @jax.jit
  def advance(state, train_key, num_steps):
    return jax.lax.fori_loop(
        0, num_steps, lambda t, s: step_P(s, jax.random.fold_in(train_key, t)), state)

  def each(fn):
    return jax.jit(lambda params_P, key: jax.vmap(lambda i, p, k: fn(spec, of(i), p, k))(
        members, params_P, jax.random.split(key, len(runs))))

  return spec, advance, each


def _marks(steps: int, checkpoints: int) -> list[int]:
  """The steps after which a deep critic is measured: ``checkpoints`` evenly spaced ones ending
  at ``steps``."""
  return sorted(set(np.linspace(0, steps, checkpoints + 1).astype(int).tolist()[1:]))


# (a) Value surfaces and (c) weights -----------------------------------------------------------

def _surface_runs(config, name: str) -> list[experiment.Run]:
  runs = []
  for dataset in config.clipping.datasets.split(","):
    run_config = experiment.variant(config, name)
    run_config.data.dataset = dataset
    runs.append(experiment.build(run_config))
  return runs


def train_surfaces(config, name: str) -> dict:
  """The critics of variant ``name`` on every set of ``clipping.datasets``, trained at once until
  each converges (``convergence.train_to_convergence``, every ``clipping.check_every`` steps, at
  most ``clipping.max_steps``), and what (a) and (c) measure of them, by set."""
  cl = config.clipping
  datasets = cl.datasets.split(",")

  def eval_sets(sample, key):
    key_real, key_noise = jax.random.split(key)
    real = sample(key_real, cl.eval_samples)
    return real, noisy_copy(real, key_noise, cl.noise_std)

  def estimate(spec, sample, params, key):
    real, fake = eval_sets(sample, key)
    return (jnp.mean(measures.scores(spec, params, real))
            - jnp.mean(measures.scores(spec, params, fake)))

  def final(spec, sample, params, key):
    real, fake = eval_sets(sample, key)
    low, high = measures.sample_box(real, fake)
    xs_G, ys_G = jnp.linspace(low[0], high[0], cl.grid), jnp.linspace(low[1], high[1], cl.grid)
    grid_Px2 = jnp.stack(jnp.meshgrid(xs_G, ys_G, indexing="ij"), -1).reshape(-1, 2)
    return {"lipschitz": measures.lipschitz_estimate(spec, params, real, fake,
                                                     jax.random.fold_in(key, 1)),
            "surface": measures.scores(spec, params, grid_Px2), "xs": xs_G, "ys": ys_G,
            "real": real, "fake": fake}

  runs = _surface_runs(config, name)
  _, advance, each = make_trainer(runs, cl.noise_std)
  estimate_P = each(estimate)
  state = init_population(runs, cl.seed)
  eval_key, train_key = jax.random.key(cl.seed + 1), jax.random.key(cl.seed + 2)
  # The first step of the training below (train_to_convergence's first chunk has this key).
  after_one, _ = advance(state, jax.random.fold_in(train_key, 0), 1)
  trained = convergence.train_to_convergence(
      advance, lambda s: estimate_P(s[0], eval_key), state, train_key,
      check_every=cl.check_every, max_steps=cl.max_steps)
  params_P = trained.states[0]
  last = each(final)(params_P, eval_key)
  clip = config.variants[name].critic_optimizer.get("clip")
  layers = measures.dense_layers(params_P)
  steps_T = [int(s) for s in trained.steps_T]
  out = {}
  for i, dataset in enumerate(datasets):
    kernels = [np.asarray(params_P[n]["kernel"][i]) for n in layers]
    real, fake = np.asarray(last["real"][i], np.float64), np.asarray(last["fake"][i], np.float64)
    xs_G, ys_G = np.asarray(last["xs"][i], np.float64), np.asarray(last["ys"][i], np.float64)
    surface = np.asarray(last["surface"][i], np.float64).reshape(cl.grid, cl.grid)
    w1 = mixtures.exact_w1(real, fake)
    stop = int(trained.steps_G[i])
    curve = trained.estimates_TxG[:steps_T.index(stop) + 1, i]
    estimate_value, half = float(curve[-1]), float(curve[steps_T.index(stop // 2)])
    k = float(last["lipschitz"][i])
    pooled = np.concatenate([w.ravel() for w in kernels])
    out[dataset] = {
        "estimate": estimate_value, "w1": w1, "ratio": estimate_value / w1, "lipschitz": k,
        "normalised_ratio": estimate_value / (k * w1),
        "unexplained": measures.quadratic_unexplained(surface, xs_G, ys_G),
        "box": [[float(xs_G[0]), float(xs_G[-1])], [float(ys_G[0]), float(ys_G[-1])]],
        "converged_at": int(trained.converged_at_G[i]) if trained.converged_at_G[i] >= 0
                        else None,
        "steps": stop, "curve_steps": steps_T[:len(curve)], "curve": curve.tolist(),
        "change_last_half": (float((estimate_value - half) / abs(estimate_value))
                             if estimate_value else math.nan),
        "at_edge": measures.fraction_at_edge(kernels, clip),
        "at_edge_after_one_step": measures.fraction_at_edge(
            [np.asarray(after_one[n]["kernel"][i]) for n in layers], clip),
        "weight_std_over_edge": float(np.std(pooled) / (clip or np.abs(pooled).max())),
        # For the figures, not for numbers.json.
        "_surface": surface, "_xs": xs_G, "_ys": ys_G, "_real": real[:500], "_fake": fake[:500],
        "_kernels": pooled,
    }
  return out


# (b) Gradient norms of the deep critic --------------------------------------------------------

def _geometric_mean(norms_CxN) -> np.ndarray:
  """log10 averaged over the points of training (axis 0); a norm of 0 gives 0."""
  with np.errstate(divide="ignore"):
    return 10 ** np.mean(np.log10(norms_CxN), axis=0)


def deep_gradients(config, clips: tuple) -> dict:
  """The deep critics clipped at each of ``clips`` (None: penalised; all clipped or all
  penalised, since they are trained at once) for ``clipping.deep_steps``, with their layers'
  gradient norms at ``clipping.deep_checkpoints`` evenly spaced points, by str(clip)."""
  cl = config.clipping

  def gradients(spec, sample, params, key):
    key_real, key_noise, key_gp = jax.random.split(key, 3)
    real = sample(key_real, cl.gradient_batch)
    fake = noisy_copy(real, key_noise, cl.noise_std)
    grads, estimate = jax.grad(lambda p: critic_loss(spec, p, real, fake, key_gp),
                               has_aux=True)(params)
    return (measures.activation_gradient_norms(spec, params, real, fake),
            measures.layer_norms(grads), estimate)

  runs = [experiment.build(experiment.variant(config, part_config.deep_variant(clip)))
          for clip in clips]
  _, advance, each = make_trainer(runs, cl.noise_std)
  measure_P = each(gradients)
  state = init_population(runs, cl.seed)
  marks = _marks(cl.deep_steps, cl.deep_checkpoints)
  done, activation_CxPxH, kernel_CxPxL, bias_CxPxL = 0, [], [], []
  for i, stop in enumerate(marks):
    state = advance(state, jax.random.fold_in(jax.random.key(cl.seed + 4), i), stop - done)
    activation_PxH, (kernel_PxL, bias_PxL), estimate_P = measure_P(
        state[0], jax.random.fold_in(jax.random.key(cl.seed + 5), i))
    done = stop
    activation_CxPxH.append(np.asarray(activation_PxH, np.float64))
    kernel_CxPxL.append(np.asarray(kernel_PxL, np.float64))
    bias_CxPxL.append(np.asarray(bias_PxL, np.float64))
  activation_CxPxH = np.stack(activation_CxPxH)
  kernel_CxPxL, bias_CxPxL = np.stack(kernel_CxPxL), np.stack(bias_CxPxL)
  params_P = state[0]
  out = {}
  for i, clip in enumerate(clips):
    activation_H = _geometric_mean(activation_CxPxH[:, i])
    kernel_L, bias_L = _geometric_mean(kernel_CxPxL[:, i]), _geometric_mean(bias_CxPxL[:, i])
    kernels = [np.asarray(params_P[n]["kernel"][i]) for n in measures.dense_layers(params_P)]
    out[str(clip)] = {
        "steps": marks, "activation_norms": activation_H.tolist(),
        "activation_norms_min": activation_CxPxH[:, i].min(axis=0).tolist(),
        "activation_norms_max": activation_CxPxH[:, i].max(axis=0).tolist(),
        "activation_trend": measures.log_trend(activation_H),
        "kernel_norms": kernel_L.tolist(), "bias_norms": bias_L.tolist(),
        "kernel_norms_min": kernel_CxPxL[:, i].min(axis=0).tolist(),
        "kernel_norms_max": kernel_CxPxL[:, i].max(axis=0).tolist(),
        # Over the hidden-to-hidden kernels only: all of one shape, so that their norms compare.
        "kernel_trend": measures.log_trend(kernel_L[1:-1]),
        "bias_trend": measures.log_trend(bias_L[1:-1]),
        "estimate": float(estimate_P[i]), "at_edge": measures.fraction_at_edge(kernels, clip)}
  return out


# Every number of the part ---------------------------------------------------------------------

def measure(config) -> dict:
  """Every number of the part; keys starting with _ hold arrays for the figures."""
  return {"surfaces": {name: train_surfaces(config, name)
                       for name in ("surface_clip", "surface_penalty")},
          "deep": {**deep_gradients(config, part_config.CLIPS), **deep_gradients(config, (None,))},
          "max_steps": config.clipping.max_steps}


def surface_datasets(m: dict) -> list[str]:
  """The sets of the surface critics in ``measure``'s result, in training order."""
  return [d for d in m["surfaces"]["surface_clip"] if not d.startswith("_")]


def deep_label(clip: str) -> str:
  """A deep critic's name in the table and the figure, from its key in ``measure``'s "deep"."""
  return "penalty" if clip == "None" else f"c = {clip}"
