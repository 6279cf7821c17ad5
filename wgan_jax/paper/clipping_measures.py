"""The measures of a critic in the clipping part (wgan_jax/paper/clipping.py): gradient norms
that do not underflow, the gradient w.r.t. each hidden layer's activations, the trend of a norm
over the layers, the box the samples occupy and how simple a surface is over it, the fraction of
weights at the edge of their range, and a lower bound of the critic's Lipschitz constant.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

# (c) A weight is at the edge of its range when |w| >= (1 - EDGE) x the edge: c for a clipped
# critic, the largest |w| of its layer for a penalised one (the same rule on its own range).
EDGE = 0.01
# (a) The surfaces are judged over the box of the real and fake samples, widened on each side by
# this fraction of its side: the region the samples occupy, not the empty plane around it.
BOX_MARGIN = 0.05


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


def scores(spec, params, x_NxD) -> jax.Array:
  """The critic's values at ``x_NxD`` (eval mode)."""
  return spec.critic.apply({"params": params}, x_NxD, train=False)


def lipschitz_estimate(spec, params, real_NxD, fake_NxD, key) -> jax.Array:
  """The largest ‖∇x f‖ over the real and fake samples and random interpolates between them: a
  lower bound of the critic's Lipschitz constant."""
  eps_N = jax.random.uniform(key, (real_NxD.shape[0], 1))
  points = jnp.concatenate([real_NxD, fake_NxD, eps_N * real_NxD + (1 - eps_N) * fake_NxD])
  grads = jax.grad(lambda x: jnp.sum(scores(spec, params, x)))(points)
  return jnp.max(jnp.sqrt(jnp.sum(jnp.square(grads), axis=1)))
