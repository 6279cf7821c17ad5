"""wgan_jax/paper/adam.py and the cosine metric of wgan_jax/steps.py: the cosine against values
worked out by hand, the episode detectors (W1 for ring8, the estimate for MNIST) on hand-made
series, the verdicts, and a quick run."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wgan_jax import models
from wgan_jax.configs import adam as adam_config
from wgan_jax import optim
from wgan_jax import steps as steps_lib
from wgan_jax.data import toy
from wgan_jax.paper import PartResult
from wgan_jax.paper import adam


def grads_and_params(seed=0):
  rng = np.random.default_rng(seed)
  params = {"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
            "b": jnp.asarray(rng.normal(size=(5,)), jnp.float32)}
  grads = {"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
           "b": jnp.asarray(rng.normal(size=(5,)), jnp.float32)}
  return grads, params


def flat(tree):
  return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)])


def sign_cosine(g):
  """cos(-sign(g), -g) = sum |g| / (sqrt(n) |g|): the cosine of a sign step."""
  return np.abs(g).sum() / (math.sqrt(g.size) * np.linalg.norm(g))


def test_cosine_of_sgd_is_one_and_of_ascent_minus_one():
  grads, params = grads_and_params()
  for lr, expected in ((0.1, 1.0), (-0.1, -1.0)):  # a negative rate climbs the gradient
    tx = optim.with_update_cosine(optax.sgd(lr))
    _, state = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(float(state.update_cosine), expected, rtol=1e-6)


def test_cosine_of_adams_first_step_is_that_of_the_gradients_sign():
  # Bias-corrected, Adam's first step is -lr g / (|g| + eps), about -lr sign(g).
  grads, params = grads_and_params(1)
  tx = optim.with_update_cosine(optax.adam(1e-3, b1=0.5, eps=1e-8))
  _, state = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(float(state.update_cosine), sign_cosine(flat(grads)), rtol=1e-5)


def test_cosine_turns_negative_when_momentum_outweighs_a_reversed_gradient():
  # b1 = 0.9: after g, a gradient -0.05 g leaves momentum 0.09 g - 0.005 g = 0.085 g, so the
  # step still goes along -sign(g) while the descent direction is now +g.
  grads, params = grads_and_params(2)
  tx = optim.with_update_cosine(optax.adam(1e-3, b1=0.9))
  _, state = tx.update(grads, tx.init(params), params)
  reversed_grads = jax.tree.map(lambda g: -0.05 * g, grads)
  _, state = tx.update(reversed_grads, state, params)
  np.testing.assert_allclose(float(state.update_cosine), -sign_cosine(flat(grads)), rtol=1e-4)


def test_rmsprop_cosine_is_positive_by_construction():
  rng = np.random.default_rng(3)
  _, params = grads_and_params()
  tx = optim.with_update_cosine(optim.torch_rmsprop(1e-2))
  state = tx.init(params)
  for _ in range(20):  # arbitrary gradients, momentum-free: always a positive rescaling
    grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape) * 10 ** rng.uniform(-3, 3),
                                               jnp.float32), params)
    _, state = tx.update(grads, state, params)
    assert float(state.update_cosine) > 0


def toy_spec(critic_tx, **kwargs):
  return steps_lib.GANSpec(
      generator=models.MLP((8,), 2), critic=models.MLP((8,), 1), generator_tx=optax.sgd(1e-3),
      critic_tx=critic_tx, objective=steps_lib.Objective("wgan"),
      sample_real=toy.get_dataset("ring8").sample, noise_dim=2, batch_size=16,
      log_update_cosine=True, **kwargs)


def test_training_step_returns_one_cosine_per_critic_update_before_clipping():
  # SGD inside the clipping: the step before the projection is exactly -lr * gradient, even
  # though the clipping (c small) changes what is applied.
  # With the official schedule, generator iteration 0 runs 7 critic updates and iteration 30
  # runs 3: both report the cosines of the last 3.
  tx = optax.chain(optim.with_update_cosine(optax.sgd(0.5)), optim.clip_params(0.05))
  steps = steps_lib.make_steps(
      toy_spec(tx, n_critic=3, official_schedule=True, warmup_critic_iters=7))
  state = steps.init(jax.random.key(0))
  for step in (0, 30):
    _, metrics = steps.train_step(state._replace(step=jnp.asarray(step, jnp.int32)),
                                  jax.random.key(1))
    assert int(metrics["critic_iters"]) == (7 if step == 0 else 3)
    cosines = [float(metrics[f"update_cosine_{i}"]) for i in range(3)]
    assert "update_cosine_3" not in metrics
    np.testing.assert_allclose(cosines, 1.0, rtol=1e-5)


def test_log_update_cosine_needs_the_wrapper():
  steps = steps_lib.make_steps(toy_spec(optax.sgd(0.1)))
  with pytest.raises(ValueError, match="with_update_cosine"):
    steps.train_step(steps.init(jax.random.key(0)), jax.random.key(1))


# Episodes ----------------------------------------------------------------------------------------

def test_w1_episode_is_a_sustained_blow_up_above_twice_the_running_minimum():
  steps_E = np.arange(0, 1050, 50)  # W1 every 50 iterations, 0..1000: 21 points
  w1_E = np.concatenate([np.linspace(2.0, 0.1, 6),  # falls to 0.1 by iteration 250
                         [0.1, 0.1, 0.8, 0.9, 1.2, 0.9, 0.7],  # blows up at 400-600
                         [0.1, 0.25, 0.28, 0.15, 0.12, 0.1, 0.1, 0.1]])  # a small rise at 700
  # Running minimum 0.1 from iteration 250: 0.8, 0.9, 1.2, 0.9, 0.7 exceed 0.2 and 0.1 + 0.2;
  # 0.25 and 0.28 exceed 0.2 (twice the minimum) but not 0.3 (the minimum + 0.2).
  assert np.flatnonzero(adam.unstable_points(w1_E)).tolist() == [8, 9, 10, 11, 12]
  # The points at 400..600 stand for the iterations 351..600: indices 350..599.
  assert adam.w1_episodes(w1_E, steps_E) == [(350, 599)]
  # Without the margin the small rise is an episode too; without the factor, a rise of 0.3 on
  # a minimum of 0.5 (below twice it) would be one.
  assert adam.w1_episodes(w1_E, steps_E, margin=0.0) == [(350, 599), (650, 749)]
  high_E = np.array([2.0, 0.5, 0.5, 0.8, 0.8, 0.5])
  assert adam.w1_episodes(high_E, np.arange(6) * 50) == []
  assert adam.w1_episodes(high_E, np.arange(6) * 50, factor=1.0) == [(100, 199)]


def test_w1_episodes_at_the_edges_and_when_the_generator_diverges():
  steps_E = np.arange(6) * 50
  # A blow-up still going on at the end of training runs to the last iteration.
  assert adam.w1_episodes([1.0, 0.2, 0.2, 0.2, 0.9, 1.5], steps_E) == [(150, 249)]
  # A non-finite W1 (diverged samples) is unstable and leaves the running minimum alone.
  w1_E = [1.0, 0.2, np.nan, 0.3, 0.2, 0.2]
  assert adam.unstable_points(w1_E).tolist() == [False, False, True, False, False, False]
  assert adam.w1_episodes(w1_E, steps_E) == [(50, 99)]
  # A W1 that only falls (training going well) has none.
  assert adam.w1_episodes(np.linspace(2, 0.1, 40), np.arange(40) * 50) == []


def test_coincidence_is_judged_run_by_run():
  def stats(episodes, negative_in, updates_in, negative_out, updates_out):
    return {"episodes": episodes, "negative_in": negative_in, "updates_in": updates_in,
            "negative_out": negative_out, "updates_out": updates_out}

  yes = stats(1, 4, 100, 10, 1000)  # 4% inside against 1%
  no = stats(2, 1, 100, 10, 1000)  # 1% against 1%
  assert adam.run_coincides(yes) and not adam.run_coincides(no)
  assert adam.run_coincides(stats(1, 2, 100, 10, 1000))  # 2% against 1%: exactly twice
  # No negative cosine at all: the rule as written, 0 >= 2 x 0, holds.
  assert adam.run_coincides(stats(1, 0, 100, 0, 1000))
  assert not adam.run_coincides(stats(1, 0, 100, 1, 1000))
  assert adam.run_coincides(stats(1, 1, 100, 0, 1000))  # some inside, none outside
  calm = stats(0, 0, 0, 50, 1000)  # no episode: not counted, whatever its cosines
  assert adam.judge_runs([yes, yes, no, calm, calm]) == "holds"  # 2 of 3
  assert adam.judge_runs([yes, no, no, calm]) == "does not hold"  # 1 of 3
  assert adam.judge_runs([yes, yes, no, no]) == "unclear"  # 2 of 4
  assert adam.judge_runs([yes, yes, yes, no, no]) == "unclear"  # 3 of 5
  assert adam.judge_runs([yes, yes, calm, calm, calm]) == "unclear"  # only 2 runs with episodes
  assert adam.judge_runs([no, no, no]) == "does not hold"
  # One run that failed outright, with many negative cosines everywhere, does not outweigh the
  # others as it did in the pooled rate.
  failed = stats(40, 300, 30_000, 10, 1000)
  assert adam.judge_runs([yes, yes, failed]) == "holds"


def noisy(t=600, seed=0, scale=0.01):
  rng = np.random.default_rng(seed)
  return 1.0 - np.linspace(0, 0.5, t) + scale * rng.standard_normal(t)


def test_noise_alone_has_no_episode():
  for seed in range(5):
    assert adam.unstable_episodes(noisy(seed=seed)) == []


def test_episodes_are_blocks_of_points_outside_the_band():
  e = noisy()
  e[200:206] += 1.0  # a block of 6: one episode
  e[400] -= 1.0  # a single spike: not an episode
  e[450:454:3] += 1.0  # two points: not enough
  e[500] = np.nan  # non-finite points count as outside: 500, 505, 508 form one group
  e[505] += 1.0
  e[508] = np.inf
  assert adam.unstable_episodes(e) == [(200, 205), (500, 508)]
  # Points up to EPISODE_GAP apart join; further apart they do not.
  f = noisy()
  f[[100, 110, 120]] += 1.0
  f[[300, 311, 322]] += 1.0
  assert adam.unstable_episodes(f) == [(100, 120)]
  # The first EPISODE_SKIP iterations (the critic's initial climb) are never an episode.
  g = noisy()
  g[10:20] += 1.0
  assert adam.unstable_episodes(g) == [] and adam.unstable_episodes(g, skip=0) == [(10, 19)]
  # Nor are the last EPISODE_SKIP, where the edge-padded median lags as much.
  h = noisy()
  h[-20:-10] += 1.0
  assert adam.unstable_episodes(h) == [] and adam.unstable_episodes(h, skip=0) == [(580, 589)]


def test_a_smooth_bend_is_not_an_episode():
  # A noise-free curve that turns sharply: its band is nearly zero, so without the minimum jump
  # the points around the kink would leave it.
  t = np.arange(600.0)
  bend = np.where(t < 300, 1.0 - t / 600, 0.5 + (t - 300) / 3000) + 1e-6 * np.sin(t)
  assert adam.unstable_episodes(bend, min_jump=0.0) != []
  assert adam.unstable_episodes(bend) == []
  # A real jump on the same curve still counts.
  bend[400:406] += 0.2
  assert adam.unstable_episodes(bend) == [(400, 405)]


def test_cosine_coincidence_counts_by_hand():
  cosine_TxN = np.ones((20, 2))
  cosine_TxN[8, 1] = -0.5  # 2 iterations before the episode (10, 12): within the lead of 5
  cosine_TxN[15, 0] = -0.1  # outside
  stats = adam.cosine_coincidence([(10, 12)], cosine_TxN, lead=5)
  # Window: iterations 5..12, 8 iterations of 2 updates; outside: 12 iterations.
  assert stats == {"episodes": 1, "episodes_with_negative": 1, "negative_in": 1, "updates_in": 16,
                   "negative_out": 1, "updates_out": 24, "negative_total": 2,
                   "min_cosine": -0.5}
  total = adam.pooled([stats, stats])
  assert total["rate_in"] == 2 / 32 and total["rate_out"] == 2 / 48


def test_verdicts():
  assert adam.judge_stability({"rmsprop": 0, "adam_b1_0.5": 2, "adam_b1_0.9": 1}) == "holds"
  assert adam.judge_stability({"rmsprop": 2, "adam_b1_0.5": 1, "adam_b1_0.9": 2}) == "does not hold"
  assert adam.judge_stability({"rmsprop": 1, "adam_b1_0.5": 0, "adam_b1_0.9": 5}) == "unclear"
  base = {"episodes": 4, "episodes_with_negative": 3, "negative_in": 6, "updates_in": 100,
          "negative_out": 10, "updates_out": 1000}
  judge = lambda **kw: adam.judge_coincidence(
      {**base, **kw, "rate_in": kw.get("negative_in", 6) / 100,
       "rate_out": kw.get("negative_out", 10) / 1000})
  assert judge() == "holds"  # 6% against 1%
  assert judge(negative_out=60) == "does not hold"  # 6% against 6%
  assert judge(negative_out=40) == "unclear"  # 6% against 4%: more, but not twice
  assert judge(episodes=2) == "unclear"  # too few episodes


# A quick run -------------------------------------------------------------------------------------

def test_quick_run_writes_its_result(tmp_path):
  result = adam.run(str(tmp_path), quick=True)
  assert PartResult.from_json((tmp_path / "result.json").read_text()) == result
  assert result.changes == adam.CHANGES
  for figure in result.figures:
    assert os.path.getsize(tmp_path / figure) > 1000
  assert len(result.claims) == 4
  assert all(c.verdict in ("holds", "does not hold", "unclear") for c in result.claims)
  rows = [line for line in result.table_md.splitlines() if line.startswith("| ring8 |")
          or line.startswith("| mnist |")]
  sweeps = adam_config.get_config("quick").sweeps
  ring_runs = sweeps.ring8.sweep.runs.split(",")
  assert len(rows) == len(ring_runs) + len(sweeps.mnist.sweep.runs.split(","))
  with np.load(tmp_path / "ring8_series.npz") as series:
    cosine = series[f"{ring_runs[1]}/seed0/cosine"]
    assert cosine.shape == (sweeps.ring8.schedule.num_steps * 5,)
    assert np.all(np.abs(cosine) <= 1 + 1e-5)
    assert np.all(series["rmsprop/seed0/cosine"] > 0)  # positive by construction
    every = sweeps.ring8.eval.w1_every
    w1_steps = np.arange(0, sweeps.ring8.schedule.num_steps + 1, every)
    np.testing.assert_array_equal(series["rmsprop/seed0/w1_steps"], w1_steps)
    assert np.all(series["rmsprop/seed0/w1"] > 0)
