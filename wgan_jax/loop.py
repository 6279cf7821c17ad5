"""The generic training loop: several seeds at once, K training steps per dispatch, hooks.

Every experiment drives its GAN through ``train_seeds``; experiments differ by their config
(wgan_jax/configs/) and by what their ``evaluate`` and ``on_metrics`` hooks record.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, TextIO

import jax
import numpy as np

from wgan_jax import steps as steps_lib


class Progress:
  """One line, rewritten in place on a terminal (printed every few seconds otherwise).

  The rate is measured from the first update on, so that compilation does not distort it.
  """

  def __init__(self, label: str, total: int, stream: TextIO | None = None,
               every_s: float = 5.0):
    # sys.stderr when called, not when defined: a test harness may replace it in between.
    stream = stream or sys.stderr
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
                on_metrics: Callable[[int, dict[str, np.ndarray]], None] | None = None,
                state: steps_lib.GANState | None = None, data: Any = None,
                label: str = "train", stream: TextIO | None = None,
                should_stop: Callable[[], bool] | None = None, sharding: Any = None,
                ) -> tuple[steps_lib.GANState, dict[str, np.ndarray]]:
  """Trains one GAN per seed in lockstep (vmap) up to ``num_steps`` generator iterations.

  ``state`` resumes a run (from its ``state.step``); by default the seeds' initial states.
  ``evaluate(state, step)`` runs at the start, every ``eval_every`` steps and at the end;
  ``on_metrics(first_step, metrics)`` receives each dispatch's per-step metrics, each of shape
  (steps, seeds). ``data`` is passed to the steps (see ``GANSpec``); a callable
  ``data(step, n)`` (a ``stream.StreamFeed``) gives the real batches of steps step..step+n-1 for
  each dispatch. ``should_stop()`` is asked after every dispatch; when it says so, the loop ends
  early (a preemption notice). ``sharding`` places the initial state (replicated over the mesh
  of a data-parallel run: the arrays of a run over several processes span them all). Returns the final state and the metrics of the steps run, each an
  array of shape (steps, seeds).

  The metrics of a dispatch reach ``on_metrics`` before ``evaluate`` sees the state they led to,
  so a hook that raises on bad metrics (a NaN) keeps that state from being checkpointed.
  """
  if num_steps < 1 or eval_every < 1 or chunk < 1:
    raise ValueError("num_steps, eval_every and chunk must be positive")
  # One dispatch size for the whole run, so the scanned driver compiles once.
  dispatch = math.gcd(chunk, eval_every, num_steps)
  init_keys, train_keys = seed_keys(seeds)
  if state is None and sharding is None:
    state = steps_lib.init_over_seeds(steps.init, init_keys)
  elif state is None:
    state = jax.jit(lambda keys: steps_lib.init_over_seeds(steps.init, keys),
                    out_shardings=sharding)(init_keys)
  run = jax.jit(steps_lib.over_seeds(steps.train_steps), static_argnums=2)

  step = int(state.step)
  progress = Progress(label, num_steps, stream)
  pending, history = None, []

  def collect(metrics, first_step):
    per_step = {name: np.asarray(value).T for name, value in jax.device_get(metrics).items()}
    history.append(per_step)
    if on_metrics:
      on_metrics(first_step, per_step)
    progress.update(first_step + dispatch, _describe(per_step))

  if evaluate and step == 0:
    evaluate(state, 0)
  while step < num_steps:
    count = min(dispatch, num_steps - step)
    step_data = data(step, count) if callable(data) else data  # a StreamFeed's batches
    state, metrics = run(state, train_keys, count, step_data)
    # Reading the previous chunk's metrics only now lets the device run ahead of Python.
    if pending is not None:
      collect(*pending)
    pending = (metrics, step)
    step = int(state.step)
    evaluating = evaluate and (step % eval_every == 0 or step == num_steps)
    stopping = should_stop is not None and should_stop()
    if evaluating or stopping:
      collect(*pending)
      pending = None
    if evaluating:
      evaluate(state, step)
    if stopping:
      break
  if pending is not None:
    collect(*pending)
  progress.update(step, final=True)
  if not history:
    return state, {}
  return state, {name: np.concatenate([h[name] for h in history]) for name in history[0]}


def seed_keys(seeds: list[int]) -> tuple[jax.Array, jax.Array]:
  """(initialisation keys, training keys) of the seeds, stacked: a pure function of the seeds."""
  pairs = [jax.random.split(jax.random.key(seed)) for seed in seeds]
  return jax.numpy.stack([p[0] for p in pairs]), jax.numpy.stack([p[1] for p in pairs])


def _describe(metrics: dict[str, np.ndarray]) -> str:
  estimate = float(np.mean(metrics["estimate"][-1])) if "estimate" in metrics else math.nan
  return "" if math.isnan(estimate) else f"estimate {estimate:.4f}"
