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


def test_how_says_what_the_runs_do():
  config = part_config.get_config()
  how = image_curves._how(config, experiment.sweep(config), 0.99)
  assert "WGAN with the official critic schedule on, GAN with it off" in how
  assert ("RMSProp 0.0005 (generator) and 0.0005 (critic, clipped at 0.01), 5 critic "
          "iterations and the official critic schedule on") in how
  assert f"{config.schedule.num_steps} generator iterations" in how


def test_premises_from_the_first_and_last_frechet_distance():
  # The rule on hand-made distances: improve when last ≤ 0.8 × first.
  assert image_curves.IMPROVE_RATIO == 0.8
  assert image_curves.samples_improve([100.0, 90.0, 80.0])  # exactly 0.8 × first
  assert image_curves.samples_improve([100.0, 300.0, 20.0])  # only the ends count
  assert not image_curves.samples_improve([100.0, 20.0, 80.5])
  assert not image_curves.samples_improve([100.0, 100.0])
  assert not image_curves.samples_improve([100.0, math.nan])  # the samples diverged
  assert image_curves.samples_improve([math.nan, 50.0])  # unjudgeable at first, fine at the end
  assert not image_curves.samples_improve([math.nan, math.inf])
  assert not image_curves.samples_improve([])
  for frechet in ([100.0, 80.0], [100.0, 80.5], [100.0, math.nan], [math.nan, 50.0]):
    assert image_curves.training_fails(frechet) == (not image_curves.samples_improve(frechet))


def test_a_premise_not_met_is_the_verdict_whatever_the_number():
  for rho in (-1.0, 0.0, 0.49, 0.8, 1.0, math.nan):
    assert image_curves.tracks_verdict(False, rho) == "premise not met"
    assert image_curves.does_not_track_verdict(False, rho) == "premise not met"
  for late, reference in ((0.0, 1.0), (5.0, 1.0), (math.nan, 1.0), (0.1, math.nan)):
    assert image_curves.flat_verdict(False, late, reference) == "premise not met"


def test_verdicts_from_hand_made_numbers():
  assert image_curves.tracks_verdict(True, image_curves.TRACKS) == "holds"
  assert image_curves.tracks_verdict(True, 0.79) == "does not hold"
  assert image_curves.tracks_verdict(True, math.nan) == "unclear"
  assert image_curves.does_not_track_verdict(True, 0.49) == "holds"
  assert image_curves.does_not_track_verdict(True, -0.9) == "holds"  # rises as quality rises
  assert image_curves.does_not_track_verdict(True, 0.6) == "unclear"
  assert image_curves.does_not_track_verdict(True, 0.8) == "does not hold"
  assert image_curves.does_not_track_verdict(True, math.nan) == "unclear"
  # Flat: the failed run's late range at most 0.1 × the reference run's.
  assert image_curves.FLAT_RATIO == 0.1
  assert image_curves.flat_verdict(True, 0.02, 0.2) == "holds"
  assert image_curves.flat_verdict(True, 0.0, 0.0) == "holds"
  assert image_curves.flat_verdict(True, 0.021, 0.2) == "does not hold"
  assert image_curves.flat_verdict(True, math.nan, 0.2) == "unclear"
  assert image_curves.flat_verdict(True, 0.01, math.nan) == "unclear"  # no reference run


def test_late_range_is_the_range_of_the_median_over_the_last_80_percent():
  assert image_curves.LATE_FRACTION == 0.8
  # 10 steps: the last 80% are steps 3-10. A window of 1 leaves the values as they are.
  steps_T = np.arange(1, 11)
  values_T = np.array([100.0, -100.0, 4.0, 5.0, np.nan, 1.0, 2.0, 7.0, 3.0, 6.0])
  assert image_curves.late_range(steps_T, values_T, 10, window=1) == pytest.approx(7.0 - 1.0)
  # A window of 3 over the finite values (nan left out): the medians at steps 3-10 are
  # med(-100, 4, 5) = 4, med(4, 5, 1) = 4, med(5, 1, 2) = 2, med(1, 2, 7) = 2,
  # med(2, 7, 3) = 3, med(7, 3, 6) = 6, med(3, 6, 6) = 6: range 6 - 2.
  assert image_curves.late_range(steps_T, values_T, 10, window=3) == pytest.approx(4.0)
  # A spike that the median filters out does not count; a step that is a late one does.
  spike_T = np.zeros(200)
  spike_T[150] = 50.0
  assert image_curves.late_range(np.arange(1, 201), spike_T, 200, window=5) == 0.0
  ramp_T = np.arange(1, 201) / 200.0
  assert image_curves.late_range(np.arange(1, 201), ramp_T, 200, window=5) == pytest.approx(
      (200 - 41) / 200.0)  # medians of a ramp are the ramp; steps 41-200
  assert math.isnan(image_curves.late_range(steps_T, np.full(10, np.nan), 10))


def test_claims_decide_the_premise_before_the_number():
  base = {"steps": [1, 2, 3], "late_range": 0.5, "rho_estimate_frechet": 0.95,
          "rho_loss_frechet": 0.1}
  improving = {**base, "frechet": [100.0, 60.0, 50.0]}
  stuck = {**base, "frechet": [100.0, 95.0, 90.0]}
  (claim,) = image_curves._claims("wgan_dcgan", {**improving, "method": "wgan"}, math.nan)
  assert claim.verdict == "holds" and "0.950" in claim.number
  (claim,) = image_curves._claims("wgan_dcgan", {**stuck, "method": "wgan"}, math.nan)
  assert claim.verdict == "premise not met" and "0.950" in claim.number  # still reported
  js, loss = image_curves._claims("gan_mlp", {**stuck, "method": "gan"}, math.nan)
  assert js.verdict == loss.verdict == "premise not met"
  js, loss = image_curves._claims("gan_mlp", {**improving, "method": "gan"}, math.nan)
  assert (js.verdict, loss.verdict) == ("does not hold", "holds")
  high = part_config.HIGH_LR
  assert image_curves._claims(high, {**stuck, "method": "wgan"}, 10.0)[0].verdict == "holds"
  assert image_curves._claims(high, {**stuck, "method": "wgan"}, 1.0)[0].verdict == (
      "does not hold")
  assert image_curves._claims(high, {**improving, "method": "wgan"}, 10.0)[0].verdict == (
      "premise not met")


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
