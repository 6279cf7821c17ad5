"""Tests for wgan_jax.data.stream: each process's share of a batch, resumes, reading errors.

The images are counted (image i is the constant i, ``test_epoch_order.counted_pixels``), so a
batch says which images it holds; the expected images of batch j come from the in-memory
sampler's jitted ``order.epoch_batch_indices``.
"""

import collections
import threading

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
import numpy as np
import pytest

from test_epoch_order import counted_pixels
from wgan_jax.data import order
from wgan_jax.data import sources
from wgan_jax.data import stream
from wgan_jax.data.decode import DataError


def recording_set(pixels: np.ndarray, decoded: list) -> sources.ImageSet:
  """An in-memory ImageSet that appends the index of every image it decodes to ``decoded``."""
  num, size, _, channels = pixels.shape
  return sources.ImageSet("recorded", num, size, channels,
                          lambda i: decoded.append(i) or pixels[i])


def memory_batches(num: int, seed: int, count: int, batch: int) -> np.ndarray:
  """The images of batches 0..count-1 as the in-memory sampler computes them: int (count, B)."""
  batch_of = jax.jit(lambda j: order.epoch_batch_indices(num, seed, j, batch))
  return np.stack([np.asarray(batch_of(j)) for j in range(count)])


def test_each_process_decodes_only_its_rows():
  num, batch, count = 24, 8, 9  # 72 positions: 3 epochs
  pixels = counted_pixels(num)
  decoded = {"first": [], "second": []}
  sets = {name: recording_set(pixels, decoded[name]) for name in decoded}
  halves = {"first": slice(0, batch // 2), "second": slice(batch // 2, batch)}
  datasets = {name: stream.batch_dataset(sets[name], batch, 5, halves[name]) for name in sets}
  read = {name: np.stack([datasets[name][j] for j in range(count)]) for name in sets}
  expected_CxB = memory_batches(num, 5, count, batch)
  for name, rows in halves.items():
    np.testing.assert_array_equal(read[name][:, :, 0, 0, 0], expected_CxB[:, rows])
    assert sets[name].decoded == count * batch // 2  # its half, nothing else
    assert collections.Counter(decoded[name]) == collections.Counter(
        expected_CxB[:, rows].ravel().tolist())
  # Together: every image of the batches decoded once per time a batch holds it.
  both = collections.Counter(decoded["first"] + decoded["second"])
  assert both == collections.Counter(expected_CxB.ravel().tolist())
  assert set(both.values()) == {3}  # three epochs, each image once in each


class _Sharding:
  """Duck-typed sharding: the rows (axis 1) that this process's devices hold."""

  def __init__(self, *rows: slice):
    self.rows = rows

  def addressable_devices_indices_map(self, shape):
    return {device: (slice(None), rows, *(slice(None),) * (len(shape) - 2))
            for device, rows in enumerate(self.rows)}


def test_process_rows_come_from_the_sharding():
  shape = (1, 16, 8, 8, 3)
  assert stream.process_rows(None, shape) == slice(0, 16)
  assert stream.process_rows(_Sharding(slice(8, 12), slice(12, 16)), shape) == slice(8, 16)
  assert stream.process_rows(_Sharding(slice(4, 8), slice(None)), shape) == slice(0, 16)
  with pytest.raises(DataError, match="not one contiguous range"):
    stream.process_rows(_Sharding(slice(0, 4), slice(8, 12)), shape)
  mesh = Mesh(np.asarray(jax.devices()[:1]), ("data",))
  sharded = NamedSharding(mesh, PartitionSpec(None, "data"))
  assert stream.process_rows(sharded, shape) == slice(0, 16)


def test_a_sharded_feed_gives_a_global_array():
  pixels = counted_pixels(20)
  mesh = Mesh(np.asarray(jax.devices()[:1]), ("data",))
  sharding = NamedSharding(mesh, PartitionSpec(None, "data"))
  image_set = sources.ImageSet.from_array("counted", pixels)
  critic_iters = lambda steps: np.full(len(steps), 2)
  plain = stream.StreamFeed(image_set, 4, 1, critic_iters)
  sharded = stream.StreamFeed(image_set, 4, 1, critic_iters, sharding)
  try:
    expected, fed = plain(0, 3), sharded(0, 3)
  finally:
    plain.close()
    sharded.close()
  assert fed.batches.sharding == sharding and fed.batches.shape == (6, 4, 8, 8, 1)
  np.testing.assert_array_equal(fed.batches, expected.batches)


def test_a_resume_in_the_middle_reads_what_an_uninterrupted_feed_reads():
  num, batch = 30, 4
  pixels = counted_pixels(num)
  critic_iters = lambda steps: np.where(np.asarray(steps) < 2, 6, 2)  # 2 warm-up steps
  feed = lambda: stream.StreamFeed(sources.ImageSet.from_array("counted", pixels), batch, 9,
                                   critic_iters, read_threads=2, buffer_size=3)
  whole, resumed = feed(), feed()
  try:
    uninterrupted = [whole(0, 3), whole(3, 4), whole(7, 2)]
    assert whole.get_state() == {"next_index": 2 * 6 + 7 * 2}
    later = [resumed(3, 4), resumed(7, 2)]  # a run restarted at step 3
    assert [int(f.first) for f in later] == [6 * 2 + 2, 6 * 2 + 2 + 4 * 2]
    again = whole(3, 4)  # a jump back on the same feed restarts its reader there
  finally:
    whole.close()
    resumed.close()
  for expected, got in zip(uninterrupted[1:], later):
    assert int(expected.first) == int(got.first)
    np.testing.assert_array_equal(expected.batches, got.batches)
  np.testing.assert_array_equal(again.batches, uninterrupted[1].batches)
  labels = np.concatenate([f.batches for f in uninterrupted])[:, :, 0, 0, 0]
  np.testing.assert_array_equal(labels, memory_batches(num, 9, 26, batch))


def _call_within(seconds: float, fn):
  """fn()'s exception, or None; fails if fn has not returned after ``seconds``."""
  outcome = {}

  def call():
    try:
      fn()
    except BaseException as error:  # handed to the test's thread
      outcome["error"] = error

  thread = threading.Thread(target=call, daemon=True)
  thread.start()
  thread.join(seconds)
  assert not thread.is_alive(), "the feed hung"
  return outcome.get("error")


def test_reading_errors_reach_the_consumer():
  critic_iters = lambda steps: np.full(len(steps), 3)
  failing = stream.StreamFeed(sources.ImageSet("broken", 4, 8, 1, lambda i: 1 / 0), 2, 0,
                              critic_iters)
  unreadable = stream.StreamFeed(sources.ImageSet("lost", 4, 8, 1, lambda i: None), 2, 0,
                                 critic_iters)
  try:
    assert isinstance(_call_within(60, lambda: failing(0, 1)), ZeroDivisionError)
    error = _call_within(60, lambda: unreadable(0, 1))
    assert isinstance(error, DataError)
    assert str(error) == "lost: none of its 4 images can be decoded"
    # The failed reader is closed; a retry reads anew and fails the same way.
    assert unreadable.get_state() is None
    assert isinstance(_call_within(60, lambda: unreadable(0, 1)), DataError)
  finally:
    failing.close()
    unreadable.close()


def test_bad_feed_arguments():
  image_set = sources.ImageSet.from_array("counted", counted_pixels(5))
  critic_iters = lambda steps: np.ones(len(steps), int)
  for batch_size, seed in [(0, 0), (4, -1)]:
    with pytest.raises(DataError):
      stream.StreamFeed(image_set, batch_size, seed, critic_iters)
  with pytest.raises(DataError, match="images x batch < 2\\*\\*31"):
    stream.batch_dataset(sources.ImageSet("huge", 2**26, 8, 1, lambda i: None), 64, 0)
