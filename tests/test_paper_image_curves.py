"""wgan_jax/paper/image_curves.py: the runs, the verdicts on hand-made numbers and the smoothing
(its quick run and the reuse of runs are in test_paper_new_parts.py)."""

import math

import numpy as np
import pytest

from wgan_jax import experiment
from wgan_jax.configs import architectures as architectures_config
from wgan_jax.configs import image_curves as part_config
from wgan_jax.paper import image_curves


def test_runs_are_the_architectures_runs_and_one_that_fails():
  runs = experiment.sweep(part_config.get_config())
  assert tuple(runs) == part_config.RUNS
  shared = experiment.sweep(architectures_config.get_config())
  for name, run in runs.items():
    if name != part_config.HIGH_LR:  # the same run, so that it can be reused
      theirs, ours = shared[name].to_dict(), run.to_dict()
      theirs.pop("eval")
      ours.pop("eval")
      assert theirs == ours
  high = runs[part_config.HIGH_LR]
  assert (high.generator.name, high.critic.name, high.objective.method) == ("mlp", "mlp", "wgan")
  for opt in (high.generator_optimizer, high.critic_optimizer):
    assert (opt.name, opt.learning_rate) == ("rmsprop", 10 * 5e-5)
  assert high.critic_optimizer.clip == 0.01
  # Ten checkpoints, each kept.
  assert high.schedule.num_steps // high.run.checkpoint_every == 10
  assert high.run.keep_checkpoints > high.schedule.num_steps // high.run.checkpoint_every


def test_verdicts_from_hand_made_numbers():
  assert image_curves.tracks_verdict(image_curves.TRACKS) == "holds"
  assert image_curves.tracks_verdict(0.79) == "does not hold"
  assert image_curves.tracks_verdict(math.nan) == "unclear"
  assert image_curves.does_not_track_verdict(0.49) == "holds"
  assert image_curves.does_not_track_verdict(-0.9) == "holds"  # rises as quality rises
  assert image_curves.does_not_track_verdict(0.6) == "unclear"
  assert image_curves.does_not_track_verdict(0.8) == "does not hold"
  assert image_curves.failed_verdict(0.1, 0.2) == "holds"  # flat estimate, no improvement
  assert image_curves.failed_verdict(0.1, 0.9) == "holds"  # samples get worse
  assert image_curves.failed_verdict(-0.7, -0.9) == "does not hold"  # it trained after all
  assert image_curves.failed_verdict(0.7, 0.0) == "unclear"  # the estimate rises
  assert image_curves.failed_verdict(math.nan, 0.0) == "unclear"


def test_at_steps_is_the_centred_running_median():
  steps_T = np.arange(1, 12)
  values_T = np.array([5.0, 1.0, 9.0, np.nan, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0, 0.0])
  finite = values_T[np.isfinite(values_T)]  # the median runs over the logged finite values
  at = image_curves.at_steps(steps_T, values_T, [1, 3, 4, 7, 20], window=3)
  # Step 1 is finite index 0, its window padded with its own value at the start; step 3 is
  # finite index 2 with neighbours 1.0 and 3.0 (step 4 is nan); step 7 is index 5: 7, 2, 8.
  assert at[0] == pytest.approx(np.median([finite[0], finite[0], finite[1]]))
  assert at[1] == pytest.approx(np.median([1.0, 9.0, 3.0]))
  assert math.isnan(at[2]) and math.isnan(at[4])  # not finite, not logged
  assert at[3] == pytest.approx(np.median([7.0, 2.0, 8.0]))
