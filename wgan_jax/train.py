"""The training loop: several seeds at once, K training steps per dispatch, evaluation hooks.

Every experiment drives its GAN through ``train_seeds``; experiments differ by the ``GANSpec``
they build and by what their ``evaluate`` hook records.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any, Callable, TextIO

import jax
import numpy as np
import orbax.checkpoint as ocp
from PIL import Image

from wgan_jax import files
from wgan_jax import plots
from wgan_jax import steps as steps_lib
from wgan_jax import writers


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
                on_metrics: Callable[[int, dict[str, np.ndarray]], None] | None = None,
                state: steps_lib.GANState | None = None, data: Any = None,
                label: str = "train", stream: TextIO = sys.stderr
                ) -> tuple[steps_lib.GANState, dict[str, np.ndarray]]:
  """Trains one GAN per seed in lockstep (vmap) up to ``num_steps`` generator iterations.

  ``state`` resumes a run (from its ``state.step``); by default the seeds' initial states.
  ``evaluate(state, step)`` runs at the start, every ``eval_every`` steps and at the end;
  ``on_metrics(first_step, metrics)`` receives each dispatch's per-step metrics, each of shape
  (steps, seeds). ``data`` is passed to the steps (see ``GANSpec``). Returns the final state and
  the metrics of the steps run, each an array of shape (steps, seeds).
  """
  if num_steps < 1 or eval_every < 1 or chunk < 1:
    raise ValueError("num_steps, eval_every and chunk must be positive")
  # One dispatch size for the whole run, so the scanned driver compiles once.
  dispatch = math.gcd(chunk, eval_every, num_steps)
  init_keys, train_keys = seed_keys(seeds)
  if state is None:
    state = steps_lib.init_over_seeds(steps.init, init_keys)
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
    state, metrics = run(state, train_keys, min(dispatch, num_steps - step), data)
    # Reading the previous chunk's metrics only now lets the device run ahead of Python.
    if pending is not None:
      collect(*pending)
    pending = (metrics, step)
    step = int(state.step)
    if evaluate and (step % eval_every == 0 or step == num_steps):
      evaluate(state, step)
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


# Image (and toy) runs from a config, with checkpoints, logs and samples ----------------------

class ConfigError(ValueError):
  """A config or workdir that cannot run; nothing has been written."""


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains the GAN that ``config`` describes (see experiments/configs/) in ``workdir``.

  Resumes from the latest complete checkpoint in ``workdir/checkpoints``. Writes
  ``metrics.jsonl``, TensorBoard events, ``samples/step_<n>.png`` (a sheet from a fixed noise
  batch), ``learning_curve.png`` and checkpoints (both networks, both optimiser states, BatchNorm
  statistics and the step; the PRNG stream and the data order are functions of config.seed and
  the step, so they need no saving). Returns the last step's metrics.
  """
  from wgan_jax import experiment  # the config -> GANSpec mapping; heavy imports stay lazy

  # Everything that can refuse the config runs before anything is written.
  try:
    if os.path.exists(workdir) and not os.path.isdir(workdir):
      raise ValueError(f"--workdir {workdir!r} exists and is not a directory")
    for name in ("num_steps", "checkpoint_every", "steps_per_dispatch", "keep_checkpoints"):
      if config[name] < 1:
        raise ValueError(f"--config.{name} must be at least 1, got {config[name]}")
    run = experiment.build(config)
    template = state_template(run, config.seed)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
  _write_config(workdir, config)
  checkpoints = Checkpoints(os.path.join(workdir, "checkpoints"), config.keep_checkpoints)
  state = checkpoints.restore_latest(template)
  writer = writers.MetricWriter(workdir)
  start_step = 0 if state is None else int(state.step)
  writer.truncate_after(start_step)  # rows a killed run wrote after its last checkpoint
  if state is not None:
    print(f"resuming {workdir} from step {start_step}", file=sys.stderr)

  fixed_noise_keys = jax.random.split(jax.random.key(config.seed + 1), 1)
  generate = jax.jit(steps_lib.over_seeds(run.steps.generate, out_axes=0), static_argnums=2)
  clock = {"start": time.perf_counter(), "steps": 0}

  def on_metrics(first_step, metrics):
    elapsed = time.perf_counter() - clock["start"]
    count = next(iter(metrics.values())).shape[0]
    clock["steps"] += count
    for i in range(count):
      row = {name: float(value[i, 0]) for name, value in metrics.items()}
      row.update(wall_time_s=elapsed, it_per_s=clock["steps"] / elapsed)
      writer.write(first_step + i + 1, row)

  def evaluate(state, step):
    images = np.asarray(generate(state, fixed_noise_keys, 64)[0])
    writers.save_image_sheet(os.path.join(workdir, "samples", f"step_{step}.png"), images)
    writer.write_images(step, "samples", images)
    if step > 0:
      writer.flush()  # the log must reach the checkpoint's step before the checkpoint exists
      checkpoints.save(step, state)

  state, _ = train_seeds(run.steps, [config.seed], config.num_steps,
                         eval_every=config.checkpoint_every, chunk=config.steps_per_dispatch,
                         evaluate=evaluate, on_metrics=on_metrics, state=state, data=run.data,
                         label=os.path.basename(os.path.normpath(workdir)) or "train")
  checkpoints.close()
  writer.close()
  rows = writers.read_metrics(workdir)
  _write_learning_curve(workdir, rows, run.estimate_name)
  return rows[-1] if rows else {}


def state_template(run, seed: int):
  """The shapes and dtypes of the run's state (one seed), without computing it."""
  init_keys, _ = seed_keys([seed])
  return jax.eval_shape(lambda k: steps_lib.init_over_seeds(run.steps.init, k), init_keys)


def _write_config(workdir: str, config) -> None:
  files.save_text(os.path.join(workdir, "config.json"), config.to_json(indent=2))


def load_config(workdir: str):
  """The config a run in ``workdir`` was started with."""
  import ml_collections
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise ValueError(f"{workdir!r} holds no run: {path} is missing")
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def sample_from_checkpoint(workdir: str, num: int, seed: int = 0) -> tuple[np.ndarray, int]:
  """``num`` samples of the generator in the latest checkpoint of ``workdir``, and its step.

  ValueError when ``workdir`` holds no run or no complete checkpoint.
  """
  from wgan_jax import experiment

  config = load_config(workdir)
  run = experiment.build(config, with_data=False)
  checkpoints = Checkpoints(os.path.join(workdir, "checkpoints"), 1, create=False)
  state = checkpoints.restore_latest(state_template(run, config.seed))
  checkpoints.close()
  if state is None:
    raise ValueError(f"{workdir!r} has no complete checkpoint yet")
  generate = jax.jit(steps_lib.over_seeds(run.steps.generate, out_axes=0), static_argnums=2)
  keys = jax.random.split(jax.random.key(seed), 1)
  return np.asarray(generate(state, keys, num)[0]), int(state.step)


def _write_learning_curve(workdir: str, rows: list[dict], estimate_name: str) -> None:
  steps_T = np.array([r["step"] for r in rows])
  estimate_T = np.array([np.nan if r.get("estimate") is None else r["estimate"] for r in rows],
                        dtype=np.float64)
  sheet_steps = sorted(int(name[5:-4]) for name in os.listdir(os.path.join(workdir, "samples"))
                       if name.startswith("step_") and name.endswith(".png"))
  # Four sheets spread over the run, the last one at the end.
  marked = sorted({sheet_steps[round(i * (len(sheet_steps) - 1) / 3)] for i in range(4)}
                  ) if sheet_steps else []
  sheets = [(s, np.asarray(Image.open(os.path.join(workdir, "samples", f"step_{s}.png"))))
            for s in marked]
  plots.image_learning_curve(os.path.join(workdir, "learning_curve.png"), steps_T, estimate_T,
                             estimate_name, sheets)


class Checkpoints:
  """orbax-checkpoint: complete checkpoints only (orbax writes to a temporary folder and renames
  it when done), the latest ``keep`` kept."""

  def __init__(self, directory: str, keep: int, create: bool = True):
    if not create and not os.path.isdir(directory):
      raise ValueError(f"no checkpoints in {directory!r}")
    self.manager = ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=create))

  def restore_latest(self, template):
    step = self.manager.latest_step()
    if step is None:
      return None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))

  def save(self, step: int, state) -> None:
    self.manager.save(step, args=ocp.args.StandardSave(state))

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
