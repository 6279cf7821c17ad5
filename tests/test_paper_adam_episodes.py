"""wgan_jax/paper/adam_episodes.py: the episode detectors (W1 for ring8, the estimate for MNIST)
on hand-made series, how negative cosines fall with respect to the episodes, and the verdicts."""

import numpy as np

from wgan_jax.paper import adam_episodes


# Episodes ----------------------------------------------------------------------------------------

def test_w1_episode_is_a_sustained_blow_up_above_twice_the_running_minimum():
  steps_E = np.arange(0, 1050, 50)  # W1 every 50 iterations, 0..1000: 21 points
  w1_E = np.concatenate([np.linspace(2.0, 0.1, 6),  # falls to 0.1 by iteration 250
                         [0.1, 0.1, 0.8, 0.9, 1.2, 0.9, 0.7],  # blows up at 400-600
                         [0.1, 0.25, 0.28, 0.15, 0.12, 0.1, 0.1, 0.1]])  # a small rise at 700
  # Running minimum 0.1 from iteration 250: 0.8, 0.9, 1.2, 0.9, 0.7 exceed 0.2 and 0.1 + 0.2;
  # 0.25 and 0.28 exceed 0.2 (twice the minimum) but not 0.3 (the minimum + 0.2).
  assert np.flatnonzero(adam_episodes.unstable_points(w1_E)).tolist() == [8, 9, 10, 11, 12]
  # The points at 400..600 stand for the iterations 351..600: indices 350..599.
  assert adam_episodes.w1_episodes(w1_E, steps_E) == [(350, 599)]
  # Without the margin the small rise is an episode too; without the factor, a rise of 0.3 on
  # a minimum of 0.5 (below twice it) would be one.
  assert adam_episodes.w1_episodes(w1_E, steps_E, margin=0.0) == [(350, 599), (650, 749)]
  high_E = np.array([2.0, 0.5, 0.5, 0.8, 0.8, 0.5])
  assert adam_episodes.w1_episodes(high_E, np.arange(6) * 50) == []
  assert adam_episodes.w1_episodes(high_E, np.arange(6) * 50, factor=1.0) == [(100, 199)]


def test_w1_episodes_at_the_edges_and_when_the_generator_diverges():
  steps_E = np.arange(6) * 50
  # A blow-up still going on at the end of training runs to the last iteration.
  assert adam_episodes.w1_episodes([1.0, 0.2, 0.2, 0.2, 0.9, 1.5], steps_E) == [(150, 249)]
  # A non-finite W1 (diverged samples) is unstable and leaves the running minimum alone.
  w1_E = [1.0, 0.2, np.nan, 0.3, 0.2, 0.2]
  assert adam_episodes.unstable_points(w1_E).tolist() == [False, False, True, False, False, False]
  assert adam_episodes.w1_episodes(w1_E, steps_E) == [(50, 99)]
  # A W1 that only falls (training going well) has none.
  assert adam_episodes.w1_episodes(np.linspace(2, 0.1, 40), np.arange(40) * 50) == []


def test_coincidence_is_judged_run_by_run():
  def stats(episodes, negative_in, updates_in, negative_out, updates_out):
    return {"episodes": episodes, "negative_in": negative_in, "updates_in": updates_in,
            "negative_out": negative_out, "updates_out": updates_out}

  yes = stats(1, 4, 100, 10, 1000)  # 4% inside against 1%
  no = stats(2, 1, 100, 10, 1000)  # 1% against 1%
  assert adam_episodes.run_coincides(yes) and not adam_episodes.run_coincides(no)
  assert adam_episodes.run_coincides(stats(1, 2, 100, 10, 1000))  # 2% against 1%: exactly twice
  # No negative cosine at all: the rule as written, 0 >= 2 x 0, holds.
  assert adam_episodes.run_coincides(stats(1, 0, 100, 0, 1000))
  assert not adam_episodes.run_coincides(stats(1, 0, 100, 1, 1000))
  assert adam_episodes.run_coincides(stats(1, 1, 100, 0, 1000))  # some inside, none outside
  calm = stats(0, 0, 0, 50, 1000)  # no episode: not counted, whatever its cosines
  assert adam_episodes.judge_runs([yes, yes, no, calm, calm]) == "holds"  # 2 of 3
  assert adam_episodes.judge_runs([yes, no, no, calm]) == "does not hold"  # 1 of 3
  assert adam_episodes.judge_runs([yes, yes, no, no]) == "unclear"  # 2 of 4
  assert adam_episodes.judge_runs([yes, yes, yes, no, no]) == "unclear"  # 3 of 5
  assert adam_episodes.judge_runs([yes, yes, calm, calm, calm]) == "unclear"  # only 2 runs with episodes
  assert adam_episodes.judge_runs([no, no, no]) == "does not hold"
  # One run that failed outright, with many negative cosines everywhere, does not outweigh the
  # others as it did in the pooled rate.
  failed = stats(40, 300, 30_000, 10, 1000)
  assert adam_episodes.judge_runs([yes, yes, failed]) == "holds"


def noisy(t=600, seed=0, scale=0.01):
  rng = np.random.default_rng(seed)
  return 1.0 - np.linspace(0, 0.5, t) + scale * rng.standard_normal(t)


def test_noise_alone_has_no_episode():
  for seed in range(5):
    assert adam_episodes.unstable_episodes(noisy(seed=seed)) == []


def test_episodes_are_blocks_of_points_outside_the_band():
  e = noisy()
  e[200:206] += 1.0  # a block of 6: one episode
  e[400] -= 1.0  # a single spike: not an episode
  e[450:454:3] += 1.0  # two points: not enough
  e[500] = np.nan  # non-finite points count as outside: 500, 505, 508 form one group
  e[505] += 1.0
  e[508] = np.inf
  assert adam_episodes.unstable_episodes(e) == [(200, 205), (500, 508)]
  # Points up to EPISODE_GAP apart join; further apart they do not.
  f = noisy()
  f[[100, 110, 120]] += 1.0
  f[[300, 311, 322]] += 1.0
  assert adam_episodes.unstable_episodes(f) == [(100, 120)]
  # The first EPISODE_SKIP iterations (the critic's initial climb) are never an episode.
  g = noisy()
  g[10:20] += 1.0
  assert adam_episodes.unstable_episodes(g) == [] and adam_episodes.unstable_episodes(g, skip=0) == [(10, 19)]
  # Nor are the last EPISODE_SKIP, where the edge-padded median lags as much.
  h = noisy()
  h[-20:-10] += 1.0
  assert adam_episodes.unstable_episodes(h) == [] and adam_episodes.unstable_episodes(h, skip=0) == [(580, 589)]


def test_a_smooth_bend_is_not_an_episode():
  # A noise-free curve that turns sharply: its band is nearly zero, so without the minimum jump
  # the points around the kink would leave it.
  t = np.arange(600.0)
  bend = np.where(t < 300, 1.0 - t / 600, 0.5 + (t - 300) / 3000) + 1e-6 * np.sin(t)
  assert adam_episodes.unstable_episodes(bend, min_jump=0.0) != []
  assert adam_episodes.unstable_episodes(bend) == []
  # A real jump on the same curve still counts.
  bend[400:406] += 0.2
  assert adam_episodes.unstable_episodes(bend) == [(400, 405)]


def test_cosine_coincidence_counts_by_hand():
  cosine_TxN = np.ones((20, 2))
  cosine_TxN[8, 1] = -0.5  # 2 iterations before the episode (10, 12): within the lead of 5
  cosine_TxN[15, 0] = -0.1  # outside
  stats = adam_episodes.cosine_coincidence([(10, 12)], cosine_TxN, lead=5)
  # Window: iterations 5..12, 8 iterations of 2 updates; outside: 12 iterations.
  assert stats == {"episodes": 1, "episodes_with_negative": 1, "negative_in": 1, "updates_in": 16,
                   "negative_out": 1, "updates_out": 24, "negative_total": 2,
                   "min_cosine": -0.5}
  total = adam_episodes.pooled([stats, stats])
  assert total["rate_in"] == 2 / 32 and total["rate_out"] == 2 / 48


def test_verdicts():
  assert adam_episodes.judge_stability({"rmsprop": 0, "adam_b1_0.5": 2, "adam_b1_0.9": 1}) == "holds"
  assert adam_episodes.judge_stability({"rmsprop": 2, "adam_b1_0.5": 1, "adam_b1_0.9": 2}) == "does not hold"
  assert adam_episodes.judge_stability({"rmsprop": 1, "adam_b1_0.5": 0, "adam_b1_0.9": 5}) == "unclear"
  base = {"episodes": 4, "episodes_with_negative": 3, "negative_in": 6, "updates_in": 100,
          "negative_out": 10, "updates_out": 1000}
  judge = lambda **kw: adam_episodes.judge_coincidence(
      {**base, **kw, "rate_in": kw.get("negative_in", 6) / 100,
       "rate_out": kw.get("negative_out", 10) / 1000})
  assert judge() == "holds"  # 6% against 1%
  assert judge(negative_out=60) == "does not hold"  # 6% against 6%
  assert judge(negative_out=40) == "unclear"  # 6% against 4%: more, but not twice
  assert judge(episodes=2) == "unclear"  # too few episodes
