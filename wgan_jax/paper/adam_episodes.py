"""The adam part's measures: a WGAN critic's unstable episodes, how the negative cosines of its
optimiser's steps fall with respect to them, and the verdicts drawn from both.

On ring8 an unstable episode is found in the exact W1 between the generator's samples and real
ones, measured every ``eval.w1_every`` iterations (``w1_episodes``: W1 well above its running
minimum), then compared with the cosines seed by seed (``run_coincides``, ``judge_runs``). On
MNIST, where W1 cannot be measured, it is found in the EM estimate alone
(``unstable_episodes``) and the cosines are pooled over the runs (``judge_coincidence``). Claim 1,
that momentum or a high learning rate makes the critic unstable, is ``judge_stability``. Every
rule is fixed before any run.
"""

from __future__ import annotations

import math

import numpy as np

from wgan_jax import series
from wgan_jax.configs import adam as adam_config

# ring8: unstable episodes from the exact W1, fixed before any run. An evaluation point is
# unstable when W1 there exceeds W1_FACTOR x its running minimum so far (that point included)
# and exceeds it by at least W1_MARGIN; a non-finite W1 (a diverged generator) always is. A
# point stands for the iterations since the previous one, so an episode (a stretch of unstable
# points) spans the iterations that led to its first point through its last.
W1_FACTOR = 2.0
W1_MARGIN = 0.2
# The coincidence, judged per run (one seed of one optimiser) with at least one episode: it
# holds in a run when negative cosines are at least RATE_RATIO x as frequent inside its episodes
# as outside (as written, so a run with no negative cosine at all holds: 0 >= 2 x 0; the report
# counts those runs apart). The claim holds when it holds in at least
# RUNS_HOLD of those runs, does not hold in at most RUNS_FAIL, and is unclear otherwise or with
# fewer than MIN_RUNS such runs.
RUNS_HOLD = 2 / 3
RUNS_FAIL = 1 / 3
MIN_RUNS = 3

# MNIST: unstable episodes from the EM estimate, fixed before any run: the estimate leaves a
# band of EPISODE_K robust standard deviations (1.4826 x the median absolute deviation of the
# run's residuals) around its running median (window EPISODE_WINDOW), at EPISODE_MIN_POINTS or
# more iterations not more than EPISODE_GAP apart; a non-finite estimate is always outside.
# Gaussian noise leaves a 4-sigma band once in 16,000 iterations, so three such points close
# together are not noise.
EPISODE_WINDOW = 101
EPISODE_K = 4.0
# A nearly noise-free curve has a tiny band, and its smooth bends would leave it: a point also
# has to be EPISODE_MIN_JUMP x the typical size (median absolute value) of the running median
# away from it.
EPISODE_MIN_JUMP = 0.1
# The first and last half windows are never part of an episode: at the start the critic climbs
# from its initialisation, and at both ends the edge-padded running median lags the series.
EPISODE_SKIP = EPISODE_WINDOW // 2
EPISODE_GAP = 10
EPISODE_MIN_POINTS = 3
# A negative cosine "coincides" with an episode when it falls in the episode or in the
# COSINE_LEAD generator iterations before it (the step that destabilises comes first).
COSINE_LEAD = 5
# Both datasets: negative cosines at least RATE_RATIO times more frequent in episodes than
# outside them. MNIST's claim 2 pools its runs: it also needs half of the episodes to have one,
# and MIN_EPISODES episodes.
RATE_RATIO = 2.0
MIN_EPISODES = 3


def unstable_points(w1_E, factor: float = W1_FACTOR, margin: float = W1_MARGIN) -> np.ndarray:
  """(E,) bool: W1 above ``factor`` x its running minimum over the points so far (this one
  included) and above it by at least ``margin``; a non-finite W1 is always unstable and does not
  enter the minimum."""
  w1_E = np.asarray(w1_E, np.float64)
  finite_E = np.isfinite(w1_E)
  low_E = np.minimum.accumulate(np.where(finite_E, w1_E, np.inf))
  with np.errstate(invalid="ignore"):
    return ~finite_E | ((w1_E > factor * low_E) & (w1_E - low_E >= margin))


def w1_episodes(w1_E, steps_E, factor: float = W1_FACTOR,
                margin: float = W1_MARGIN) -> list[tuple[int, int]]:
  """(first, last) indices into a per-iteration series (index t - 1 is generator iteration t) of
  each unstable episode of the W1 trace ``w1_E`` measured after iterations ``steps_E``.

  An episode is a stretch of consecutive unstable points (``unstable_points``); the point at step
  s stands for the iterations after the previous point up to s, so an episode of points p..q
  spans iterations steps_E[p - 1] + 1 to steps_E[q] (from iteration 1 when p is the first point).
  """
  steps_E = np.asarray(steps_E)
  unstable_E = unstable_points(w1_E, factor, margin)
  episodes, first = [], None
  for e, unstable in enumerate(unstable_E):
    if unstable and first is None:
      first = int(steps_E[e - 1]) if e else 0
    if first is not None and (not unstable or e == len(unstable_E) - 1):
      last = int(steps_E[e if unstable else e - 1]) - 1
      if last >= first:  # a point at step 0 stands for no iteration
        episodes.append((first, last))
      first = None
  return episodes


def run_coincides(stats: dict) -> bool:
  """Whether negative cosines are at least RATE_RATIO x as frequent inside one run's episodes as
  outside them (``cosine_coincidence`` counts of one seed); False for a run without episodes."""
  if stats["updates_in"] == 0:
    return False
  rate_in = stats["negative_in"] / stats["updates_in"]
  rate_out = stats["negative_out"] / stats["updates_out"] if stats["updates_out"] else 0.0
  return rate_in >= RATE_RATIO * rate_out


def judge_runs(stats: list[dict]) -> str:
  """Claim 2 from ``cosine_coincidence`` counts of every run (seed), judged over the runs with at
  least one episode (RUNS_HOLD, RUNS_FAIL, MIN_RUNS)."""
  with_episodes = [s for s in stats if s["episodes"] > 0]
  if len(with_episodes) < MIN_RUNS:
    return "unclear"
  held = sum(run_coincides(s) for s in with_episodes) / len(with_episodes)
  # The thresholds are fractions of small counts: compare with a little slack for rounding.
  if held >= RUNS_HOLD - 1e-9:
    return "holds"
  if held <= RUNS_FAIL + 1e-9:
    return "does not hold"
  return "unclear"


def unstable_episodes(estimate_T, window: int = EPISODE_WINDOW, k: float = EPISODE_K,
                      gap: int = EPISODE_GAP, min_points: int = EPISODE_MIN_POINTS,
                      skip: int = EPISODE_SKIP,
                      min_jump: float = EPISODE_MIN_JUMP) -> list[tuple[int, int]]:
  """(first, last) indices into estimate_T of each unstable episode (see EPISODE_* above).

  Points outside the band that lie at most ``gap`` indices apart form one group; a group of at
  least ``min_points`` such points is an episode, spanning its first to its last point. The
  first and last ``skip`` points are never outside (they still shape the median and the band).
  """
  estimate_T = np.asarray(estimate_T, np.float64)
  finite_T = np.isfinite(estimate_T)
  outside_T = ~finite_T
  if finite_T.sum() >= 2:
    values_F = estimate_T[finite_T]
    median_F = series.running_median(values_F, min(window, _odd(len(values_F))))
    residual_F = values_F - median_F
    sigma = 1.4826 * float(np.median(np.abs(residual_F)))
    floor = min_jump * float(np.median(np.abs(median_F)))
    # A flat series has sigma 0: then only a real departure from the median counts.
    outside_T[finite_T] = np.abs(residual_F) > max(k * sigma, floor, 1e-12)
  outside_T[:skip] = False
  outside_T[len(outside_T) - skip:] = False
  episodes, group = [], []
  for t in np.flatnonzero(outside_T):
    if group and t - group[-1] > gap:
      if len(group) >= min_points:
        episodes.append((int(group[0]), int(group[-1])))
      group = []
    group.append(int(t))
  if len(group) >= min_points:
    episodes.append((int(group[0]), int(group[-1])))
  return episodes


def _odd(n: int) -> int:
  return n if n % 2 else n - 1


def episode_mask(episodes: list[tuple[int, int]], length: int, lead: int = COSINE_LEAD
                 ) -> np.ndarray:
  """(length,) bool: the iterations of every episode and the ``lead`` iterations before each."""
  mask_T = np.zeros(length, bool)
  for first, last in episodes:
    mask_T[max(first - lead, 0):last + 1] = True
  return mask_T


def cosine_coincidence(episodes: list[tuple[int, int]], cosine_TxN: np.ndarray,
                       lead: int = COSINE_LEAD) -> dict:
  """How negative cosines (cosine_TxN: T generator iterations x N critic updates each) fall with
  respect to the episodes: episodes with a negative cosine (in them or ``lead`` iterations
  before), and the fraction of negative cosines among updates in and out of those windows."""
  cosine_TxN = np.asarray(cosine_TxN, np.float64)
  negative_TxN = cosine_TxN < 0
  in_T = episode_mask(episodes, cosine_TxN.shape[0], lead)
  with_negative = sum(bool(negative_TxN[max(a - lead, 0):b + 1].any()) for a, b in episodes)
  n_in, n_out = int(in_T.sum()) * cosine_TxN.shape[1], int((~in_T).sum()) * cosine_TxN.shape[1]
  return {
      "episodes": len(episodes),
      "episodes_with_negative": with_negative,
      "negative_in": int(negative_TxN[in_T].sum()), "updates_in": n_in,
      "negative_out": int(negative_TxN[~in_T].sum()), "updates_out": n_out,
      "negative_total": int(negative_TxN.sum()),
      "min_cosine": float(np.nanmin(cosine_TxN)) if cosine_TxN.size else math.nan,
  }


def pooled(stats: list[dict]) -> dict:
  """Sums of ``cosine_coincidence`` counts over runs or seeds, with the two rates."""
  keys = ("episodes", "episodes_with_negative", "negative_in", "updates_in", "negative_out",
          "updates_out", "negative_total")
  total = {k: sum(s[k] for s in stats) for k in keys}
  total["rate_in"] = total["negative_in"] / total["updates_in"] if total["updates_in"] else math.nan
  total["rate_out"] = (total["negative_out"] / total["updates_out"] if total["updates_out"]
                       else math.nan)
  return total


def judge_stability(episodes_by_run: dict[str, int]) -> str:
  """Claim 1 from the episode counts (summed over seeds) by run name.

  Holds when every other run has more episodes than the baseline (``adam_config.BASELINE``,
  RMSProp at the base rate); does not hold when they have, on average, no more than it; unclear
  in between.
  """
  base = episodes_by_run[adam_config.BASELINE]
  others = [n for name, n in episodes_by_run.items() if name != adam_config.BASELINE]
  if not others:
    return "unclear"
  if all(n > base for n in others):
    return "holds"
  if np.mean(others) <= base:
    return "does not hold"
  return "unclear"


def judge_coincidence(total: dict) -> str:
  """Claim 2 from ``pooled`` counts over every run of a dataset (see RATE_RATIO)."""
  if total["episodes"] < MIN_EPISODES:
    return "unclear"
  rate_in, rate_out = total["rate_in"], total["rate_out"]
  if rate_in <= rate_out or total["negative_in"] == 0:
    return "does not hold"
  if (rate_in >= RATE_RATIO * rate_out
      and total["episodes_with_negative"] >= 0.5 * total["episodes"]):
    return "holds"
  return "unclear"
