"""The training loop: several seeds at once, K training steps per dispatch, evaluation hooks.

Every experiment drives its GAN through ``train_seeds``; experiments differ by the ``GANSpec``
they build and by what their ``evaluate`` hook records.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Callable, TextIO

import jax
import numpy as np

from wgan_jax import steps as steps_lib


class Progress:
  """One line, rewritten in place on a terminal (printed every few seconds otherwise).

  The rate is measured from the first update on, so that compilation does not distort it.
  """

  def __init__(self, label: str, total: int, stream: TextIO = sys.stderr, every_s: float = 5.0):
    self.label, self.total, self.stream, self.every_s = label, total, stream, every_s
    self.start = time.perf_counter()
    self.first: tuple[int, float] | None = None  # (iterations, time) at the first update
    self.last_print = -math.inf
    self.tty = stream.isatty()

  def update(self, done: int, extra: str = "", final: bool = False) -> None:
    now = time.perf_counter()
    if self.first is None:
      self.first = (done, now)
    if not final and not self.tty and now - self.last_print < self.every_s:
      return
    self.last_print = now
    elapsed = now - self.start
    first_done, first_time = self.first
    rate = (done - first_done) / (now - first_time) if done > first_done else 0.0
    speed = f"{rate:7.1f} it/s  left {(self.total - done) / rate:5.1f}s" if rate else "compiled"
    line = f"{self.label}: {done}/{self.total} it  {speed}  elapsed {elapsed:5.1f}s  {extra}"
    if self.tty:
      self.stream.write("\r" + line.ljust(110) + ("\n" if final else ""))
    else:
      self.stream.write(line + "\n")
    self.stream.flush()


def train_seeds(steps: steps_lib.Steps, seeds: list[int], num_steps: int, *,
                eval_every: int, chunk: int = 100,
                evaluate: Callable[[steps_lib.GANState, int], None] | None = None,
                label: str = "train", stream: TextIO = sys.stderr
                ) -> tuple[steps_lib.GANState, dict[str, np.ndarray]]:
  """Trains one GAN per seed in lockstep (vmap) for ``num_steps`` generator iterations.

  ``evaluate(state, step)`` runs at step 0, every ``eval_every`` steps and at the end. Returns
  the final stacked state and the per-step metrics, each an array of shape (num_steps, seeds).
  """
  if num_steps < 1 or eval_every < 1 or chunk < 1:
    raise ValueError("num_steps, eval_every and chunk must be positive")
  # One dispatch size for the whole run, so the scanned driver compiles once.
  dispatch = math.gcd(chunk, eval_every, num_steps)
  keys = [jax.random.split(jax.random.key(seed)) for seed in seeds]
  init_keys = jax.numpy.stack([k[0] for k in keys])
  train_keys = jax.numpy.stack([k[1] for k in keys])
  state = steps_lib.init_over_seeds(steps.init, init_keys)
  run = jax.jit(steps_lib.over_seeds(steps.train_steps), static_argnums=2)

  progress = Progress(label, num_steps, stream)
  pending, history = None, []
  if evaluate:
    evaluate(state, 0)
  step = 0
  while step < num_steps:
    state, metrics = run(state, train_keys, dispatch)
    step += dispatch
    # Reading the previous chunk's metrics only now lets the device run ahead of Python.
    if pending is not None:
      history.append(jax.device_get(pending))
      progress.update(step - dispatch, _describe(history[-1]))
    pending = metrics
    if evaluate and (step % eval_every == 0 or step == num_steps):
      evaluate(state, step)
  history.append(jax.device_get(pending))
  progress.update(num_steps, _describe(history[-1]), final=True)
  # Per-step metrics come out (seeds, dispatch) per chunk: concatenate along steps.
  stacked = {name: np.concatenate([h[name] for h in history], axis=1).T for name in history[0]}
  return state, stacked


def _describe(metrics: dict[str, np.ndarray]) -> str:
  estimate = float(np.mean(metrics["estimate"][:, -1])) if "estimate" in metrics else math.nan
  return "" if math.isnan(estimate) else f"estimate {estimate:.4f}"
