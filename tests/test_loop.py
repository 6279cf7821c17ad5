"""The generic loop: the hooks' calls, early stops, and a result that does not depend on how the
steps are grouped into dispatches."""

import io

import jax
import numpy as np
import pytest

from wgan_jax import experiment
from wgan_jax import loop
from wgan_jax.configs import toy


@pytest.fixture(scope="module")
def steps():
  config = toy.get_config("tiny")
  config.schedule.batch_size = 16
  config.generator.hidden = config.critic.hidden = 16
  return experiment.build(config).steps


def _leaves(state):
  return [np.asarray(leaf) for leaf in jax.tree.leaves(jax.device_get(state))]


def test_dispatch_size_does_not_change_the_result(steps):
  one, metrics_one = loop.train_seeds(steps, [0, 1], 6, eval_every=6, chunk=1,
                                      stream=io.StringIO())
  three, metrics_three = loop.train_seeds(steps, [0, 1], 6, eval_every=6, chunk=3,
                                          stream=io.StringIO())
  assert int(one.step) == int(three.step) == 6
  for a, b in zip(_leaves(one), _leaves(three)):
    np.testing.assert_array_equal(a, b)
  assert metrics_one["critic_loss"].shape == (6, 2)  # (steps, seeds)
  np.testing.assert_array_equal(metrics_one["critic_loss"], metrics_three["critic_loss"])


def test_hooks_see_every_step_once_and_in_order(steps):
  evaluated, reported = [], []
  loop.train_seeds(steps, [3], 6, eval_every=2, chunk=4,
                   evaluate=lambda state, step: evaluated.append((step, int(state.step))),
                   on_metrics=lambda first, m: reported.append((first, len(m["critic_loss"]))),
                   stream=io.StringIO())
  # gcd(chunk 4, eval_every 2, 6 steps) = 2 steps per dispatch.
  assert evaluated == [(0, 0), (2, 2), (4, 4), (6, 6)]
  assert reported == [(0, 2), (2, 2), (4, 2)]


def test_a_stop_request_ends_the_loop_after_its_dispatch_and_resumes_where_it_stopped(steps):
  asked = []

  def should_stop():
    asked.append(True)
    return len(asked) == 2

  stopped, metrics = loop.train_seeds(steps, [0], 6, eval_every=6, chunk=2,
                                      should_stop=should_stop, stream=io.StringIO())
  assert int(stopped.step) == 4 and metrics["critic_loss"].shape == (4, 1)
  resumed, _ = loop.train_seeds(steps, [0], 6, eval_every=6, chunk=2, state=stopped,
                                stream=io.StringIO())
  whole, _ = loop.train_seeds(steps, [0], 6, eval_every=6, chunk=2, stream=io.StringIO())
  for a, b in zip(_leaves(resumed), _leaves(whole)):
    np.testing.assert_array_equal(a, b)


def test_seed_keys_are_a_function_of_each_seed_alone():
  init_ab, train_ab = loop.seed_keys([5, 9])
  init_b, train_b = loop.seed_keys([9])
  np.testing.assert_array_equal(jax.random.key_data(init_ab[1]), jax.random.key_data(init_b[0]))
  np.testing.assert_array_equal(jax.random.key_data(train_ab[1]),
                                jax.random.key_data(train_b[0]))
  assert not np.array_equal(jax.random.key_data(init_ab[0]), jax.random.key_data(train_ab[0]))


def test_progress_prints_lines_off_a_terminal():
  stream = io.StringIO()
  progress = loop.Progress("run", 10, stream, every_s=0.0)
  progress.update(0)
  progress.update(10, "estimate 0.5", final=True)
  lines = stream.getvalue().splitlines()
  assert lines[0].startswith("run: 0/10 it") and "compiled" in lines[0]
  assert lines[1].startswith("run: 10/10 it") and lines[1].rstrip().endswith("estimate 0.5")


def test_bad_counts_are_refused(steps):
  with pytest.raises(ValueError, match="must be positive"):
    loop.train_seeds(steps, [0], 0, eval_every=1)
