"""Weight clipping as an optax transform, and the optimisers of each paper.

Algorithm 1 of the WGAN paper clips the critic's weights to [-c, c] *after* every update:
``optax.chain(optax.rmsprop(lr), clip_params(c))``. (The official PyTorch code clamps before each
critic step instead, so its generator step sees an unclipped critic; we follow the paper.)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from optax._src import base


def clip_params(c: float) -> optax.GradientTransformation:
  """Turns updates u into clip(p + u, -c, c) - p, so that every parameter ends in [-c, c].

  Place it last in a chain. It clips every leaf it is given, BatchNorm scale and bias included,
  as the paper and the official code do.
  """
  if not c > 0:
    raise ValueError(f"clip_params needs c > 0, got {c}")

  def init_fn(params):
    del params
    return optax.EmptyState()

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(base.NO_PARAMS_MSG)
    return jax.tree.map(lambda p, u: _update_into_box(p, u, c), params, updates), state

  return optax.GradientTransformation(init_fn, update_fn)


def _update_into_box(p: jax.Array, u: jax.Array, c: float) -> jax.Array:
  """An update d with fl(p + d) in [-c, c], as ``optax.apply_updates`` will compute it."""
  d = jnp.clip(p + u, -c, c) - p
  # clip(p + u) - p is rounded, so p + d can land an ulp outside the box (p = 1 and c = 0.01
  # gives 0.01000003). One step of d towards the box undoes that rounding.
  landed = p + d
  d = jnp.where(landed > c, jnp.nextafter(d, -jnp.inf), d)
  return jnp.where(landed < -c, jnp.nextafter(d, jnp.inf), d)


def torch_rmsprop(learning_rate: optax.ScalarOrSchedule) -> optax.GradientTransformation:
  """RMSProp as PyTorch defines it (decay 0.99, eps added outside the square root): the
  optimiser of the official WGAN code."""
  return optax.rmsprop(learning_rate, decay=0.99, eps=1e-8, eps_in_sqrt=False)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  """One network's optimiser (a name of ``OPTIMIZERS``), with optional weight clipping after each
  step."""

  name: Literal["rmsprop", "adam", "frozen"] = "rmsprop"
  learning_rate: float = 5e-5
  b1: float = 0.5
  b2: float = 0.999
  clip: float | None = None  # clip the parameters to [-clip, clip] after every update


@dataclasses.dataclass(frozen=True)
class Optimizer:
  """An optimiser family: ``make(config, lr)`` gives its optax transform (``lr`` a rate or a
  schedule); ``trains`` is False for one that never changes the parameters."""
  make: Callable[[OptimizerConfig, optax.ScalarOrSchedule], optax.GradientTransformation]
  trains: bool = True


# The optimisers by name, for OptimizerConfig.name and the configs' optimiser sections.
OPTIMIZERS = {
    "rmsprop": Optimizer(lambda config, lr: torch_rmsprop(lr)),
    "adam": Optimizer(lambda config, lr: optax.adam(lr, b1=config.b1, b2=config.b2)),
    # A generator held fixed while its critic trains (the paper parts of Figures 1 and 3).
    "frozen": Optimizer(lambda config, lr: optax.set_to_zero(), trains=False),
}


def make_optimizer(config: OptimizerConfig, schedule: optax.Schedule | None = None,
                   record_cosine: bool = False) -> optax.GradientTransformation:
  """The optax transform for ``config``; ``schedule`` (steps -> lr) replaces the constant lr.

  ``record_cosine`` keeps cos(update, -gradient) of the optimiser's own step, before any
  clipping, in its state (``with_update_cosine``, for ``GANSpec.log_update_cosine``). A frozen
  optimiser makes no update, so it is neither clipped nor recorded.
  """
  if config.name not in OPTIMIZERS:
    raise ValueError(f"unknown optimiser {config.name!r}; choose from {', '.join(OPTIMIZERS)}")
  family = OPTIMIZERS[config.name]
  tx = family.make(config, schedule if schedule is not None else config.learning_rate)
  if not family.trains:
    return tx
  if record_cosine:
    tx = with_update_cosine(tx)
  if config.clip is not None:
    tx = optax.chain(tx, clip_params(config.clip))
  return tx


class UpdateCosineState(NamedTuple):
  inner: Any
  update_cosine: jax.Array  # of the last update


def update_cosine(updates, grads) -> jax.Array:
  """cos(updates, -grads): 1 for a gradient-descent step, negative for a step uphill; 0 if
  either is zero."""
  dot = -optax.tree.vdot(updates, grads)
  norms = optax.tree.norm(updates) * optax.tree.norm(grads)
  return jnp.where(norms > 0, dot / jnp.where(norms > 0, norms, 1.0), 0.0)


def with_update_cosine(tx: optax.GradientTransformation) -> optax.GradientTransformation:
  """``tx`` that also keeps the cosine of its own update with the gradient in its state, for
  ``steps.GANSpec.log_update_cosine``. Put it inside the clipping (``optax.chain(with_update_cosine(
  adam), clip_params(c))``) so that the cosine is the optimiser's step, before the projection."""

  def init_fn(params):
    return UpdateCosineState(tx.init(params), jnp.zeros(()))

  def update_fn(grads, state, params=None):
    updates, inner = tx.update(grads, state.inner, params)
    return updates, UpdateCosineState(inner, update_cosine(updates, grads))

  return optax.GradientTransformation(init_fn, update_fn)


# The papers' settings: (generator, critic) optimisers for each method.
PAPER_OPTIMIZERS: dict[str, tuple[OptimizerConfig, OptimizerConfig]] = {
    # WGAN, Algorithm 1: RMSProp lr 5e-5, clip c = 0.01.
    "wgan": (OptimizerConfig("rmsprop", 5e-5), OptimizerConfig("rmsprop", 5e-5, clip=0.01)),
    # WGAN-GP, the 64x64 and ResNet scripts: Adam lr 1e-4, β1 = 0, β2 = 0.9.
    "wgan-gp": (OptimizerConfig("adam", 1e-4, 0.0, 0.9), OptimizerConfig("adam", 1e-4, 0.0, 0.9)),
    # GAN, the DCGAN baseline: Adam lr 2e-4, β1 = 0.5.
    "gan": (OptimizerConfig("adam", 2e-4, 0.5, 0.999), OptimizerConfig("adam", 2e-4, 0.5, 0.999)),
    # EBGAN: Adam lr 1e-3, β1 = 0.5 (the paper's MNIST search settled near these).
    "ebgan": (OptimizerConfig("adam", 1e-3, 0.5, 0.999), OptimizerConfig("adam", 1e-3, 0.5, 0.999)),
}
