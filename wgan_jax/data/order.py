"""The one epoch order of real batches, in memory and streamed: which images batch j holds.

Critic iteration j takes batch j of an endless sequence of shuffled epochs, each epoch a keyed
permutation of the set, so each epoch visits every image once (no image repeats within an
epoch, as with the official code's shuffled loader) and the batches depend on (seed, j) only: a
resumed run reads what an uninterrupted one would. ``epoch_batch_indices`` is the formula,
written once and evaluated inside jit by the in-memory sampler; ``batch_indices`` evaluates the
same jitted function on the host's CPU for the stream, so both feeds read the same images.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from wgan_jax.data.decode import DataError

# Rounds of the Feistel network of ``epoch_batch_indices``: four already make a keyed
# pseudo-random permutation (Luby-Rackoff); two more for margin at small set sizes.
FEISTEL_ROUNDS = 6


def _mix32(x: jax.Array) -> jax.Array:
  """A bijective 32-bit integer hash (lowbias32), uint32 -> uint32, elementwise."""
  x = x ^ (x >> 16)
  x = x * jnp.uint32(0x7FEB352D)
  x = x ^ (x >> 15)
  x = x * jnp.uint32(0x846CA68B)
  return x ^ (x >> 16)


def _feistel(x: jax.Array, keys: jax.Array, half_bits: int) -> jax.Array:
  """A keyed bijection of [0, 4**half_bits), uint32 -> uint32: a balanced Feistel network."""
  mask = jnp.uint32((1 << half_bits) - 1)
  left, right = x >> half_bits, x & mask
  for i in range(keys.shape[0]):
    left, right = right, left ^ (_mix32(right ^ keys[i]) & mask)
  return (left << half_bits) | right


def check_sizes(num: int, n: int) -> None:
  """DataError unless the order can cut ``num`` images into batches of ``n``."""
  if num < 1 or n < 1 or num * n >= 2**31:
    raise DataError(f"the epoch order needs at least 1 image, batches of at least 1 and images x "
                    f"batch < 2**31, got {num} images in batches of {n}")


def epoch_batch_indices(num: int, seed: int, critic_iter: jax.Array, n: int) -> jax.Array:
  """The images of batch ``critic_iter`` of an endless sequence of epochs of ``num`` images:
  int32 (n,); pure and jittable.

  Batch j holds positions j*n .. j*n+n-1 of the concatenated epochs; position p of epoch e is
  image pi_e(p), pi_e a permutation of [0, num) keyed by (seed, e): a Feistel network over the
  next power of 4, walked until it lands in range (cycle walking), with round keys from
  ``jax.random.fold_in(jax.random.key(seed), e)``. Each epoch visits every image once, a batch
  may span the end of one epoch and the start of the next, and a batch costs O(n), not a sort
  of the set.
  """
  check_sizes(num, n)
  critic_iter = jnp.asarray(critic_iter, jnp.int32)
  # Position j*n + i = epoch * num + offset, split so that nothing exceeds int32 while j*n does.
  whole, rest = jnp.divmod(critic_iter, num)
  flat_n = rest * n + jnp.arange(n, dtype=jnp.int32)  # < num * n
  epochs_n = whole * n + flat_n // num
  positions_n = (flat_n % num).astype(jnp.uint32)
  half_bits = max(1, (int(num - 1).bit_length() + 1) // 2)
  data_key = jax.random.key(seed)
  keys_nxR = jax.vmap(lambda e: jax.random.bits(jax.random.fold_in(data_key, e),
                                                (FEISTEL_ROUNDS,), jnp.uint32))(epochs_n)
  permute = jax.vmap(lambda x, keys: _feistel(x, keys, half_bits))
  # Applying the bijection again until the value is below num gives a bijection of [0, num);
  # the domain is under 4 * num, so that takes a few applications on average.
  walk = lambda x: jnp.where(x >= num, permute(x, keys_nxR), x)
  indices_n = jax.lax.while_loop(lambda x: jnp.any(x >= num), walk, permute(positions_n, keys_nxR))
  return indices_n.astype(jnp.int32)


@functools.partial(jax.jit, static_argnums=(0, 1, 3))
def _batches(num: int, seed: int, critic_iters_K: jax.Array, n: int) -> jax.Array:
  return jax.vmap(lambda j: epoch_batch_indices(num, seed, j, n))(critic_iters_K)


def batch_indices(num: int, seed: int, first_critic_iter: int, count: int, n: int) -> np.ndarray:
  """``epoch_batch_indices`` of critic iterations first_critic_iter .. +count-1 on the host:
  int32 (count, n), bitwise what the jitted function gives on any device.

  Computed on this process's first CPU device, so it never occupies an accelerator and works
  under ``jax.distributed`` (where ``jax.devices()[0]`` may belong to another process).
  """
  if first_critic_iter < 0 or count < 0 or first_critic_iter + count > 2**31:
    raise DataError(f"critic iterations must lie in [0, 2**31), got {first_critic_iter} .. "
                    f"{first_critic_iter + count - 1}")
  cpu = jax.local_devices(backend="cpu")[0]
  critic_iters_K = jax.device_put(
      np.arange(first_critic_iter, first_critic_iter + count, dtype=np.int32), cpu)
  return np.asarray(_batches(num, seed, critic_iters_K, n))
