"""Flax modules for the generators and critics.

Conventions: every module takes ``train`` (for BatchNorm, which keeps its running statistics in
the ``batch_stats`` collection); critics return one score per sample, shape (B,); generators map
noise (B, noise_dim) to samples, images in NHWC with a final tanh.

``dtype`` (the toy MLP, the DCGAN and MLP image models) is the compute dtype of their matmuls and
convolutions, e.g. ``jnp.bfloat16`` on an accelerator; parameters, normalisation statistics and
the outputs (scores, images) stay float32, so losses, optimisers and the gradient penalty do not
change.
"""

from __future__ import annotations

import math
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
# N(1, 0.02). As in the official WGAN code, no DCGAN convolution has a bias; the BatchNorm
# biases start at 0.
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


# The DCGAN layers are stride-2 4x4 convolutions and their transposes, with PyTorch's padding 1.
# Their forward passes are lax's own. Their gradients are written by hand with three operations
# XLA runs fast on the CPU: the two forward convolutions (the input gradient of either is the
# other, on the flipped kernel) and the kernel gradient of the strided convolution. Autodiff's
# own rules give the transposed convolution's kernel gradient and the gradient penalty's second
# derivatives as convolutions XLA's CPU backend runs several times slower. Same function, same
# derivatives.
_DN = ("NHWC", "HWIO", "NHWC")


def _flip(kernel_4x4xCxF: jnp.ndarray) -> jnp.ndarray:
  """The kernel of the adjoint: spatially flipped, input and output features swapped."""
  return kernel_4x4xCxF[::-1, ::-1].swapaxes(2, 3)


def _strided_kernel_grad(x_BxHxWxC: jnp.ndarray, dy_BxhxwxF: jnp.ndarray) -> jnp.ndarray:
  """d<dy, conv_down(x, k)>/dk, shape (4, 4, C, F).

  A convolution of x with dy dilated by 2, written with the batch as the contracted feature
  axis so that its dimension labels are the canonical (batch, spatial, feature) ones: XLA's CPU
  backend rewrites autodiff's own layout into this form outside loops but not inside them, where
  it then runs a generic convolution tens of times slower.
  """
  k_Cx4x4xF = jax.lax.conv_general_dilated(
      x_BxHxWxC.transpose(3, 1, 2, 0), dy_BxhxwxF.astype(x_BxHxWxC.dtype).transpose(1, 2, 0, 3),
      (1, 1), ((1, 1), (1, 1)), rhs_dilation=(2, 2), dimension_numbers=_DN)
  return k_Cx4x4xF.transpose(1, 2, 0, 3)


@jax.custom_vjp
def conv_down(x_BxHxWxC: jnp.ndarray, kernel_4x4xCxF: jnp.ndarray) -> jnp.ndarray:
  """nn.Conv(F, (4, 4), strides 2, padding 1) without bias: (B, H, W, C) -> (B, H/2, W/2, F)."""
  return jax.lax.conv_general_dilated(x_BxHxWxC, kernel_4x4xCxF, (2, 2), ((1, 1), (1, 1)),
                                      dimension_numbers=_DN)


def _conv_down_bwd(residuals, dy):
  x, kernel = residuals
  return conv_up(dy, _flip(kernel)), _strided_kernel_grad(x, dy)


conv_down.defvjp(lambda x, k: (conv_down(x, k), (x, k)), _conv_down_bwd)


@jax.custom_vjp
def conv_up(x_BxHxWxC: jnp.ndarray, kernel_4x4xCxF: jnp.ndarray) -> jnp.ndarray:
  """nn.ConvTranspose(F, (4, 4), strides 2, "SAME") without bias: -> (B, 2H, 2W, F)."""
  return jax.lax.conv_transpose(x_BxHxWxC, kernel_4x4xCxF, (2, 2), "SAME", dimension_numbers=_DN)


def _conv_up_bwd(residuals, dy):
  x, kernel = residuals
  return conv_down(dy, _flip(kernel)), _flip(_strided_kernel_grad(dy, x))


conv_up.defvjp(lambda x, k: (conv_up(x, k), (x, k)), _conv_up_bwd)


class Conv4x4(nn.Module):
  """A stride-2 4x4 convolution (or its transpose) without bias, as every convolution of the
  official DCGAN networks: nn.Conv's kernel parameter."""

  features: int
  transpose: bool = False  # upsampling, as nn.ConvTranspose(4x4, strides 2, "SAME")
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x_BxHxWxC: jnp.ndarray) -> jnp.ndarray:
    kernel = self.param("kernel", _dcgan_kernel_init, (4, 4, x_BxHxWxC.shape[-1], self.features))
    x, kernel = x_BxHxWxC.astype(self.dtype), kernel.astype(self.dtype)
    return conv_up(x, kernel) if self.transpose else conv_down(x, kernel)


class WholeMapConv(nn.Module):
  """A valid convolution without bias whose window is the whole (H, W) map, with nn.Conv's
  kernel parameter.

  It is a dense layer over the flattened map, and computed as one: (B, H, W, C) -> (B, F).
  """

  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x_BxHxWxC: jnp.ndarray) -> jnp.ndarray:
    b, h, w, c = x_BxHxWxC.shape
    kernel = self.param("kernel", _dcgan_kernel_init, (h, w, c, self.features))
    x_BxD = x_BxHxWxC.reshape(b, h * w * c).astype(self.dtype)
    return x_BxD @ kernel.reshape(h * w * c, self.features).astype(self.dtype)


def _dcgan_encode(x_BxHxWxC: jnp.ndarray, features: int, n: int, norm: str,
                  train: bool, dtype: Any = jnp.float32) -> jnp.ndarray:
  """n stride-2 4x4 convs with LeakyReLU 0.2, widths features * 2**k; no norm on the first.

  Called inside a compact method, so its layers belong to the caller and its params stay flat
  (named Conv_k, as nn.Conv's would be).
  """
  h = x_BxHxWxC
  for k in range(n):
    normed = k > 0 and norm != "none"
    h = Conv4x4(features * 2**k, dtype=dtype, name=f"Conv_{k}")(h)
    if normed:
      h = _norm(h, norm, train)
    h = nn.leaky_relu(h, 0.2)
  return h


def _dcgan_decode(code_BxD: jnp.ndarray, channels: int, start: int, widths: Sequence[int],
                  batch_norm: bool, train: bool, dtype: Any = jnp.float32) -> jnp.ndarray:
  """Dense to a start x start map, len(widths) stride-2 4x4 transposed convs; pre-activations out.

  widths[k] is the number of filters of the map after k doublings; the last transposed conv maps
  to `channels`. Layers belong to the caller, as in `_dcgan_encode` (named ConvTranspose_k).
  """
  batch = code_BxD.shape[0]
  # A Dense to a start x start map is the reference's 4x4 ConvTranspose2d on a 1x1 input.
  h = nn.Dense(start * start * widths[0], use_bias=False, kernel_init=_dcgan_kernel_init,
               dtype=dtype)(code_BxD)
  h = h.reshape(batch, start, start, widths[0])
  out_widths = list(widths[1:]) + [channels]
  for k, width in enumerate(out_widths):
    h = nn.relu(_batch_norm(train)(h) if batch_norm else h)
    h = Conv4x4(width, transpose=True, dtype=dtype, name=f"ConvTranspose_{k}")(h)
  return h.astype(jnp.float32)


class DCGANGenerator(nn.Module):
  """DCGAN generator: noise (B, noise_dim) -> images (B, H, W, C) in [-1, 1].

  Widths halve at each doubling, from features * 2**(n-1) on the start map down to `features` on
  the last hidden map (64x64: 512, 256, 128, 64 with the default 64). constant_features gives
  every hidden layer `features` filters; with batch_norm=False it is the paper's "no BatchNorm,
  constant number of filters" generator.
  """

  image_size: int
  channels: int
  noise_dim: int = 100
  features: int = 64
  batch_norm: bool = True
  constant_features: bool = False
  dtype: Any = jnp.float32  # of the matmuls and convolutions (see the module docstring)

  @nn.compact
  def __call__(self, z_BxN: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    start, n = dcgan_geometry(self.image_size)
    if z_BxN.ndim != 2 or z_BxN.shape[1] != self.noise_dim:
      raise ValueError(f"expected noise of shape (B, {self.noise_dim}), got {z_BxN.shape}")
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
    _, n = dcgan_geometry(self.image_size)
    _check_image(x_BxHxWxC, self.image_size, self.channels)
    h = _dcgan_encode(x_BxHxWxC, self.features, n, self.norm, train, self.dtype)
    # The reference's valid start x start conv to one unbounded score.
    scores_Bx1 = WholeMapConv(1, dtype=self.dtype, name=f"Conv_{n}")(h)
    return scores_Bx1[:, 0].astype(jnp.float32)


def torch_linear(features: int, x_BxD: jnp.ndarray, dtype: Any) -> jnp.ndarray:
  """A Dense layer initialised as PyTorch's nn.Linear default: kernel and bias uniform in
  ±1/sqrt(fan_in) (a kernel variance of 1 / (3 fan_in), a third of Flax's ``lecun_normal``).
  Call it inside a compact module."""
  bound = 1.0 / math.sqrt(x_BxD.shape[-1])
  uniform = lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound,
                                                                      bound)
  return nn.Dense(features, dtype=dtype, kernel_init=uniform, bias_init=uniform)(x_BxD)


class MLPGenerator(nn.Module):
  """The paper's MLP generator: `layers` ReLU layers of `hidden` units, then a linear layer to
  (B, H, W, C).

  As the official MLP_G: 3 hidden layers (4 Linear layers, the paper's "4 layers of 512 units")
  and no tanh at the output, so samples are not confined to the data's [-1, 1]. Initialised as
  the official code leaves it, PyTorch's default for Linear (``torch_linear``): its DCGAN
  initialisation touches only convolutions and BatchNorm.
  """

  image_size: int
  channels: int
  hidden: int = 512
  layers: int = 3
  dtype: Any = jnp.float32  # of the matmuls (see the module docstring)

  @nn.compact
  def __call__(self, z_BxN: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    del train
    h = z_BxN
    for _ in range(self.layers):
      h = nn.relu(torch_linear(self.hidden, h, self.dtype))
    x_BxHWC = torch_linear(self.image_size * self.image_size * self.channels, h,
                           self.dtype).astype(jnp.float32)
    return x_BxHWC.reshape(z_BxN.shape[0], self.image_size, self.image_size, self.channels)


class MLPCritic(nn.Module):
  """ReLU MLP critic on flattened images: `layers` layers of `hidden` units, one score, (B,).

  As the official MLP_D: 3 hidden layers of 512 by default, initialised as PyTorch's Linear
  (``torch_linear``).
  """

  hidden: int = 512
  layers: int = 3
  dtype: Any = jnp.float32  # of the matmuls (see the module docstring)

  @nn.compact
  def __call__(self, x_BxHxWxC: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    del train
    h = x_BxHxWxC.reshape(x_BxHxWxC.shape[0], -1)
    for _ in range(self.layers):
      h = nn.relu(torch_linear(self.hidden, h, self.dtype))
    return torch_linear(1, h, self.dtype)[:, 0].astype(jnp.float32)


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


class ParallelLine(nn.Module):
  """The WGAN paper's Example 1, g_θ(z) = (θ, Φ(z)): Φ, the normal CDF, turns the steps' Gaussian
  noise into Z ~ U[0, 1], and θ is the one parameter."""

  theta_init: float = 1.0

  @nn.compact
  def __call__(self, z_Bx1: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    del train
    theta = self.param("theta", lambda key: jnp.asarray(self.theta_init, jnp.float32))
    u_B = jax.scipy.stats.norm.cdf(z_Bx1[:, 0])
    return jnp.stack([jnp.full_like(u_B, theta), u_B], axis=1)


class ShiftedGaussian(nn.Module):
  """A 1-D Gaussian shifted by θ, g_θ(z) = θ + std·z: the fake of the paper's Figure 3, the real
  1-D Gaussian moved by θ; θ is the one parameter. Shape (B, 1)."""

  theta_init: float = 1.0
  std: float = 1.0

  @nn.compact
  def __call__(self, z_Bx1: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    del train
    theta = self.param("theta", lambda key: jnp.asarray(self.theta_init, jnp.float32))
    return theta + self.std * z_Bx1[:, :1]
