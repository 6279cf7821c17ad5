"""Flax modules for the generators and critics.

Conventions: every module takes ``train`` (for BatchNorm, which keeps its running statistics in
the ``batch_stats`` collection); critics return one score per sample, shape (B,); generators map
noise (B, nz) to samples, images in NHWC with a final tanh.

``dtype`` (the toy MLP, the DCGAN and MLP image models) is the compute dtype of their matmuls and
convolutions, e.g. ``jnp.bfloat16`` on an accelerator; parameters, normalisation statistics and
the outputs (scores, images) stay float32, so losses, optimisers and the gradient penalty do not
change.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class MLP(nn.Module):
  """ReLU MLP: the toy generator (out_dim 2) and the toy critic (out_dim 1, squeezed to (B,))."""

  hidden: Sequence[int] = (512, 512, 512)
  out_dim: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x_BxD: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    del train  # no BatchNorm; the argument keeps one signature for every model
    h = x_BxD
    for width in self.hidden:
      h = nn.relu(nn.Dense(width, dtype=self.dtype)(h))
    out = nn.Dense(self.out_dim, dtype=self.dtype)(h).astype(jnp.float32)
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


# DCGAN (Radford et al.) initialisation. Dense/conv kernels are N(0, 0.02) and BatchNorm scales
# N(1, 0.02); biases keep Flax's zero default.
_dcgan_kernel_init = nn.initializers.normal(0.02)


def _dcgan_scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


_CRITIC_NORMS = ("batch", "layer", "none")


def dcgan_geometry(image_size: int) -> tuple[int, int]:
  """(start, n) with image_size = start * 2**n, start in 3..7, n >= 1: 28 -> (7, 2), 64 -> (4, 4).

  The generator projects the noise to a start x start map and doubles it n times; the critic
  halves the image n times and then scores the start x start map with a single valid conv.
  """
  start, n = image_size, 0
  while start > 7 and start % 2 == 0:
    start //= 2
    n += 1
  if not (3 <= start <= 7 and n >= 1):
    raise ValueError(
        f"DCGAN cannot handle image_size={image_size}: it must be s * 2**n with s in 3..7 and"
        " n >= 1 (e.g. 28, 32, 64).")
  return start, n


def _check_image(x_BxHxWxC: jnp.ndarray, image_size: int, channels: int) -> None:
  # A wrong size would otherwise give a (B, k, k) score map, or fail deep inside a reshape.
  if x_BxHxWxC.ndim != 4 or x_BxHxWxC.shape[1:] != (image_size, image_size, channels):
    raise ValueError(
        f"expected images of shape (B, {image_size}, {image_size}, {channels}),"
        f" got {x_BxHxWxC.shape}")


def _batch_norm(train: bool) -> nn.BatchNorm:
  # PyTorch's BatchNorm2d defaults, which the reference code uses: its momentum 0.1 is Flax's 0.9.
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                      scale_init=_dcgan_scale_init)


def _norm(h: jnp.ndarray, norm: str, train: bool) -> jnp.ndarray:
  if norm == "batch":
    return _batch_norm(train)(h)
  if norm == "layer":
    # Over (H, W, C) of each sample, as WGAN-GP's gan_64x64.py: no statistic crosses the batch, so
    # the gradient penalty of one sample does not depend on the others.
    return nn.LayerNorm(reduction_axes=(1, 2, 3), feature_axes=-1, epsilon=1e-5)(h)
  return h


def _dcgan_encode(x_BxHxWxC: jnp.ndarray, features: int, n: int, norm: str,
                  train: bool, dtype: Any = jnp.float32) -> jnp.ndarray:
  """n stride-2 4x4 convs with LeakyReLU 0.2, widths features * 2**k; no norm on the first.

  Called inside a compact method, so its layers belong to the caller and its params stay flat.
  """
  h = x_BxHxWxC
  for k in range(n):
    normed = k > 0 and norm != "none"
    # Padding 1 on each side is PyTorch's Conv2d(4, 2, 1): an even size halves exactly.
    h = nn.Conv(features * 2**k, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),
                use_bias=not normed, kernel_init=_dcgan_kernel_init, dtype=dtype)(h)
    if normed:
      h = _norm(h, norm, train)
    h = nn.leaky_relu(h, 0.2)
  return h


def _dcgan_decode(code_BxD: jnp.ndarray, channels: int, start: int, widths: Sequence[int],
                  batch_norm: bool, train: bool, dtype: Any = jnp.float32) -> jnp.ndarray:
  """Dense to a start x start map, len(widths) stride-2 4x4 transposed convs; pre-activations out.

  widths[k] is the number of filters of the map after k doublings; the last transposed conv maps
  to `channels`. Layers belong to the caller, as in `_dcgan_encode`.
  """
  batch = code_BxD.shape[0]
  # A Dense to a start x start map is the reference's 4x4 ConvTranspose2d on a 1x1 input.
  h = nn.Dense(start * start * widths[0], use_bias=not batch_norm,
               kernel_init=_dcgan_kernel_init, dtype=dtype)(code_BxD)
  h = h.reshape(batch, start, start, widths[0])
  for width in widths[1:]:
    h = _norm_relu(h, batch_norm, train)
    h = _up(width, use_bias=not batch_norm, dtype=dtype)(h)
  h = _norm_relu(h, batch_norm, train)
  return _up(channels, use_bias=True, dtype=dtype)(h).astype(jnp.float32)


def _norm_relu(h: jnp.ndarray, batch_norm: bool, train: bool) -> jnp.ndarray:
  return nn.relu(_batch_norm(train)(h) if batch_norm else h)


def _up(width: int, use_bias: bool, dtype: Any = jnp.float32) -> nn.ConvTranspose:
  # 'SAME' on a stride-2 4x4 transposed conv pads (2, 2): PyTorch's ConvTranspose2d(4, 2, 1).
  return nn.ConvTranspose(width, (4, 4), strides=(2, 2), padding="SAME", use_bias=use_bias,
                          kernel_init=_dcgan_kernel_init, dtype=dtype)


class DCGANGenerator(nn.Module):
  """DCGAN generator: noise (B, nz) -> images (B, H, W, C) in [-1, 1].

  Widths halve at each doubling, from features * 2**(n-1) on the start map down to `features` on
  the last hidden map (64x64: 512, 256, 128, 64 with the default 64). constant_features gives
  every hidden layer `features` filters; with batch_norm=False it is the paper's "no BatchNorm,
  constant number of filters" generator.
  """

  image_size: int
  channels: int
  nz: int = 100
  features: int = 64
  batch_norm: bool = True
  constant_features: bool = False
  dtype: Any = jnp.float32  # of the matmuls and convolutions (see the module docstring)

  @nn.compact
  def __call__(self, z_BxN: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    start, n = dcgan_geometry(self.image_size)
    if z_BxN.ndim != 2 or z_BxN.shape[1] != self.nz:
      raise ValueError(f"expected noise of shape (B, {self.nz}), got {z_BxN.shape}")
    if self.constant_features:
      widths = [self.features] * n
    else:
      widths = [self.features * 2**(n - 1 - k) for k in range(n)]
    x_BxHxWxC = _dcgan_decode(z_BxN, self.channels, start, widths, self.batch_norm, train,
                              self.dtype)
    return jnp.tanh(x_BxHxWxC)


class DCGANCritic(nn.Module):
  """DCGAN discriminator without the sigmoid: images (B, H, W, C) -> one score per sample, (B,).

  norm is "batch" (WGAN, GAN), "layer" or "none" (WGAN-GP: a BatchNorm critic mixes the samples of
  a batch, which breaks the per-sample gradient penalty).
  """

  image_size: int
  channels: int
  features: int = 64
  norm: str = "batch"
  dtype: Any = jnp.float32  # of the matmuls and convolutions (see the module docstring)

  @nn.compact
  def __call__(self, x_BxHxWxC: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    if self.norm not in _CRITIC_NORMS:
      raise ValueError(f"unknown critic norm {self.norm!r}; expected one of {_CRITIC_NORMS}")
    start, n = dcgan_geometry(self.image_size)
    _check_image(x_BxHxWxC, self.image_size, self.channels)
    h = _dcgan_encode(x_BxHxWxC, self.features, n, self.norm, train, self.dtype)
    # A valid start x start conv is a dense layer over the last map: one unbounded score.
    scores_Bx1x1x1 = nn.Conv(1, (start, start), padding="VALID",
                             kernel_init=_dcgan_kernel_init, dtype=self.dtype)(h)
    return scores_Bx1x1x1.reshape(x_BxHxWxC.shape[0]).astype(jnp.float32)


class MLPGenerator(nn.Module):
  """The paper's MLP generator: `layers` ReLU layers of `hidden` units -> (B, H, W, C) in [-1, 1].

  The official code's MLP_G has 3 hidden ReLU layers before its output layer: layers=3.
  Initialisation is Flax's default, close to PyTorch's default for Linear, which the reference
  code keeps (its DCGAN initialisation touches only convolutions and BatchNorm).
  """

  image_size: int
  channels: int
  hidden: int = 512
  layers: int = 4
  dtype: Any = jnp.float32  # of the matmuls (see the module docstring)

  @nn.compact
  def __call__(self, z_BxN: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    del train
    h = z_BxN
    for _ in range(self.layers):
      h = nn.relu(nn.Dense(self.hidden, dtype=self.dtype)(h))
    x_BxHWC = nn.Dense(self.image_size * self.image_size * self.channels,
                       dtype=self.dtype)(h).astype(jnp.float32)
    return jnp.tanh(
        x_BxHWC.reshape(z_BxN.shape[0], self.image_size, self.image_size, self.channels))


class MLPCritic(nn.Module):
  """ReLU MLP critic on flattened images: `layers` layers of `hidden` units, one score, (B,)."""

  hidden: int = 512
  layers: int = 4
  dtype: Any = jnp.float32  # of the matmuls (see the module docstring)

  @nn.compact
  def __call__(self, x_BxHxWxC: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    del train
    h = x_BxHxWxC.reshape(x_BxHxWxC.shape[0], -1)
    for _ in range(self.layers):
      h = nn.relu(nn.Dense(self.hidden, dtype=self.dtype)(h))
    return nn.Dense(1, dtype=self.dtype)(h)[:, 0].astype(jnp.float32)


class DCGANAutoencoder(nn.Module):
  """EBGAN's discriminator for images: energy = mean squared reconstruction error, shape (B,).

  The encoder is the DCGAN critic's conv stack, then a linear code of code_dim; the decoder is
  the DCGAN generator's stack mirrored back (widths features * 2**(n-1) down to features) with a
  linear output, so a reconstruction is not squashed to tanh's range before the error is taken.
  """

  image_size: int
  channels: int
  features: int = 64
  code_dim: int = 128
  batch_norm: bool = True

  @nn.compact
  def __call__(self, x_BxHxWxC: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    start, n = dcgan_geometry(self.image_size)
    _check_image(x_BxHxWxC, self.image_size, self.channels)
    norm = "batch" if self.batch_norm else "none"
    h = _dcgan_encode(x_BxHxWxC, self.features, n, norm, train)
    code_BxD = nn.Dense(self.code_dim, kernel_init=_dcgan_kernel_init)(
        h.reshape(h.shape[0], -1))
    widths = [self.features * 2**(n - 1 - k) for k in range(n)]
    recon = _dcgan_decode(code_BxD, self.channels, start, widths, self.batch_norm, train)
    return reconstruction_energy(x_BxHxWxC, recon)
