"""Flax modules for the generators and critics.

Conventions: every module takes ``train`` (for BatchNorm, which keeps its running statistics in
the ``batch_stats`` collection); critics return one score per sample, shape (B,); generators map
noise (B, nz) to samples, images in NHWC with a final tanh.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp


class MLP(nn.Module):
  """ReLU MLP: the toy generator (out_dim 2) and the toy critic (out_dim 1, squeezed to (B,))."""

  hidden: Sequence[int] = (512, 512, 512)
  out_dim: int = 1

  @nn.compact
  def __call__(self, x_BxD: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    del train  # no BatchNorm; the argument keeps one signature for every model
    h = x_BxD
    for width in self.hidden:
      h = nn.relu(nn.Dense(width)(h))
    out = nn.Dense(self.out_dim)(h)
    return out[:, 0] if self.out_dim == 1 else out


class MLPAutoencoder(nn.Module):
  """EBGAN's discriminator on the toy: energy = mean squared reconstruction error, shape (B,)."""

  hidden: Sequence[int] = (512, 512)
  code_dim: int = 2

  @nn.compact
  def __call__(self, x_BxD: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    del train
    h = x_BxD
    for width in self.hidden:
      h = nn.relu(nn.Dense(width)(h))
    h = nn.Dense(self.code_dim)(h)
    for width in reversed(self.hidden):
      h = nn.relu(nn.Dense(width)(h))
    recon_BxD = nn.Dense(x_BxD.shape[-1])(h)
    return reconstruction_energy(x_BxD, recon_BxD)


def reconstruction_energy(x: jnp.ndarray, recon: jnp.ndarray) -> jnp.ndarray:
  """EBGAN's energy D(x): the mean squared error of each sample's reconstruction, shape (B,)."""
  return jnp.mean(jnp.square(recon - x).reshape(x.shape[0], -1), axis=1)
