"""Critics trained to the optimum a claim assumes: the rule that says when, and a driver.

A critic has converged when its estimate changed by less than ``TOLERANCE`` (relative to the
current estimate) over the last half of its steps, checked every ``check_every`` steps; a critic
that reaches ``max_steps`` without meeting the rule has not converged, and the claims that rest on
it are "unclear". The rule is fixed before any run; the two step counts are settings of the parts
that use it (``check_every`` and ``max_steps`` of wgan_jax/configs/lines.py's and clipping.py's
sections).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

TOLERANCE = 0.05


def converged(estimate_at_half, estimate_now, tolerance: float = TOLERANCE) -> np.ndarray:
  """Elementwise: |now - at_half| < tolerance · |now|, the estimate at step t against step t/2.

  A non-finite estimate never converges, nor does one that is exactly 0 (no relative change).
  """
  half = np.asarray(estimate_at_half, dtype=np.float64)
  now = np.asarray(estimate_now, dtype=np.float64)
  with np.errstate(invalid="ignore"):
    return np.isfinite(half) & np.isfinite(now) & (np.abs(now - half) < tolerance * np.abs(now))


def convergence_step(steps_T, estimates_T, check_every: int,
                     tolerance: float = TOLERANCE) -> int | None:
  """The first check (a step t, a multiple of ``check_every``) at which a recorded series
  ``estimates_T`` at ``steps_T`` meets the rule, or None. The series must hold t and t/2."""
  recorded = dict(zip((int(s) for s in steps_T), np.asarray(estimates_T, dtype=np.float64)))
  for t in sorted(recorded):
    if t > 0 and t % check_every == 0 and t // 2 in recorded:
      if converged(recorded[t // 2], recorded[t], tolerance):
        return t
  return None


@dataclasses.dataclass(frozen=True)
class Trained:
  """What ``train_to_convergence`` returns, for G critics trained side by side."""

  states: Any  # the critics' states, each as it was when it converged (or at the cap)
  steps_T: np.ndarray  # the steps at which the estimates were recorded (every check_every / 2)
  estimates_TxG: np.ndarray  # each critic's estimate at those steps (frozen after convergence)
  converged_at_G: np.ndarray  # the step at which each converged; -1 for one that hit the cap

  @property
  def all_converged(self) -> bool:
    return bool(np.all(self.converged_at_G >= 0))

  @property
  def steps_G(self) -> np.ndarray:
    """The steps each critic trained for."""
    last = int(self.steps_T[-1])
    return np.where(self.converged_at_G >= 0, self.converged_at_G, last)


def train_to_convergence(advance: Callable[[Any, jax.Array, int], Any],
                         estimate: Callable[[Any], Any], states, key: jax.Array, *,
                         check_every: int, max_steps: int,
                         tolerance: float = TOLERANCE) -> Trained:
  """Trains G critics stacked on the leading axis of ``states`` until each meets the rule.

  ``advance(states, key, num_steps)`` trains every critic for num_steps steps (one compiled
  program: num_steps is always check_every // 2); ``estimate(states)`` gives the G estimates. A
  critic that converges is frozen at that state while the others train on, so that each is judged
  as it was when the rule stopped it. Stops when all have converged or at ``max_steps``.
  """
  if check_every % 2 or max_steps % check_every:
    raise ValueError(f"check_every ({check_every}) must be even and divide max_steps "
                     f"({max_steps})")
  chunk = check_every // 2
  estimates = [np.asarray(estimate(states), dtype=np.float64)]
  steps = [0]
  converged_at = np.full(estimates[0].shape, -1, dtype=np.int64)
  done = 0
  while done < max_steps and np.any(converged_at < 0):
    trained = advance(states, jax.random.fold_in(key, done), chunk)
    frozen = jnp.asarray(converged_at >= 0)
    states = jax.tree.map(
        lambda old, new: jnp.where(frozen.reshape(frozen.shape + (1,) * (new.ndim - 1)), old,
                                   new), states, trained)
    done += chunk
    now = np.asarray(estimate(states), dtype=np.float64)
    estimates.append(now)
    steps.append(done)
    if done % check_every == 0:
      half = estimates[steps.index(done // 2)]
      newly = (converged_at < 0) & converged(half, now, tolerance)
      converged_at[newly] = done
  return Trained(states, np.asarray(steps), np.stack(estimates), converged_at)
