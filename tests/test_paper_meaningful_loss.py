"""wgan_jax/paper/meaningful_loss.py: the evaluation points and the config's check, the W1
ceiling on synthetic series with known answers, the verdicts relative to the ceiling, and a quick
run."""

import json
import os

import numpy as np
import pytest

from wgan_jax import checks
from wgan_jax.configs import meaningful_loss as part_config
from wgan_jax.paper import PartResult
from wgan_jax.paper import meaningful_loss


def test_evaluation_points_are_geometric_integers_from_50_to_the_last():
  points = part_config.evaluation_points(10_000, 20)
  # 50 x 200^(k/19), rounded: the ratio between neighbours is 200^(1/19) = 1.3216.
  assert points[:4].tolist() == [50, 66, 87, 115]
  assert points[-2:].tolist() == [7566, 10_000]
  assert len(points) == 20 and np.all(np.diff(points) > 0)
  with pytest.raises(ValueError, match="start at iteration 50"):
    part_config.evaluation_points(40, 4)
  with pytest.raises(ValueError, match="not distinct"):  # 20 integers do not fit in 50..60
    part_config.evaluation_points(60, 20)


def test_check_needs_distinct_points_within_the_run():
  part_config.check(part_config.get_config())
  part_config.check(part_config.get_config("quick"))
  config = part_config.get_config("quick")
  config.schedule.num_steps = 40
  with pytest.raises(checks.ConfigError) as error:
    part_config.check(config)
  assert str(error.value) == ("--config.schedule.num_steps=40, --config.eval.num_evals=4: the "
                              "evaluation points start at iteration 50; the run has 40")
  config.schedule.num_steps, config.eval.num_evals = 60, 20
  with pytest.raises(checks.ConfigError, match="num_evals=20: 20 points from 50 to 60 are not"):
    part_config.check(config)


def _w1_pair(clean_E, noise: float, rng):
  return (clean_E + noise * rng.standard_normal(len(clean_E)),
          clean_E + noise * rng.standard_normal(len(clean_E)))


def test_ceiling_is_near_one_for_a_clean_decrease_and_near_zero_for_noise():
  rng = np.random.default_rng(0)
  falling_E = 0.1 + 2.0 * np.exp(-np.arange(20) / 5)  # W1 falls to a floor of 0.1
  # Noise far below the steps between points: the two measurements agree on the order.
  clean = [meaningful_loss.ceiling(*_w1_pair(falling_E, 0.001, rng)) for _ in range(20)]
  assert min(clean) > 0.95
  # Only noise (a run sitting on the floor throughout): two measurements share no order.
  floor = [meaningful_loss.ceiling(*_w1_pair(np.full(20, 0.1), 0.01, rng)) for _ in range(400)]
  assert abs(np.mean(floor)) < 0.03 and np.std(floor) > 0.1
  # Most points on the floor, a few above it: the ceiling sits between.
  early_E = np.where(np.arange(20) < 4, 1.0 - 0.2 * np.arange(20), 0.1)
  partial = [meaningful_loss.ceiling(*_w1_pair(early_E, 0.01, rng)) for _ in range(400)]
  assert 0.2 < np.mean(partial) < 0.8


def test_tracking_by_hand():
  estimate_T = np.arange(40, 0, -1, dtype=float)  # iteration t has estimate 41 - t
  # A centred median of a straight line is the line itself, the ends padded with their values.
  t = meaningful_loss.tracking(estimate_T, [10, 20, 30, 40], [3.0, 2.0, np.nan, 1.0],
                               [3.0, 1.0, 2.0, 1.5], window=5)
  assert t["steps"] == [10, 20, 30, 40]
  assert t["estimate"] == [31.0, 21.0, 11.0, 1.0]
  assert t["points"] == 3 and t["spearman"] == pytest.approx(1.0)  # the NaN point is left out
  # The ceiling over the finite pairs: (3, 3), (2, 1), (1, 1.5): ranks (3, 2, 1) and (3, 1, 2),
  # 1 - 6 (0 + 1 + 1) / (3 (9 - 1)) = 0.5.
  assert t["ceiling"] == pytest.approx(0.5)
  with pytest.raises(ValueError, match=">= 1"):
    meaningful_loss.tracking(estimate_T, [0, 10], [1.0, 2.0], [1.0, 2.0], window=5)


def test_verdicts_are_relative_to_the_ceiling():
  verdict = meaningful_loss.verdict
  # With ρ_max = 0.5: tracks from 0.45 up, does not track below 0.25.
  assert [verdict("wgan", r, 0.5) for r in (0.45, 0.44, 0.25, 0.2499)] == [
      "holds", "unclear", "unclear", "does not hold"]
  assert [verdict("wgan-gp", r, 0.5) for r in (0.5, 0.1)] == ["holds", "does not hold"]
  # GAN's claim is the mirror: it does not track.
  assert [verdict("gan", r, 0.5) for r in (0.2499, 0.25, 0.44, 0.45)] == [
      "holds", "unclear", "unclear", "does not hold"]
  # The absolute scale is gone: ρ = 0.85 is below 0.9 x 0.99 but above 0.5 x 0.99.
  assert verdict("wgan", 0.85, 0.99) == "unclear"
  assert verdict("wgan", 0.90, 0.99) == "holds"
  # The rule as written at a ceiling of 0 or below: 0.9 >= 0.9 x 0 tracks.
  assert verdict("wgan", 0.9, 0.0) == "holds" and verdict("gan", 0.9, -0.3) == "does not hold"
  # No number: unclear.
  for rho, rho_max in ((float("nan"), 0.8), (0.9, float("nan"))):
    assert verdict("wgan", rho, rho_max) == "unclear"
    assert verdict("gan", rho, rho_max) == "unclear"


def test_quick_run_writes_its_result(tmp_path):
  result = meaningful_loss.run(str(tmp_path), quick=True)
  assert PartResult.from_json((tmp_path / "result.json").read_text()) == result
  config = part_config.get_config("quick")
  datasets, methods = config.sweep.datasets.split(","), config.sweep.runs.split(",")
  assert result.figures == [f"meaningful_loss_{d}.png" for d in datasets]
  for figure in result.figures:
    assert os.path.getsize(tmp_path / figure) > 1000
  assert len(result.claims) == len(datasets) * len(methods)
  assert all("ρ_max" in c.number for c in result.claims)
  assert result.changes == meaningful_loss.CHANGES
  numbers = json.loads((tmp_path / "numbers.json").read_text())
  points = part_config.evaluation_points(config.schedule.num_steps, config.eval.num_evals)
  assert numbers["points"] == points.tolist()
  for method in methods:
    t = numbers["results"][datasets[0]][method]
    assert t["steps"] == points.tolist()
    assert len(t["w1"]) == len(t["w1_repeat"]) == len(points)
    assert all(w > 0 for w in t["w1"] + t["w1_repeat"])
    assert t["w1"] != t["w1_repeat"]  # independent samples
