"""Real batches streamed from the host with Grain, for sets too big for the device (LSUN).

``batch_dataset`` is the reading: a ``grain.MapDataset`` over critic iterations j whose element
j is this process's rows of batch j of the epoch order (``order.batch_indices``, the function the
in-memory sampler evaluates inside jit, so both read the same images), decoded from an
``ImageSet`` when read. Random access over j keeps the order ours and lets a run start at any
critic iteration.

``StreamFeed`` is that dataset for the training loop: Grain's threads decode up to
``buffer_size`` batches ahead while the device trains, and ``feed(step, n)`` hands over the
batches of exactly the critic iterations that steps step..step+n-1 run, as one global
``jax.Array``. On many processes each decodes only the rows of each batch that its devices hold.
"""

from __future__ import annotations

import os
from typing import Any, Callable, NamedTuple

import grain
import jax
import numpy as np

from wgan_jax.data import decode
from wgan_jax.data import order
from wgan_jax.data.decode import DataError
from wgan_jax.data.sources import ImageSet

# Every critic iteration the order has: its indices are int32.
CRITIC_ITERS = 2**31 - 1
DEFAULT_READ_THREADS = min(16, os.cpu_count() or 1)
DEFAULT_BUFFER_SIZE = 256  # batches: a few dispatches of warm-up steps (100 batches per step)


def batch_dataset(images: ImageSet, batch_size: int, seed: int,
                  rows: slice = slice(None)) -> grain.MapDataset:
  """Element j: uint8 (rows, H, W, C), the ``rows`` of the images
  ``order.batch_indices(N, seed, j, 1, batch_size)[0]``, decoded when the element is read.

  Each read decodes only its rows (in the reading thread: Grain's threads are the parallelism).
  """
  num = len(images)
  order.check_sizes(num, batch_size)
  if seed < 0:
    raise DataError(f"seed must be non-negative, got {seed}")
  indices_of = lambda j: order.batch_indices(num, seed, j, 1, batch_size)[0, rows]
  return (grain.MapDataset.range(CRITIC_ITERS)
          .map(indices_of)
          .map(lambda indices: images.read(indices, parallel=False)))


def process_rows(sharding: jax.sharding.Sharding | None, global_shape: tuple[int, ...]) -> slice:
  """The rows (axis 1) of batches of ``global_shape`` (iterations, B, H, W, C) that this
  process's devices hold under ``sharding``: all B for None. DataError unless they are one
  contiguous range, which a process must read as one share of each batch."""
  batch_size = global_shape[1]
  if sharding is None:
    return slice(0, batch_size)
  spans = sorted({index[1].indices(batch_size)[:2]
                  for index in sharding.addressable_devices_indices_map(global_shape).values()})
  start, stop = spans[0]
  for span_start, span_stop in spans[1:]:
    if span_start > stop:
      raise DataError(f"this process's devices hold rows {spans} of each batch of {batch_size}, "
                      f"not one contiguous range; order the mesh's devices by process")
    stop = max(stop, span_stop)
  return slice(start, stop)


class FedBatches(NamedTuple):
  """The real batches of one dispatch of training steps, as ``StreamFeed`` gives them."""

  first: np.ndarray  # int32 scalar: the global critic iteration of batches[0]
  batches: jax.Array  # uint8 (iterations, B, H, W, C): one per critic iteration


class StreamFeed:
  """Real images streamed from the host: ``feed(step, n)``, critic iteration j reading batch j.

  Batch j holds the images ``order.epoch_batch_indices(N, seed, j, batch_size)``, those the
  in-memory ``DeviceSampler`` draws for j: every epoch visits each image once, and the batches
  depend on (seed, j) only. ``critic_iters(steps)`` says how many critic iterations each
  generator iteration of an int array runs (the official schedule's warm-up steps run more).
  ``feed(step, n)`` returns the ``FedBatches`` of steps step..step+n-1, exactly the batches
  their critic iterations read (so a dispatch with warm-up steps has more of them: a few
  distinct shapes, each compiled once); ``StreamFeed.draw`` is the ``GANSpec.sample_real`` that
  reads them.

  ``sharding`` places the batches (iterations, B, H, W, C): a ``NamedSharding`` that splits
  axis 1 over the mesh's 'data' axis, e.g. ``NamedSharding(mesh, PartitionSpec(None, 'data'))``;
  None puts them on the default device. This process decodes only the rows its devices hold
  (``rows``), and the batches become one global array
  (``jax.make_array_from_process_local_data``).

  ``read_threads`` Grain threads decode up to ``buffer_size`` batches ahead while the device
  trains. A call whose ``step`` does not follow the previous call's (the first, or a resume)
  starts reading at that step's first critic iteration, a function of the step alone (the
  checkpointed ``GANState.critic_iter``), so a resumed run reads what an uninterrupted run
  would; ``get_state()`` is the reader's position for a record.
  """

  def __init__(self, images: ImageSet, batch_size: int, seed: int,
               critic_iters: Callable[[np.ndarray], np.ndarray],
               sharding: jax.sharding.Sharding | None = None, *,
               read_threads: int = DEFAULT_READ_THREADS,
               buffer_size: int = DEFAULT_BUFFER_SIZE):
    if read_threads < 0 or buffer_size < 0:
      raise DataError(f"read_threads and buffer_size must be non-negative, got {read_threads} "
                      f"and {buffer_size}")
    self.images, self.batch_size, self.seed = images, batch_size, seed
    self.critic_iters, self.sharding = critic_iters, sharding
    self.rows = process_rows(sharding, self._global_shape(1))
    self._batches = batch_dataset(images, batch_size, seed, self.rows).to_iter_dataset(
        grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=buffer_size))
    self._reader = None  # Grain's iterator, from the first call on
    self._next: tuple[int, int] | None = None  # (generator step, critic iteration) read next

  def _global_shape(self, iterations: int) -> tuple[int, ...]:
    return (iterations, self.batch_size, self.images.size, self.images.size,
            self.images.channels)

  def first_critic_iter(self, step: int) -> int:
    """The global index of the first critic iteration of generator iteration ``step``."""
    return int(np.sum(np.asarray(self.critic_iters(np.arange(step)), dtype=np.int64)))

  def __call__(self, step: int, n: int) -> FedBatches:
    if self._next is None or self._next[0] != step:
      self.close()  # a first call, or a jump (a resume): read on from ``step``
      first = self.first_critic_iter(step)
      self._reader = iter(self._batches)
      self._reader.set_state({"next_index": first})
    else:
      first = self._next[1]
    count = int(np.sum(np.asarray(self.critic_iters(np.arange(step, step + n)), np.int64)))
    try:
      local = np.stack([next(self._reader) for _ in range(count)])
    except BaseException:
      self.close()  # a reading error (DataError, OSError) ends this reader; a retry starts anew
      raise
    self._next = (step + n, first + count)
    return FedBatches(np.int32(first), self._put(local))

  def _put(self, local_KxRxHxWxC: np.ndarray) -> jax.Array:
    if self.sharding is None:
      return jax.device_put(local_KxRxHxWxC)
    return jax.make_array_from_process_local_data(
        self.sharding, local_KxRxHxWxC, self._global_shape(local_KxRxHxWxC.shape[0]))

  def get_state(self) -> dict[str, Any] | None:
    """Grain's iterator state, ``{"next_index": j}`` with j the critic iteration read next; None
    before the first call. Restoring ``GANState.critic_iter`` restores it: nothing else to save.
    """
    return None if self._reader is None else self._reader.get_state()

  @staticmethod
  def draw(fed: FedBatches, critic_iter: jax.Array, n: int) -> jax.Array:
    """The batch of global critic iteration ``critic_iter`` among ``fed``'s, float32
    (n, H, W, C); jittable. ``critic_iter`` must lie in the dispatch's range."""
    batch = jax.lax.dynamic_index_in_dim(fed.batches, critic_iter - fed.first, keepdims=False)
    if batch.shape[0] != n:
      raise ValueError(f"the feed's batches hold {batch.shape[0]} images, the step asks for {n}")
    return decode.as_float(batch)

  def close(self) -> None:
    """Stops the reading threads; a later call starts a new reader."""
    if self._reader is not None:
      self._reader.close()
      self._reader = None
    self._next = None
