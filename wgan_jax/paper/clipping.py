"""WGAN-GP's case against weight clipping (Gulrajani et al. 2017, Section 3 and Figure 1).

Every critic here is trained against a fixed "generator": the real data plus N(0, σ² I) noise,
added to the same real batch as the official gan_toy.py does (so the gradient penalty's
interpolates lie between a real sample and its own noisy copy). Its step is this module's
``critic_update``: the loss, the penalty and the optimiser of ``steps.critic_step`` (through
``experiment.build``), with that generator in place of a network's.

- (a) surfaces: a clipped and a penalised critic on ring8, grid25 and swissroll (vmapped over the
  sets, one initialisation for all), each trained to the optimum the claims assume: until it
  meets the rule of wgan_jax/paper/convergence.py (its estimate changed by less than 5% over the
  last half of its steps, checked every 500 steps) or reaches that rule's cap, 10,000 steps, and
  is then reported as not converged. On fresh samples: the estimate mean f(real) - mean f(fake),
  the exact W1 between the same two sample sets (POT), the critic's Lipschitz constant K
  estimated as its largest input-gradient norm on those samples and their interpolates, and
  estimate / (K·W1), which is 1 for a critic optimal among K-Lipschitz functions. The value
  surface over the region the samples occupy (``sample_box``: the axis-aligned box of the real
  and the fake samples, with a margin), and how simple it is there: the fraction of its variance
  that a quadratic in (x, y) leaves unexplained (``quadratic_unexplained``).
- (b) deep: a 12-layer ReLU critic without normalisation on swissroll, clipped at c = 0.1, 0.01,
  0.001 and penalised, for a fixed budget (the figure is about gradients during training, not at
  the optimum): at evenly spaced points of training, the norm of the gradient of the critic's
  loss w.r.t. each hidden layer's activations, the paper's measure
  (``activation_gradient_norms``); their log10 averaged over the points, and the least-squares
  slope of that against the layer. The gradient w.r.t. each layer's weights is measured too, and
  drawn beside it: it cannot show the trend, since a weight gradient is the backpropagated
  signal above the layer times the activation below it, whose gains multiply to the same product
  at every depth. (The bias gradients are kept in numbers.json only.)
- (c) weights: the kernels of the clipped and the penalised swissroll critic of (a), and the
  fraction of them within 1% of the edge of their range.

Its config is wgan_jax/configs/clipping.py.
"""

from __future__ import annotations

import io
import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from wgan_jax import checks
from wgan_jax import experiment
from wgan_jax import files
from wgan_jax import losses
from wgan_jax import plots
from wgan_jax.configs import clipping as part_config
from wgan_jax.metrics import mixtures
from wgan_jax.paper import Claim, PartResult
from wgan_jax.paper import convergence

TITLE = "WGAN-GP's case against weight clipping (Gulrajani et al., Section 3, Figure 1)"
SURFACES_FIGURE = "value_surfaces.png"
GRADIENTS_FIGURE = "gradient_norms.png"
WEIGHTS_FIGURE = "weights.png"

# Verdict rules, fixed before any run.
# (b) The trend of log10 ‖∂loss/∂h_l‖ with the hidden layer l (1 = nearest the input) is fitted by
# least squares over every hidden layer (all of one shape, batch x width, so their Frobenius
# norms compare). The fitted change over them, slope x (their number - 1), in decades:
CHANGE_DECADES = 1.0  # at least a factor 10 over the depth: exploding (< 0) or vanishing (> 0)
GEOMETRIC_R2 = 0.8  # and the line explains this much of the variance: the change is geometric
# Within CHANGE_DECADES either way the trend is flat (the paper: the penalty's stays within about
# one order of magnitude).
# (c) A weight is at the edge of its range when |w| >= (1 - EDGE) x the edge: c for a clipped
# critic, the largest |w| of its layer for a penalised one (the same rule on its own range).
EDGE = 0.01
PILE_UP = 0.5  # clipped weights pile up at ±c: at least half of them at the edge
SPREAD = 0.05  # penalised weights spread: at most 5% at the edge of their own range
# (a) Surfaces "less simple": on a dataset, the penalised critic's surface leaves at least this
# many times the clipped one's fraction of variance unexplained by a quadratic fit.
COMPLEXITY_RATIO = 2.0
# (a) The surfaces are judged over the box of the real and fake samples, widened on each side by
# this fraction of its side: the region the samples occupy, not the empty plane around it.
BOX_MARGIN = 0.05
# (a) "Closer to W1": |1 - estimate / (K·W1)| smaller for the penalised critic (no threshold).
# (a) Every claim on the surface critics is "unclear" unless each critic it reads converged
# (convergence.py's rule, with its TOLERANCE, CHECK_EVERY and MAX_STEPS).


# Measures -------------------------------------------------------------------------------------

def stable_norm(x) -> jax.Array:
  """The Frobenius norm of ``x``, scaled by its largest entry first so that the squares of
  entries near float32's smallest (vanished gradients, 1e-25) do not underflow to 0."""
  x = jnp.asarray(x, jnp.float32)
  top = jnp.max(jnp.abs(x))
  safe = jnp.where(top > 0, top, 1.0)
  return jnp.where(top > 0, safe * jnp.sqrt(jnp.sum(jnp.square(x / safe))), 0.0)


def dense_layers(params) -> list[str]:
  """The names of the Dense layers of an MLP's params, from the input to the output."""
  names = [name for name in params if name.startswith("Dense_")]
  return sorted(names, key=lambda name: int(name.split("_")[1]))


def layer_norms(grads) -> tuple[jax.Array, jax.Array]:
  """(kernel_L, bias_L): ``stable_norm`` of each Dense layer's kernel and bias in ``grads``."""
  names = dense_layers(grads)
  return (jnp.stack([stable_norm(grads[n]["kernel"]) for n in names]),
          jnp.stack([stable_norm(grads[n]["bias"]) for n in names]))


def perturbed_scores(params, x_BxD, deltas) -> jax.Array:
  """The toy critic (``models.MLP``, params Dense_0 .. Dense_H) written out, with ``deltas[l]``
  (B x width) added to the activations ReLU(h_{l} W + b) of hidden layer l + 1: at deltas of 0
  the critic's scores (B,), and the gradient w.r.t. deltas[l] is that w.r.t. those activations."""
  names = dense_layers(params)
  h = x_BxD
  for name, delta in zip(names[:-1], deltas, strict=True):
    h = jax.nn.relu(h @ params[name]["kernel"] + params[name]["bias"][None, :]) + delta
  top = params[names[-1]]
  return (h @ top["kernel"] + top["bias"][None, :])[:, 0]


def activation_gradient_norms(spec, params, real_BxD, fake_BxD) -> jax.Array:
  """‖∂L/∂h_l‖ for each hidden layer l = 1 .. H (1 = nearest the input), (H,): the critic loss
  L = mean f(fake) - mean f(real) and h_l the whole batch's activations after the ReLU of layer
  l, the real and the fake samples' together (2B x width).

  For a penalised critic L has the penalty too, but the penalty reads the critic at the
  interpolates, another pass, and only through its input gradient, which a ReLU network's
  activations change only through its masks (a derivative of 0 almost everywhere): it adds
  nothing to these gradients, and is left out.
  """
  names = dense_layers(params)
  x_NxD = jnp.concatenate([real_BxD, fake_BxD])
  zeros = [jnp.zeros((x_NxD.shape[0], params[n]["kernel"].shape[1])) for n in names[:-1]]

  def loss(deltas):
    scores_N = perturbed_scores(params, x_NxD, deltas)
    return spec.objective.critic_loss(scores_N[:real_BxD.shape[0]],
                                      scores_N[real_BxD.shape[0]:])[0]

  return jnp.stack([stable_norm(g) for g in jax.grad(loss)(zeros)])


def log_trend(norms_N) -> dict:
  """The least-squares line of log10 ``norms_N`` against their index: slope (decades per
  layer), its change over them (slope x (N - 1)), and R²."""
  with np.errstate(divide="ignore"):  # a layer whose gradient is exactly 0 gives no trend
    y = np.log10(np.asarray(norms_N, np.float64))
  layers = np.arange(len(y))
  if len(y) < 2 or not np.all(np.isfinite(y)):
    return {"slope": math.nan, "change": math.nan, "r2": math.nan}
  slope, intercept = np.polyfit(layers, y, 1)
  total = float(np.sum(np.square(y - y.mean())))
  r2 = 1.0 - float(np.sum(np.square(y - (slope * layers + intercept)))) / total if total > 0 \
      else math.nan
  return {"slope": float(slope), "change": float(slope * (len(y) - 1)), "r2": r2}


def depth_trend(change: float, r2: float) -> str:
  """What a fitted ``log_trend`` says: explodes (toward the input), vanishes (toward the input),
  flat, or geometric-less (changes by a decade or more but not along a line)."""
  if not (math.isfinite(change)):
    return "not finite"
  if abs(change) < CHANGE_DECADES:
    return "flat"
  if not (math.isfinite(r2) and r2 >= GEOMETRIC_R2):
    return "not geometric"
  return "explodes" if change < 0 else "vanishes"


def sample_box(real_NxD, fake_NxD, margin: float = BOX_MARGIN) -> tuple[jax.Array, jax.Array]:
  """(low_D, high_D): the axis-aligned box of the real and the fake samples, widened on each
  side by ``margin`` x its side along that axis."""
  points = jnp.concatenate([jnp.asarray(real_NxD), jnp.asarray(fake_NxD)])
  low, high = jnp.min(points, axis=0), jnp.max(points, axis=0)
  pad = margin * (high - low)
  return low - pad, high + pad


def quadratic_unexplained(surface_GxG, xs_G, ys_G) -> float:
  """1 - R² of the least-squares quadratic a + bx + cy + dx² + exy + fy² fitted to a surface
  sampled at (xs_G[i], ys_G[j]) = surface_GxG[i, j]: 0 for a quadratic surface, near 1 for one
  whose variance lies in details that no quadratic follows."""
  x, y = np.meshgrid(np.asarray(xs_G, np.float64), np.asarray(ys_G, np.float64), indexing="ij")
  x, y, z = x.ravel(), y.ravel(), np.asarray(surface_GxG, np.float64).ravel()
  design = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
  coef, *_ = np.linalg.lstsq(design, z, rcond=None)
  total = float(np.sum(np.square(z - z.mean())))
  return float(np.sum(np.square(z - design @ coef))) / total if total > 0 else 0.0


def fraction_at_edge(kernels, edge: float | None = None) -> float:
  """The fraction of the weights in ``kernels`` (arrays) with |w| >= (1 - EDGE) x the edge:
  ``edge`` (c, for a clipped critic) or, when None, each array's own largest |w|."""
  at_edge = total = 0
  for w in kernels:
    w = np.abs(np.asarray(w, np.float64)).ravel()
    bound = float(w.max()) if edge is None else edge
    at_edge += int(np.sum(w >= (1.0 - EDGE) * bound))
    total += w.size
  return at_edge / total


# Training against the fixed generator ---------------------------------------------------------

def noisy_copy(real_BxD, key, noise_std: float) -> jax.Array:
  """The fixed generator's samples: ``real_BxD`` plus N(0, noise_std² I)."""
  return real_BxD + noise_std * jax.random.normal(key, real_BxD.shape)


def critic_loss(spec, params, real_BxD, fake_BxD, key) -> tuple[jax.Array, jax.Array]:
  """(the critic's training loss, its estimate mean f(real) - mean f(fake)), as
  ``steps.critic_step`` computes them: the penalty (λ·``losses.gradient_penalty``) included for
  WGAN-GP."""
  critic_fn = lambda x: spec.critic.apply({"params": params}, x, train=True)
  loss, estimate = spec.objective.critic_loss(critic_fn(real_BxD), critic_fn(fake_BxD))
  if spec.objective.method == "wgan-gp":
    loss = loss + spec.objective.gp_weight * losses.gradient_penalty(
        critic_fn, real_BxD, fake_BxD, key, spec.objective.one_sided_gp)
  return loss, estimate


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


def _scores(spec, params, x_NxD) -> jax.Array:
  return spec.critic.apply({"params": params}, x_NxD, train=False)


def lipschitz_estimate(spec, params, real_NxD, fake_NxD, key) -> jax.Array:
  """The largest ‖∇x f‖ over the real and fake samples and random interpolates between them: a
  lower bound of the critic's Lipschitz constant."""
  eps_N = jax.random.uniform(key, (real_NxD.shape[0], 1))
  points = jnp.concatenate([real_NxD, fake_NxD, eps_N * real_NxD + (1 - eps_N) * fake_NxD])
  grads = jax.grad(lambda x: jnp.sum(_scores(spec, params, x)))(points)
  return jnp.max(jnp.sqrt(jnp.sum(jnp.square(grads), axis=1)))


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
    return jnp.mean(_scores(spec, params, real)) - jnp.mean(_scores(spec, params, fake))

  def final(spec, sample, params, key):
    real, fake = eval_sets(sample, key)
    low, high = sample_box(real, fake)
    xs_G, ys_G = jnp.linspace(low[0], high[0], cl.grid), jnp.linspace(low[1], high[1], cl.grid)
    grid_Px2 = jnp.stack(jnp.meshgrid(xs_G, ys_G, indexing="ij"), -1).reshape(-1, 2)
    return {"lipschitz": lipschitz_estimate(spec, params, real, fake, jax.random.fold_in(key, 1)),
            "surface": _scores(spec, params, grid_Px2), "xs": xs_G, "ys": ys_G, "real": real,
            "fake": fake}

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
  layers = dense_layers(params_P)
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
        "unexplained": quadratic_unexplained(surface, xs_G, ys_G),
        "box": [[float(xs_G[0]), float(xs_G[-1])], [float(ys_G[0]), float(ys_G[-1])]],
        "converged_at": int(trained.converged_at_G[i]) if trained.converged_at_G[i] >= 0
                        else None,
        "steps": stop, "curve_steps": steps_T[:len(curve)], "curve": curve.tolist(),
        "change_last_half": (float((estimate_value - half) / abs(estimate_value))
                             if estimate_value else math.nan),
        "at_edge": fraction_at_edge(kernels, clip),
        "at_edge_after_one_step": fraction_at_edge(
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
    return activation_gradient_norms(spec, params, real, fake), layer_norms(grads), estimate

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
    kernels = [np.asarray(params_P[n]["kernel"][i]) for n in dense_layers(params_P)]
    out[str(clip)] = {
        "steps": marks, "activation_norms": activation_H.tolist(),
        "activation_norms_min": activation_CxPxH[:, i].min(axis=0).tolist(),
        "activation_norms_max": activation_CxPxH[:, i].max(axis=0).tolist(),
        "activation_trend": log_trend(activation_H),
        "kernel_norms": kernel_L.tolist(), "bias_norms": bias_L.tolist(),
        "kernel_norms_min": kernel_CxPxL[:, i].min(axis=0).tolist(),
        "kernel_norms_max": kernel_CxPxL[:, i].max(axis=0).tolist(),
        # Over the hidden-to-hidden kernels only: all of one shape, so that their norms compare.
        "kernel_trend": log_trend(kernel_L[1:-1]), "bias_trend": log_trend(bias_L[1:-1]),
        "estimate": float(estimate_P[i]), "at_edge": fraction_at_edge(kernels, clip)}
  return out


# The part -------------------------------------------------------------------------------------

def _check_part(config) -> None:
  cl = config.clipping
  for name in ("check_every", "max_steps", "grid", "deep_steps", "deep_checkpoints",
               "gradient_batch"):
    checks.check_count(f"--config.clipping.{name}", cl[name])
  if cl.check_every % 2 or cl.max_steps % cl.check_every:
    raise checks.ConfigError(f"--config.clipping.check_every ({cl.check_every}) must be even "
                             f"and divide --config.clipping.max_steps ({cl.max_steps})")
  checks.check_count("--config.clipping.eval_samples", cl.eval_samples, 2, lambda n: 8 * n * n,
                     "the exact W1's N x N cost matrix")
  checks.check_seed("--config.clipping.seed", cl.seed)
  if not isinstance(cl.noise_std, (int, float)) or not (
      math.isfinite(cl.noise_std) and cl.noise_std > 0):
    raise checks.ConfigError(f"--config.clipping.noise_std must be a finite number above 0, got "
                             f"{cl.noise_std!r}")
  for dataset in cl.datasets.split(","):
    if dataset not in ("ring8", "grid25", "swissroll"):
      raise checks.ConfigError(f"--config.clipping.datasets: unknown toy set {dataset!r}; "
                               f"choose from ring8, grid25, swissroll")
  for clip in (*part_config.CLIPS, None):
    if experiment.variant(config, part_config.deep_variant(clip)).critic.depth < 2:
      raise checks.ConfigError("the deep critics need at least 2 hidden layers: the trend is "
                               "fitted over them")


def measure(config) -> dict:
  """Every number of the part; keys starting with _ hold arrays for the figures."""
  return {"surfaces": {name: train_surfaces(config, name)
                       for name in ("surface_clip", "surface_penalty")},
          "deep": {**deep_gradients(config, part_config.CLIPS), **deep_gradients(config, (None,))},
          "max_steps": config.clipping.max_steps}


def _datasets(m: dict) -> list[str]:
  return [d for d in m["surfaces"]["surface_clip"] if not d.startswith("_")]


def _count_verdict(wins: int, n: int) -> str:
  return "holds" if wins == n else "does not hold" if wins == 0 else "unclear"


def _not_converged(m: dict, datasets) -> list[str]:
  """The surface critics on ``datasets`` that reached the cap without converging."""
  return [f"{'clipped' if name == 'surface_clip' else 'penalised'} on {d}"
          for name in ("surface_clip", "surface_penalty") for d in datasets
          if m["surfaces"][name][d]["converged_at"] is None]


def _resting_on(m: dict, datasets, verdict: str) -> tuple[str, str]:
  """(what to add to a claim's numbers, its verdict): "unclear" when a surface critic on
  ``datasets`` it reads did not converge, ``verdict`` otherwise."""
  missing = _not_converged(m, datasets)
  if not missing:
    return "", verdict
  return (f"; not converged within {m['max_steps']:,} steps: {', '.join(missing)}, so unclear",
          "unclear")


def _claims(m: dict) -> list[Claim]:
  deep = m["deep"]
  trends = {clip: (d["activation_trend"], depth_trend(d["activation_trend"]["change"],
                                                       d["activation_trend"]["r2"]))
            for clip, d in deep.items()}

  def said(clip):
    trend, verdict = trends[clip]
    return (f"{trend['change']:+.1f} decades over the hidden layers, R² {trend['r2']:.2f} "
            f"({verdict}; the estimate {deep[clip]['estimate']:.3g})")

  small = [c for c in deep if c != "None" and float(c) <= 0.01]
  small_trends = [trends[c][1] for c in small]
  explode = trends["0.1"][1]
  flat = trends["None"][1]
  clip, penalty = m["surfaces"]["surface_clip"], m["surfaces"]["surface_penalty"]
  datasets = _datasets(m)
  closer = sum(abs(1 - penalty[d]["normalised_ratio"]) < abs(1 - clip[d]["normalised_ratio"])
               for d in datasets)
  richer = sum(penalty[d]["unexplained"] >= COMPLEXITY_RATIO * clip[d]["unexplained"]
               for d in datasets)
  swiss = "swissroll" if "swissroll" in datasets else datasets[-1]
  piled, spread = clip[swiss]["at_edge"], penalty[swiss]["at_edge"]
  pile_note, pile_verdict = _resting_on(
      m, [swiss], "holds" if piled >= PILE_UP and spread <= SPREAD else "does not hold")
  closer_note, closer_verdict = _resting_on(m, datasets, _count_verdict(closer, len(datasets)))
  richer_note, richer_verdict = _resting_on(m, datasets, _count_verdict(richer, len(datasets)))
  return [
      Claim("In a deep critic without BatchNorm, clipping at c = 0.1 makes the gradients "
            "explode geometrically toward the input",
            f"log10 ‖∂loss/∂h_l‖ (w.r.t. each hidden layer's activations) against the layer, "
            f"c = 0.1: {said('0.1')}; explodes if ≤ -{CHANGE_DECADES:g} with R² ≥ "
            f"{GEOMETRIC_R2}",
            "holds" if explode == "explodes"
            else "unclear" if explode in ("not geometric", "not finite") else "does not hold"),
      Claim("Clipping at c ≤ 0.01 makes them vanish geometrically toward the input",
            "; ".join(f"c = {c}: {said(c)}" for c in small)
            + f"; vanishes if ≥ +{CHANGE_DECADES:g} with R² ≥ {GEOMETRIC_R2}",
            "holds" if all(t == "vanishes" for t in small_trends)
            else "does not hold" if any(t in ("flat", "explodes") for t in small_trends)
            else "unclear"),
      Claim("With the gradient penalty they neither explode nor vanish",
            f"penalty: {said('None')}; flat if within ±{CHANGE_DECADES:g} decade",
            "holds" if flat == "flat" else "unclear" if flat == "not finite"
            else "does not hold"),
      Claim("Clipped weights pile up at ±c; penalised ones spread",
            f"{swiss}, kernels within {EDGE:.0%} of the edge: clipped (c = "
            f"{part_config.SURFACE_CLIP}) {piled:.1%} (pile-up if ≥ {PILE_UP:.0%}; "
            f"{clip[swiss]['at_edge_after_one_step']:.1%} after the first step), penalised "
            f"(edge: each layer's largest |w|) {spread:.1%} (spread if ≤ {SPREAD:.0%})"
            + pile_note, pile_verdict),
      Claim("The penalised critic comes closer to the optimum: its estimate is closer to "
            "W1 (K·W1 for a K-Lipschitz critic)",
            "estimate / (K·W1), clipped vs penalised: " + ", ".join(
                f"{d} {clip[d]['normalised_ratio']:.3f} vs {penalty[d]['normalised_ratio']:.3f}"
                for d in datasets) + f"; penalised closer to 1 on {closer} of {len(datasets)}"
            + closer_note, closer_verdict),
      Claim("Clipped critics learn simpler functions than penalised ones",
            "variance a quadratic fit leaves unexplained over the samples' box, clipped vs "
            "penalised: " + ", ".join(
                f"{d} {clip[d]['unexplained']:.3f} vs {penalty[d]['unexplained']:.3f}"
                for d in datasets) + f"; penalised ≥ {COMPLEXITY_RATIO:g}x on {richer} of "
            f"{len(datasets)}" + richer_note, richer_verdict),
  ]


def _label(clip: str) -> str:
  return "penalty" if clip == "None" else f"c = {clip}"


def _converged(s: dict, max_steps: int) -> str:
  return (f"{s['converged_at']:,}" if s["converged_at"] is not None
          else f"not converged ({max_steps:,})")


def _box(box) -> str:
  (x0, x1), (y0, y1) = box
  return f"[{x0:.1f}, {x1:.1f}] × [{y0:.1f}, {y1:.1f}]"


def _table(m: dict) -> str:
  rows = ["| set | critic | converged at step | estimate | exact W1 | estimate / W1 | "
          "K (max ‖∇f‖) | estimate / (K·W1) | unexplained by a quadratic (samples' box) | "
          "samples' box | estimate change, last half |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for d in _datasets(m):
    for name, label in (("surface_clip", f"clip {part_config.SURFACE_CLIP}"),
                        ("surface_penalty", "penalty")):
      s = m["surfaces"][name][d]
      rows.append(f"| {d} | {label} | {_converged(s, m['max_steps'])} | {s['estimate']:.4g} | "
                  f"{s['w1']:.4f} | {s['ratio']:.4f} | {s['lipschitz']:.4g} | "
                  f"{s['normalised_ratio']:.3f} | {s['unexplained']:.3f} | "
                  f"{_box(s['box'])} | {s['change_last_half']:+.1%} |")
  rows += ["", "| deep critic | ‖∂loss/∂h_l‖, first hidden layer | last hidden layer | slope "
           "(decades / layer) | change over the hidden layers | R² | trend | ‖∂loss/∂W_l‖ "
           "(weights), change over the hidden-to-hidden layers | estimate | weights at ±c |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for clip, d in m["deep"].items():
    a, k = d["activation_trend"], d["kernel_trend"]
    at_edge = "" if clip == "None" else f"{d['at_edge']:.1%}"
    rows.append(f"| {_label(clip)} | {d['activation_norms'][0]:.2e} | "
                f"{d['activation_norms'][-1]:.2e} | {a['slope']:+.3f} | {a['change']:+.2f} | "
                f"{a['r2']:.3f} | {depth_trend(a['change'], a['r2'])} | {k['change']:+.2f} | "
                f"{d['estimate']:.4g} | {at_edge} |")
  rows += ["", "| set | clipped: weights at ±c | after its first step | penalised: at the edge "
           "of each layer's range | clipped std / c | penalised std / largest |w| |",
           "| --- | --- | --- | --- | --- | --- |"]
  for d in _datasets(m):
    c, p = m["surfaces"]["surface_clip"][d], m["surfaces"]["surface_penalty"][d]
    rows.append(f"| {d} | {c['at_edge']:.1%} | {c['at_edge_after_one_step']:.1%} | "
                f"{p['at_edge']:.1%} | {c['weight_std_over_edge']:.3f} | "
                f"{p['weight_std_over_edge']:.3f} |")
  return "\n".join(rows) + "\n"


# Figures --------------------------------------------------------------------------------------

def _save(fig, path) -> None:
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=plots.DPI)
  files.replace_atomically(path, buffer.getvalue())


def draw_surfaces(path, m: dict) -> None:
  """Rows: clipping, penalty; columns: the sets. Contours of each critic over the box its
  samples occupy (where it is judged), real samples (orange) and fixed-generator samples
  (green) on top."""
  import matplotlib.pyplot as plt
  datasets = _datasets(m)
  fig, axes = plt.subplots(2, len(datasets), figsize=(3.0 * len(datasets), 6.0),
                           layout="constrained", squeeze=False)
  try:
    for row, (name, label) in enumerate((("surface_clip", "weight clipping"),
                                         ("surface_penalty", "gradient penalty"))):
      for col, d in enumerate(datasets):
        s, ax = m["surfaces"][name][d], axes[row, col]
        ax.contour(s["_xs"], s["_ys"], s["_surface"].T, levels=20, cmap="viridis",
                   linewidths=0.8)
        ax.scatter(*s["_fake"].T, s=2, color="tab:green", alpha=0.4, linewidths=0)
        ax.scatter(*s["_real"].T, s=2, color="tab:orange", alpha=0.6, linewidths=0)
        ax.set_xlim(s["_xs"][0], s["_xs"][-1])
        ax.set_ylim(s["_ys"][0], s["_ys"][-1])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        stopped = (f"converged at step {s['converged_at']:,}" if s["converged_at"] is not None
                   else f"not converged in {m['max_steps']:,} steps")
        ax.set_title(f"{label}, {d}\n{stopped}\nunexplained by a quadratic "
                     f"{s['unexplained']:.3f}", fontsize=8)
    _save(fig, path)
  finally:
    plt.close(fig)


def draw_gradients(path, m: dict) -> None:
  """Two panels, for each deep critic against its layer: log10 ‖∂loss/∂h_l‖ w.r.t. each hidden
  layer's activations (the paper's measure) and log10 ‖∂loss/∂W_l‖ w.r.t. each layer's weights;
  the geometric mean over the points of training, and their range shaded. A norm of exactly 0 is
  left out: a log scale has no place for it."""
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, 2, figsize=(11.0, 3.8), layout="constrained")
  try:
    positive = lambda v: np.where(np.asarray(v) > 0, np.asarray(v), np.nan)
    panels = (("activation", "hidden layer (1 = nearest the input)", "‖∂ loss / ∂ h_l‖",
               "gradient w.r.t. each layer's activations (the paper's measure)"),
              ("kernel", "layer (1 = input)", "‖∂ loss / ∂ W_l‖",
               "gradient w.r.t. each layer's weights"))
    for ax, (what, xlabel, ylabel, title) in zip(axes, panels):
      for i, (clip, d) in enumerate(m["deep"].items()):
        color = f"C{i}"
        norms = d[f"{what}_norms"]
        layers = np.arange(1, len(norms) + 1)
        change = d[f"{what}_trend"]["change"]
        label = _label(clip) + (f" ({change:+.1f} decades)" if math.isfinite(change)
                                else " (no fit: some norms are 0)")
        ax.plot(layers, positive(norms), "o-", color=color, markersize=3, label=label)
        ax.fill_between(layers, positive(d[f"{what}_norms_min"]),
                        positive(d[f"{what}_norms_max"]), color=color, alpha=0.15, linewidth=0)
      ax.set_yscale("log")
      ax.set_xlabel(xlabel)
      ax.set_ylabel(ylabel)
      ax.set_title(f"deep critics on swissroll: {title}", fontsize=9)
      ax.legend(fontsize=7, frameon=False)
    _save(fig, path)
  finally:
    plt.close(fig)


def draw_weights(path, m: dict) -> None:
  """Histograms of the kernels of the clipped and the penalised critic of the last set."""
  import matplotlib.pyplot as plt
  d = _datasets(m)[-1]
  fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.0), layout="constrained")
  try:
    for ax, (name, label) in zip(axes, (("surface_clip",
                                         f"weight clipping (c = {part_config.SURFACE_CLIP})"),
                                        ("surface_penalty", "gradient penalty"))):
      s = m["surfaces"][name][d]
      ax.hist(s["_kernels"], bins=100, color="tab:blue")
      ax.set_yscale("log")
      ax.set_xlabel("weight")
      ax.set_title(f"{label}, {d}: {s['at_edge']:.1%} within {EDGE:.0%} of the edge",
                   fontsize=8)
    axes[0].set_ylabel("count")
    _save(fig, path)
  finally:
    plt.close(fig)


def _public(tree):
  """``tree`` without its keys starting with _ (the figures' arrays)."""
  if isinstance(tree, dict):
    return {k: _public(v) for k, v in tree.items() if not k.startswith("_")}
  return tree


def _how(config) -> str:
  cl, v = config.clipping, config.variants
  clip, penalty = v.surface_clip, v.surface_penalty
  deep = v[part_config.deep_variant(None)]
  return (f"Every critic trained against a fixed generator, real + N(0, {cl.noise_std:g}² I) "
          f"on the same real batch, one initialisation (seed {cl.seed}) for all sets. Surfaces: "
          f"{clip.critic.depth} hidden ReLU layers of {config.critic.hidden}, batch "
          f"{clip.schedule.batch_size}, on {cl.datasets.replace(',', ', ')} (ring8 and grid25 "
          f"scaled down as in gan_toy.py), each trained until its estimate (on the evaluation "
          f"samples below) changed by less than {convergence.TOLERANCE:.0%} over the last half "
          f"of its steps, checked every {cl.check_every:,} steps, at most {cl.max_steps:,}; "
          f"clipping: RMSProp {clip.critic_optimizer.learning_rate}, c = "
          f"{clip.critic_optimizer.clip}; penalty: λ {config.objective.gp_weight}, Adam "
          f"{penalty.critic_optimizer.learning_rate} β ({penalty.critic_optimizer.b1}, "
          f"{penalty.critic_optimizer.b2}). Estimate, K and exact W1 (POT) on "
          f"{cl.eval_samples} fresh real samples and their noisy copies; surfaces on a "
          f"{cl.grid}² grid over the box of those samples, widened by {BOX_MARGIN:.0%} of its "
          f"side on each side. Deep critics: {deep.critic.depth} hidden ReLU layers of "
          f"{config.critic.hidden} without normalisation on swissroll, {cl.deep_steps} steps "
          f"of batch {deep.schedule.batch_size}, the same optimisers; the gradient of the "
          f"critic loss w.r.t. each hidden layer's activations (after its ReLU; the real and "
          f"fake samples' together) and w.r.t. each layer's weights, on {cl.gradient_batch} "
          f"fresh samples after each of {cl.deep_checkpoints} equal parts of training, their "
          f"log10 averaged.")


def _changes(config) -> list[str]:
  cl = config.clipping
  return [
      "The paper's measure: the deep critics' gradient norms are taken w.r.t. each hidden "
      "layer's activations, ‖∂L/∂h_l‖, as Figure 1b plots them, not w.r.t. each layer's "
      "weights: a weight gradient is the signal backpropagated to the layer times the "
      "activation entering it, whose gains multiply to the same product at every depth, so it "
      "is flat by construction. The trend rules are unchanged; the weight gradients stay as "
      "the figure's second panel.",
      f"Trained to convergence: each surface critic trains until its estimate changed by less "
      f"than {convergence.TOLERANCE:.0%} over the last half of its steps (checked every "
      f"{cl.check_every:,} steps, at most {cl.max_steps:,}), not for a fixed 1,000 steps, "
      f"after which the estimates still rose by about a third over the last half; the paper "
      f"trains these critics to optimality. A critic that reaches the cap is reported as not "
      f"converged, and every claim that reads it is unclear.",
      f"The simpler-functions measure is taken over the region the samples occupy (the box of "
      f"the real and the fake samples, widened by {BOX_MARGIN:.0%} on each side), not over the "
      f"fixed square [-3, 3]²; each set's box is in the table.",
  ]


def run(workdir: str, quick: bool = False, config=None) -> PartResult:
  """Measures, draws value_surfaces.png, gradient_norms.png and weights.png, and writes
  result.json and numbers.json; ``config`` replaces wgan_jax/configs/clipping.py's (its
  ``quick`` variant when ``quick``)."""
  start = time.perf_counter()
  config = config or part_config.get_config("quick" if quick else "")
  checks.check(config)
  _check_part(config)
  m = measure(config)
  os.makedirs(workdir, exist_ok=True)
  draw_surfaces(os.path.join(workdir, SURFACES_FIGURE), m)
  draw_gradients(os.path.join(workdir, GRADIENTS_FIGURE), m)
  draw_weights(os.path.join(workdir, WEIGHTS_FIGURE), m)
  files.save_text(os.path.join(workdir, "numbers.json"),
                  json.dumps({"config": config.to_dict(), **_public(m)}, indent=2) + "\n")
  result = PartResult(title=TITLE, figures=[SURFACES_FIGURE, GRADIENTS_FIGURE, WEIGHTS_FIGURE],
                      table_md=_table(m), claims=_claims(m),
                      wall_time_s=time.perf_counter() - start, how=_how(config),
                      changes=_changes(config))
  result.save(workdir)
  return result
