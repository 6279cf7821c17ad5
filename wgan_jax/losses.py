"""Losses as pure functions of scores (critic outputs, logits or energies), all minimised.

Shapes: ``*_B`` is one score per sample. GAN losses take logits and use log-sigmoid, never
``log(sigmoid(.))``, which underflows for large logits.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

LOG_2 = math.log(2.0)


# WGAN (Arjovsky et al. 2017) -----------------------------------------------------------------

def wgan_critic_loss(real_B: jnp.ndarray, fake_B: jnp.ndarray) -> jnp.ndarray:
  """mean f(g(z)) - mean f(x): the paper's sign; its negative is the EM estimate."""
  return jnp.mean(fake_B) - jnp.mean(real_B)


def wgan_generator_loss(fake_B: jnp.ndarray) -> jnp.ndarray:
  """-mean f(g(z))."""
  return -jnp.mean(fake_B)


def em_estimate(critic_loss: jnp.ndarray) -> jnp.ndarray:
  """The critic's estimate of the Earth-Mover distance, mean f(x) - mean f(g(z))."""
  return -critic_loss


# WGAN-GP (Gulrajani et al. 2017) -------------------------------------------------------------

def gradient_penalty(critic_fn: Callable[[jnp.ndarray], jnp.ndarray], real: jnp.ndarray,
                     fake: jnp.ndarray, key: jax.Array, one_sided: bool = False) -> jnp.ndarray:
  """mean (‖∇f(x̂)‖₂ - 1)² at x̂ = εx + (1-ε)g(z), ε ~ U[0, 1] drawn per sample.

  ``critic_fn`` maps a batch to scores (B,) and must treat samples independently (no BatchNorm):
  then the gradient of the summed scores w.r.t. the batch is the per-sample input gradient.
  ``one_sided`` penalises only norms above 1: max(0, ‖g‖ - 1)².
  """
  eps_B = jax.random.uniform(key, (real.shape[0],), dtype=real.dtype)
  eps = eps_B.reshape((-1,) + (1,) * (real.ndim - 1))
  interpolates = eps * real + (1 - eps) * fake
  grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(interpolates)
  return penalty_from_gradients(grads, one_sided)


def penalty_from_gradients(grads: jnp.ndarray, one_sided: bool = False) -> jnp.ndarray:
  """The penalty on per-sample input gradients (B, ...): two-sided or one-sided."""
  # The tiny constant keeps the gradient of the norm finite where the input gradient is zero.
  norms_B = jnp.sqrt(jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1) + 1e-12)
  excess_B = norms_B - 1.0
  if one_sided:
    excess_B = jnp.maximum(excess_B, 0.0)
  return jnp.mean(jnp.square(excess_B))


# GAN (Goodfellow et al. 2014) ----------------------------------------------------------------

def gan_discriminator_loss(real_logits_B: jnp.ndarray, fake_logits_B: jnp.ndarray) -> jnp.ndarray:
  """-mean log D(x) - mean log(1 - D(g(z))), with D = sigmoid(logit)."""
  return -jnp.mean(jax.nn.log_sigmoid(real_logits_B)) - jnp.mean(jax.nn.log_sigmoid(-fake_logits_B))


def gan_generator_loss_minimax(fake_logits_B: jnp.ndarray) -> jnp.ndarray:
  """mean log(1 - D(g(z))): the minimax form, which saturates when D rejects the samples."""
  return jnp.mean(jax.nn.log_sigmoid(-fake_logits_B))


def gan_generator_loss_nonsaturating(fake_logits_B: jnp.ndarray) -> jnp.ndarray:
  """-mean log D(g(z)): the "-log D trick", the paper's GAN baseline."""
  return -jnp.mean(jax.nn.log_sigmoid(fake_logits_B))


def js_estimate(discriminator_loss: jnp.ndarray) -> jnp.ndarray:
  """½ L + log 2 with L = mean log D(x) + mean log(1 - D(g(z))): a lower bound of JS, ≤ log 2."""
  return -0.5 * discriminator_loss + LOG_2


# EBGAN (Zhao et al. 2016) --------------------------------------------------------------------

def ebgan_discriminator_loss(real_energy_B: jnp.ndarray, fake_energy_B: jnp.ndarray,
                             margin: float) -> jnp.ndarray:
  """mean D(x) + mean max(0, m - D(g(z))), D an energy (autoencoder reconstruction error)."""
  return jnp.mean(real_energy_B) + jnp.mean(jnp.maximum(margin - fake_energy_B, 0.0))


def ebgan_generator_loss(fake_energy_B: jnp.ndarray) -> jnp.ndarray:
  """mean D(g(z))."""
  return jnp.mean(fake_energy_B)
