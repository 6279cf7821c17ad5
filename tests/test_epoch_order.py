"""Real batches without replacement within an epoch, in memory and streamed, counted image by image.

Every dataset here holds N images where image i is the constant i, so a batch says which images
it holds; the expectations are counts (each image once per epoch, 100 x B distinct images in a
warm-up step), not a restatement of the order's formula.
"""

from __future__ import annotations

import collections
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wgan_jax import checkpoints
from wgan_jax import loop
from wgan_jax import models
from wgan_jax import optim
from wgan_jax import steps as steps_lib
from wgan_jax.data import decode
from wgan_jax.data import device
from wgan_jax.data import order
from wgan_jax.data import sources
from wgan_jax.data import stream


def counted_pixels(num: int, size: int = 8) -> np.ndarray:
  """uint8 (num, size, size, 1): image i is the constant i (num <= 256)."""
  return np.broadcast_to(np.arange(num, dtype=np.uint8)[:, None, None, None],
                         (num, size, size, 1)).copy()


def labels_of(batch_BxHxWxC) -> np.ndarray:
  """Which images a float32 batch of ``counted_pixels`` holds: int (B,)."""
  pixels = decode.to_uint8(np.asarray(batch_BxHxWxC))
  assert (pixels == pixels[:, :1, :1, :1]).all()  # each image constant
  return pixels[:, 0, 0, 0].astype(int)


def assert_each_once(labels: np.ndarray, num: int) -> None:
  np.testing.assert_array_equal(np.bincount(labels, minlength=num), np.ones(num, int))


# --- the in-memory order -----------------------------------------------------------------------


def test_consecutive_batches_of_an_epoch_cover_every_image_once():
  pixels = counted_pixels(24)
  sampler = device.device_sampler(pixels, seed=5)
  draw = jax.jit(lambda j: sampler(j, 4))
  labels = np.concatenate([labels_of(draw(j)) for j in range(12)])  # two epochs of 6 batches
  assert_each_once(labels[:24], 24)
  assert_each_once(labels[24:], 24)
  assert not np.array_equal(labels[:24], labels[24:])  # a new shuffle each epoch
  assert not np.array_equal(labels[:24], np.arange(24))
  # The order depends on the seed and the index only.
  np.testing.assert_array_equal(labels_of(draw(7)), labels[28:32])
  other = device.device_sampler(pixels, seed=6)
  assert not np.array_equal(labels_of(other(0, 24)), labels[:24])


def test_a_batch_may_span_two_epochs():
  sampler = device.device_sampler(counted_pixels(10), seed=1)
  draw = jax.jit(lambda j: sampler(j, 4))
  labels = np.concatenate([labels_of(draw(j)) for j in range(5)])  # 20 positions = 2 epochs
  assert_each_once(labels[:10], 10)  # batch 2 ends epoch 0 and starts epoch 1
  assert_each_once(labels[10:], 10)
  # A batch larger than the set spans several epochs: 25 positions over 10 images.
  labels_25 = labels_of(jax.jit(lambda j: sampler(j, 25))(1))  # positions 25..49
  assert_each_once(labels_25[5:15], 10)
  assert_each_once(labels_25[15:25], 10)


def test_the_order_does_not_overflow_late_in_a_long_run():
  num, batch = 1000, 64
  j = 40_000_000  # j * batch is beyond int32
  batch_of = jax.jit(lambda i: order.epoch_batch_indices(num, 0, i, batch))
  indices = np.asarray(batch_of(j))
  assert indices.min() >= 0 and indices.max() < num and len(set(indices)) == batch
  # The batches around position j*B, computed in Python integers, hold every image of its epoch
  # once.
  epoch_start = j * batch // num * num
  first, last = epoch_start // batch, (epoch_start + num - 1) // batch
  covered = np.concatenate([np.asarray(batch_of(i)) for i in range(first, last + 1)])
  flat = np.arange(first * batch, (last + 1) * batch)
  in_epoch = (flat >= epoch_start) & (flat < epoch_start + num)
  np.testing.assert_array_equal(np.bincount(covered[in_epoch], minlength=num), np.ones(num, int))


def test_the_host_evaluation_is_the_jitted_function_bitwise():
  # Set sizes around powers of 4 (the Feistel domain), batches larger than the set, and critic
  # iterations whose positions j * n lie beyond int32.
  for num, n, first in [(10, 4, 0), (16, 3, 5), (17, 40, 2), (1000, 64, 40_000_000)]:
    on_host = order.batch_indices(num, 7, first, 6, n)
    assert on_host.shape == (6, n) and on_host.dtype == np.int32
    batch_of = jax.jit(lambda j: order.epoch_batch_indices(num, 7, j, n))
    np.testing.assert_array_equal(on_host, np.stack([batch_of(first + k) for k in range(6)]))


def test_streamed_batches_are_the_in_memory_batches():
  num, batch = 10, 4  # 2.5 batches an epoch: batches 2, 7, ... span two epochs
  pixels = counted_pixels(num)
  # Steps 0..2 are warm-up steps of 7 critic iterations, later ones run 3.
  critic_iters = lambda steps: np.where(np.asarray(steps) < 3, 7, 3)
  feed = stream.StreamFeed(sources.ImageSet.from_array("counted", pixels), batch, seed=2,
                           critic_iters=critic_iters, read_threads=2, buffer_size=5)
  try:
    fed = [feed(0, 2), feed(2, 3), feed(5, 1)]  # dispatches of warm-up, mixed and normal steps
  finally:
    feed.close()
  assert [int(f.first) for f in fed] == [0, 14, 14 + 7 + 3 + 3]
  assert [f.batches.shape[0] for f in fed] == [14, 13, 3]
  streamed = np.concatenate([f.batches for f in fed])  # critic iterations 0..29
  draw = jax.jit(device.DeviceSampler.draw, static_argnums=(2, 3))
  in_memory = np.stack([draw(jnp.asarray(pixels), j, batch, 2) for j in range(30)])
  np.testing.assert_array_equal(decode.to_float(streamed), in_memory)
  # The sampler of the steps reads batch j of a dispatch by its global critic iteration.
  read = jax.jit(stream.StreamFeed.draw, static_argnums=2)
  np.testing.assert_array_equal(read(fed[1], 20, batch), in_memory[20])
  labels = np.concatenate([labels_of(b) for b in in_memory])
  for epoch in range(12):  # 120 positions: 12 epochs, each image once in each
    assert_each_once(labels[10 * epoch:10 * (epoch + 1)], num)


# --- the steps -----------------------------------------------------------------------------


def image_spec(sample_real, batch_size, **kwargs):
  gen_tx, critic_tx = map(optim.make_optimizer, optim.PAPER_OPTIMIZERS["wgan"])
  return steps_lib.GANSpec(
      generator=models.MLPGenerator(8, 1, hidden=8, layers=1),
      critic=models.MLPCritic(hidden=8, layers=1), generator_tx=gen_tx, critic_tx=critic_tx,
      objective=steps_lib.Objective("wgan"), sample_real=sample_real, noise_dim=4,
      batch_size=batch_size, **kwargs)


def recording(sampler, seen: list):
  """``sampler`` that also hands each real batch it returns to ``seen`` (from inside jit)."""

  def sample_real(critic_iter, n, data):
    batch = sampler(critic_iter, n, data)
    jax.debug.callback(lambda b: seen.append(labels_of(b)), batch)
    return batch

  return sample_real


def in_memory(seed=0):
  return lambda critic_iter, n, data: device.DeviceSampler.draw(data, critic_iter, n, seed)


def streamed_draw(critic_iter, n, fed):
  return stream.StreamFeed.draw(fed, critic_iter, n)


@pytest.mark.parametrize("streamed", [False, True], ids=["in_memory", "streamed"])
def test_a_warm_up_step_sees_100_batches_of_distinct_images(streamed):
  num, batch = 256, 2  # 100 x B = 200 <= N
  pixels, seen = counted_pixels(num), []
  sampler = streamed_draw if streamed else in_memory()
  spec = image_spec(recording(sampler, seen), batch, n_critic=5, official_schedule=True)
  fns = steps_lib.make_steps(spec)
  state = fns.init(jax.random.key(0))
  if streamed:
    critic_iters = lambda steps: np.asarray(steps_lib.critic_iterations_of(5, True, steps))
    feed = stream.StreamFeed(sources.ImageSet.from_array("counted", pixels), batch, seed=0,
                             critic_iters=critic_iters)
    try:
      data = feed(0, 1)
    finally:
      feed.close()
    assert data.batches.shape[0] == 100  # the feed reads exactly the step's batches
  else:
    data = jnp.asarray(pixels)
  state, metrics = fns.train_steps(state, jax.random.key(1), 1, data)
  jax.effects_barrier()
  assert int(metrics["critic_iters"][0]) == 100 and int(state.critic_iter) == 100
  labels = np.concatenate(seen)
  assert len(labels) == 100 * batch
  assert len(set(labels.tolist())) == 100 * batch


def test_the_counter_counts_warm_up_and_normal_steps():
  seen = []
  spec = image_spec(recording(in_memory(), seen), 2, n_critic=5, official_schedule=True)
  fns = steps_lib.make_steps(spec)
  data = jnp.asarray(counted_pixels(200))
  state = fns.init(jax.random.key(0))
  # Steps 23..26: two warm-up steps (100 each), then two normal ones (5 each).
  state = state._replace(step=jnp.asarray(23, jnp.int32))
  state, _ = fns.train_steps(state, jax.random.key(1), 4, data)
  assert int(state.critic_iter) == 100 + 100 + 5 + 5
  # critic_step on its own advances it too, and every call reads a fresh batch of the epoch.
  seen.clear()
  state = state._replace(critic_iter=jnp.asarray(0, jnp.int32))
  for _ in range(100):
    state, _ = fns.critic_step(state, jax.random.key(2), data)
  jax.effects_barrier()
  assert int(state.critic_iter) == 100
  assert_each_once(np.concatenate(seen), 200)


def test_over_seeds_shares_the_counter():
  spec = image_spec(in_memory(), 4, n_critic=3)
  fns = steps_lib.make_steps(spec)
  init_keys, train_keys = loop.seed_keys([0, 1])
  state = steps_lib.init_over_seeds(fns.init, init_keys)
  run = jax.jit(steps_lib.over_seeds(fns.train_steps), static_argnums=2)
  state, _ = run(state, train_keys, 2, jnp.asarray(counted_pixels(50)))
  assert state.critic_iter.shape == () and int(state.critic_iter) == 6


def test_a_resumed_stream_reads_the_batches_of_an_uninterrupted_one():
  # In memory the batches are a function of the checkpointed counter inside the step, which
  # test_train's bitwise resume covers; the stream restarts its reader at the resumed step.
  num, batch = 40, 4
  pixels = counted_pixels(num)
  critic_iters = lambda steps: np.asarray(steps_lib.critic_iterations_of(
      3, True, steps, warmup_critic_iters=7))

  def run(stops):
    """Batches read, in order of critic iteration, over training that stops at ``stops``."""
    seen = []
    spec = image_spec(recording(streamed_draw, seen), batch, n_critic=3, official_schedule=True,
                      warmup_critic_iters=7)
    fns = steps_lib.make_steps(spec)
    # From step 20 on: 5 warm-up steps of 7 critic iterations, then 5 of 3.
    init_keys, _ = loop.seed_keys([0])
    state = steps_lib.init_over_seeds(fns.init, init_keys)
    state = state._replace(step=jnp.asarray(20, jnp.int32),
                           critic_iter=jnp.asarray(20 * 7, jnp.int32))
    for stop in stops:
      # A fresh feed at each resume, as a restarted run builds one.
      feed = stream.StreamFeed(sources.ImageSet.from_array("counted", pixels), batch, seed=3,
                               critic_iters=critic_iters)
      try:
        with open(os.devnull, "w") as quiet:
          state, _ = loop.train_seeds(fns, [0], stop, eval_every=1, state=state, data=feed,
                                      stream=quiet)
      finally:
        feed.close()
    jax.effects_barrier()
    return state, np.stack(seen)

  whole, seen_whole = run([30])
  resumed, seen_resumed = run([23, 30])
  assert int(whole.critic_iter) == int(resumed.critic_iter) == 25 * 7 + 5 * 3
  assert len(seen_whole) == len(seen_resumed) == 5 * 7 + 5 * 3
  np.testing.assert_array_equal(seen_whole, seen_resumed)
  jax.tree.map(np.testing.assert_array_equal, whole, resumed)
  # Batches 140..189 are positions 560..759: epochs 14..18 of 10 batches of 4 each, every
  # epoch visiting each of the 40 images once.
  for epoch in range(5):
    assert_each_once(seen_whole[10 * epoch:10 * (epoch + 1)].ravel(), num)


def test_a_checkpoint_without_the_counter_is_refused_in_one_line(tmp_path):
  fns = steps_lib.make_steps(image_spec(in_memory(), 4))
  init_keys, _ = loop.seed_keys([0])
  state = steps_lib.init_over_seeds(fns.init, init_keys)
  # The state as versions before the counter saved it: the same fields without critic_iter.
  old_fields = [f for f in steps_lib.GANState._fields if f != "critic_iter"]
  OldState = collections.namedtuple("GANState", old_fields)
  directory = str(tmp_path / "checkpoints")
  writer = checkpoints.Checkpoints(directory, 2)
  writer.save(5, OldState(*[getattr(state, f) for f in old_fields]))
  writer.close()
  reader = checkpoints.Checkpoints(directory, 2)
  try:
    with pytest.raises(ValueError) as error:
      reader.restore_latest(jax.eval_shape(lambda: state))
  finally:
    reader.close()
  message = str(error.value)
  assert "\n" not in message and "before the state counted critic iterations" in message
