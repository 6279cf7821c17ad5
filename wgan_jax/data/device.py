"""Real batches read on the device: the whole set on the accelerator once, for sets that fit.

``device_sampler(images, seed)`` puts the set on the device (uint8 whenever that is exact) and
returns a ``DeviceSampler``: critic iteration j reads batch j of ``order.epoch_batch_indices``
inside the jitted step, its indices computed at the batch's positions only.
``DeviceSampler.draw`` is the ``GANSpec.sample_real(critic_iter, n, data)`` of
``wgan_jax.steps`` with the set as ``data``.
"""

from __future__ import annotations

import jax
import numpy as np

from wgan_jax.data import decode
from wgan_jax.data import order
from wgan_jax.data.decode import DataError


class DeviceSampler:
  """Reads real batches on the device in epoch order: ``sampler(critic_iter, n)`` -> float32
  (n, H, W, C) in [-1, 1], the images ``epoch_batch_indices(N, seed, critic_iter, n)``.

  The images live on the device as uint8 whenever that is exact (any output of ``load_images``):
  a quarter of the memory of float32, and a batch becomes float32 inside the jitted step. Float
  images that are not on the 8-bit grid stay float32.

  Calling the sampler inside ``jax.jit`` closes over ``images``, which JAX embeds in the compiled
  program as a constant: fine for small sets (MNIST), but the compile time grows with the set
  (CIFAR-10's 150 MB already costs seconds). A loop that can pass arrays as arguments should
  call ``DeviceSampler.draw(sampler.images, critic_iter, n, seed)`` instead.
  """

  def __init__(self, images: jax.Array, seed: int = 0):
    self.images, self.seed = images, seed

  @property
  def num(self) -> int:
    return self.images.shape[0]

  @staticmethod
  def draw(images: jax.Array, critic_iter: jax.Array, n: int, seed: int = 0) -> jax.Array:
    """Batch ``critic_iter`` of ``n`` images in the epoch order of ``seed``, float32; pure and
    jittable. Consecutive batches of an epoch share no image."""
    return decode.as_float(images[order.epoch_batch_indices(images.shape[0], seed, critic_iter, n)])

  def __call__(self, critic_iter: jax.Array, n: int) -> jax.Array:
    return self.draw(self.images, critic_iter, n, self.seed)


def device_sampler(images_NxHxWxC: np.ndarray, device=None, seed: int = 0) -> DeviceSampler:
  """Puts ``images`` (float32 in [-1, 1] or uint8) on ``device`` once; returns the sampler of
  the epoch order of ``seed``."""
  images = np.asarray(images_NxHxWxC)
  if images.ndim != 4 or images.shape[0] == 0:
    raise DataError(f"expected images of shape (N, H, W, C) with N > 0, got {images.shape}")
  if images.dtype != np.uint8:
    images = images.astype(np.float32, copy=False)
    exact = decode.exact_uint8(images)
    images = images if exact is None else exact
  return DeviceSampler(jax.device_put(images, device), seed)
