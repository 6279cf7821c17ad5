"""The training loop: several seeds at once, K training steps per dispatch, evaluation hooks.

Every experiment drives its GAN through ``train_seeds``; experiments differ by their config
(wgan_jax/configs/) and by what their ``evaluate`` hook records.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, TextIO

from etils import epath
import jax
import numpy as np
import orbax.checkpoint as ocp
from PIL import Image

from wgan_jax import checks
from wgan_jax import files
from wgan_jax import lock
from wgan_jax import plots
from wgan_jax import steps as steps_lib
from wgan_jax import writers
from wgan_jax.data.images import DataError
from wgan_jax.metrics import evaluation
from wgan_jax.metrics import inception


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
                should_stop: Callable[[], bool] | None = None,
                ) -> tuple[steps_lib.GANState, dict[str, np.ndarray]]:
  """Trains one GAN per seed in lockstep (vmap) up to ``num_steps`` generator iterations.

  ``state`` resumes a run (from its ``state.step``); by default the seeds' initial states.
  ``evaluate(state, step)`` runs at the start, every ``eval_every`` steps and at the end;
  ``on_metrics(first_step, metrics)`` receives each dispatch's per-step metrics, each of shape
  (steps, seeds). ``data`` is passed to the steps (see ``GANSpec``); a callable
  ``data(step, n)`` (an ``images.HostFeed``) gives the real batches of steps step..step+n-1 for
  each dispatch. ``should_stop()`` is asked after every dispatch; when it says so, the loop ends
  early (a preemption notice). Returns the final state and the metrics of the steps run, each an
  array of shape (steps, seeds).

  The metrics of a dispatch reach ``on_metrics`` before ``evaluate`` sees the state they led to,
  so a hook that raises on bad metrics (a NaN) keeps that state from being checkpointed.
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
    count = min(dispatch, num_steps - step)
    step_data = data(step, count) if callable(data) else data  # a HostFeed's batches
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


# Image (and toy) runs from a config, with checkpoints, logs and samples ----------------------

ConfigError = checks.ConfigError  # a config or workdir that cannot run; nothing written
CONFIG_WIDTHS = ("--config.generator.features, --config.critic.features, their hidden or "
                 "--config.generator.noise_dim")  # what sizes the state


class RunStopped(RuntimeError):
  """A run stopped by a fault during training; its last complete checkpoint is kept, and the
  message (one line) says what happened and how to go on. Launchers exit with status 1."""


class NonFiniteError(RunStopped):
  """A loss, gradient norm or parameter became NaN or infinite; that state was not saved."""


class RunFault(RunStopped):
  """A write to the workdir failed (a full disk, a lost mount), or every image of a streamed set
  became unreadable: the run stopped there."""


class Preempted(SystemExit):
  """A stop signal (SIGTERM, SIGINT) ended a run early after checkpointing it; exits with 0.

  A SystemExit, so that any script that trains ends cleanly on a preemption notice (the message
  is already on stderr); running the same command again resumes.
  """

  def __init__(self, message: str):
    super().__init__(0)
    self.message = message


# A NaN or Inf in any of these stops a run. The parameter norms stand for the parameters: the norm
# of a tree is finite exactly when every parameter is (or when one overflows float32 squared,
# which is divergence too). EBGAN's estimate is NaN by design and is not checked.
GUARDED_METRICS = ("critic_loss", "generator_loss", "gradient_penalty", "critic_grad_norm",
                   "generator_grad_norm", "critic_param_norm", "generator_param_norm")
# Ctrl-C (SIGINT) is a stop request like a preemption notice: checkpoint, then exit.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def first_non_finite(first_step: int, metrics: dict[str, np.ndarray]
                     ) -> tuple[int, str, float] | None:
  """(step, metric, value) of the first NaN or Inf among ``GUARDED_METRICS``, else None.

  ``metrics`` are those ``train_seeds`` hands to ``on_metrics``: (steps, seeds) arrays for the
  steps after ``first_step``.
  """
  guarded = [name for name in GUARDED_METRICS if name in metrics]
  if not guarded:
    return None
  count = metrics[guarded[0]].shape[0]
  for i in range(count):
    for name in guarded:
      values = np.asarray(metrics[name][i], dtype=np.float64).reshape(-1)
      bad = ~np.isfinite(values)
      if bad.any():
        return first_step + i + 1, name, float(values[bad][0])
  return None


class _StopFlag:
  """Turns SIGTERM into a flag that the loop reads between dispatches (main thread only)."""

  def __init__(self, signals=STOP_SIGNALS):
    self.signals, self.received, self._previous = signals, None, {}

  def _handle(self, signum, frame) -> None:
    del frame
    self.received = signal.Signals(signum).name

  def __call__(self) -> bool:
    return self.received is not None

  def __enter__(self) -> _StopFlag:
    if threading.current_thread() is threading.main_thread():
      self._previous = {s: signal.signal(s, self._handle) for s in self.signals}
    return self

  def __exit__(self, *exc) -> None:
    for s, handler in self._previous.items():
      signal.signal(s, handler)


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains the GAN that ``config`` describes (see wgan_jax/configs/) in ``workdir``.

  Resumes from the latest complete checkpoint in ``workdir/checkpoints``. Writes
  ``metrics.jsonl``, TensorBoard events, ``samples/step_<n>.png`` (a sheet from a fixed noise
  batch; ``.npy`` points for a 2-D toy distribution), ``learning_curve.png`` and checkpoints
  (both networks, both optimiser states, BatchNorm statistics and the step; the PRNG stream and
  the data order are functions of config.run.seed and the step, so they need no saving). Returns the
  last step's metrics.

  Raises ConfigError before writing anything for a config or a workdir that cannot run
  (warnings for poor ones go to stderr), lock.WorkdirBusy when another run holds ``workdir``,
  NonFiniteError when a guarded metric turns NaN or Inf and RunFault when a write or the data
  fails (in both, the last complete checkpoint stays the latest), and Preempted after
  checkpointing when SIGTERM or SIGINT arrives.
  """
  from wgan_jax import experiment  # the config -> GANSpec mapping; heavy imports stay lazy

  # Everything that can refuse the config runs before anything is written.
  try:
    files.check_workdir(workdir)
    try:  # a resume rewrites metrics.jsonl: a line it cannot parse must stop it here
      writers.read_metrics(workdir)
    except ValueError as e:
      raise ValueError(f"{e}; repair or remove that line to resume") from None
    warnings = checks.check_config(config)
    run = experiment.build(config)
    template = state_template(run, config.run.seed)
    checks.check_state_fits(template, CONFIG_WIDTHS)
  except ValueError as e:  # ConfigError, DataError and the networks' own refusals
    raise ConfigError(str(e)) from None
  for warning in warnings:
    print(f"warning: {warning}", file=sys.stderr)
  os.makedirs(workdir, exist_ok=True)
  with lock.WorkdirLock(workdir), _StopFlag() as stop:
    return _train(config, workdir, run, template, stop)


def _train(config, workdir: str, run, template, stop: _StopFlag) -> dict:
  checkpoints = Checkpoints(os.path.join(workdir, "checkpoints"), config.run.keep_checkpoints,
                            cleanup=True)
  label = os.path.basename(os.path.normpath(workdir)) or "train"
  saved = {"step": None}
  try:
    return _train_steps(config, workdir, run, template, stop, checkpoints, label, saved)
  except (OSError, DataError) as e:
    kept = (f"the last complete checkpoint, step {saved['step']}, is kept"
            if saved["step"] is not None else "no checkpoint was saved")
    raise RunFault(f"{_fault(e)}; the run stopped and {kept}; fix that and run the same "
                   f"command to resume") from None


def _fault(error: BaseException) -> str:
  """One line for an error of the file system or the data: the OSError behind it, if any (orbax
  raises from its writer threads wrapped in its own errors)."""
  seen = error
  while seen is not None and not isinstance(seen, OSError):
    seen = seen.__cause__ or seen.__context__
  if seen is not None and seen.strerror:
    where = f" writing {seen.filename}" if seen.filename else ""
    return f"{seen.strerror}{where}"
  return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _train_steps(config, workdir: str, run, template, stop: _StopFlag, checkpoints, label: str,
                 saved: dict) -> dict:
  writer = None
  try:
    try:
      state = checkpoints.restore_latest(template)
    except ValueError as e:
      raise ConfigError(str(e)) from None
    # Written only now: a config that cannot resume this workdir must not replace its config.json.
    os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
    _write_config(workdir, config)
    writer = writers.MetricWriter(workdir)
    start_step = 0 if state is None else int(state.step)
    writer.truncate_after(start_step)  # rows a killed run wrote after its last checkpoint
    if state is not None:
      print(f"resuming {workdir} from step {start_step}", file=sys.stderr)

    fixed_noise_keys = jax.random.split(jax.random.key(config.run.seed + 1), 1)
    generate = steps_lib.generate_over_seeds(run.steps)
    image_metrics = None
    if evaluation.TrainingMetrics.wanted(config) and not evaluation.TrainingMetrics.enabled(
        config):
      print(f"note: no FID or KID during training: "
            f"{inception.missing_weights_message(None)}", file=sys.stderr)
    if evaluation.TrainingMetrics.enabled(config):
      image_metrics = evaluation.TrainingMetrics(config)
      # Its own noise, so that the sample sheets stay those of a run without these metrics.
      metric_keys = jax.random.split(jax.random.key(config.run.seed + 2), 1)
    clock = {"start": time.perf_counter(), "steps": 0}
    saved["step"] = start_step if state is not None else None

    def on_metrics(first_step, metrics):
      elapsed = time.perf_counter() - clock["start"]
      bad = first_non_finite(first_step, metrics)
      count = next(iter(metrics.values())).shape[0] if bad is None else bad[0] - first_step
      clock["steps"] += count
      for i in range(count):  # the bad step's row is written too: the log shows what happened
        row = {name: float(value[i, 0]) for name, value in metrics.items()}
        row.update(wall_time_s=elapsed, it_per_s=clock["steps"] / elapsed)
        writer.write(first_step + i + 1, row)
      if bad is not None:
        step, name, value = bad
        kept = (f"the last good checkpoint, step {saved['step']}, is kept"
                if saved["step"] is not None else "no checkpoint was saved before it")
        raise NonFiniteError(f"step {step}: {name} is {value}; the run stopped without "
                             f"saving that state and {kept}")

    def evaluate(state, step):
      samples = np.asarray(generate(state, fixed_noise_keys, 64)[0])
      if samples.ndim == 2:  # points of a 2-D toy distribution, not images
        files.save_npy(os.path.join(workdir, "samples", f"step_{step}.npy"), samples)
      else:
        writers.save_image_sheet(os.path.join(workdir, "samples", f"step_{step}.png"), samples)
        writer.write_images(step, "samples", samples)
      if image_metrics is not None:
        row = image_metrics.row(lambda n: generate(state, metric_keys, n)[0], step)
        if row is not None:
          writer.write(step, row)
      if step > 0:
        writer.flush()  # the log must reach the checkpoint's step before the checkpoint exists
        checkpoints.save(step, state)
        saved["step"] = step

    state, _ = train_seeds(run.steps, [config.run.seed], config.schedule.num_steps,
                           eval_every=config.run.checkpoint_every,
                           chunk=config.schedule.steps_per_dispatch,
                           evaluate=evaluate, on_metrics=on_metrics, state=state, data=run.data,
                           label=label, should_stop=stop)
    step = int(state.step)
    if step < config.schedule.num_steps and saved["step"] != step:
      writer.flush()
      checkpoints.save(step, state)
  finally:
    checkpoints.close()
    if writer is not None:
      writer.close()
    if callable(run.data):
      run.data.close()  # a HostFeed's reader thread
  if step < config.schedule.num_steps:
    message = (f"{stop.received} at step {step} of {config.schedule.num_steps}: checkpoint saved in "
               f"{workdir}; run the same command to resume")
    print(message, file=sys.stderr)
    raise Preempted(message)
  # The training steps' rows; the FID rows logged at evaluations are beside them.
  rows = [r for r in writers.read_metrics(workdir) if "fid" not in r]
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
  config = files.read_json(path)
  if not isinstance(config, dict):
    raise ValueError(f"{path} holds no config (a JSON object); restore it from the run's "
                     f"command")
  return ml_collections.ConfigDict(config)


def sample_from_checkpoint(workdir: str, num: int, seed: int = 0,
                           statistics: str | None = None) -> tuple[np.ndarray, int]:
  """``num`` samples of the generator in the latest checkpoint of ``workdir``, and its step.

  ``statistics`` replaces the run's ``run.sample_statistics`` (batch | running). ValueError when
  ``workdir`` holds no run or no complete checkpoint.
  """
  samples = sample_checkpoints(workdir, num, seed, statistics, latest_only=True)
  if not samples:
    raise ValueError(f"{workdir!r} has no complete checkpoint yet")
  step, samples_N = samples[0]
  return samples_N, step


def sample_checkpoints(workdir: str, num: int, seed: int = 0, statistics: str | None = None,
                       latest_only: bool = False) -> list[tuple[int, np.ndarray]]:
  """[(step, ``num`` samples)] of every checkpoint of ``workdir`` in step order (or of the latest
  one), all drawn from the same noise; arguments as ``sample_from_checkpoint``'s."""
  from wgan_jax import experiment

  checks.check_count("--num", num, 1)
  checks.check_seed("--seed", seed)
  config = load_config(workdir)
  if statistics is not None:
    config.run.sample_statistics = statistics
  checks.check_config(config)
  checks.check_count("--num", num, 1, lambda n: n * checks.example_bytes(config), "the samples")
  run = experiment.build(config, with_data=False)
  template = state_template(run, config.run.seed)
  checks.check_state_fits(template, f"the widths in {workdir}/config.json")
  checkpoints = Checkpoints(os.path.join(workdir, "checkpoints"), 1, create=False)
  generate = steps_lib.generate_over_seeds(run.steps)
  keys = jax.random.split(jax.random.key(seed), 1)
  try:
    states = ([checkpoints.restore_latest(template)] if latest_only else
              [checkpoints.restore(step, template) for step in checkpoints.steps()])
  finally:
    checkpoints.close()
  return [(int(state.step), np.asarray(generate(state, keys, num)[0]))
          for state in states if state is not None]


def marked_sheets(workdir: str, steps, count: int) -> list[tuple[int, np.ndarray]]:
  """[(step, sheet)] of ``count`` of the sample sheets ``workdir/samples/step_<s>.png`` of
  ``steps`` that exist, spread evenly over them, the last one at the end."""
  path = lambda s: os.path.join(workdir, "samples", f"step_{s}.png")
  steps = [int(s) for s in steps if os.path.exists(path(int(s)))]
  marked = sorted({steps[round(i * (len(steps) - 1) / (count - 1))] for i in range(count)}
                  ) if steps else []
  return [(s, np.asarray(Image.open(path(s)))) for s in marked]


def _write_learning_curve(workdir: str, rows: list[dict], estimate_name: str) -> None:
  steps_T = np.array([r["step"] for r in rows])
  estimate_T = np.array([np.nan if r.get("estimate") is None else r["estimate"] for r in rows],
                        dtype=np.float64)
  sheet_steps = sorted(int(name[5:-4]) for name in os.listdir(os.path.join(workdir, "samples"))
                       if name.startswith("step_") and name.endswith(".png"))
  sheets = marked_sheets(workdir, sheet_steps, 4)
  plots.image_learning_curve(os.path.join(workdir, "learning_curve.png"), steps_T, estimate_T,
                             estimate_name, sheets)


class Checkpoints:
  """orbax-checkpoint: complete checkpoints only, the latest ``keep`` kept.

  orbax writes a checkpoint into ``<step>.orbax-checkpoint-tmp-*`` and renames it to ``<step>``
  when done, so a run killed mid-write leaves a temporary folder that is never listed as a step;
  ``cleanup`` (for the run that owns the folder) removes such leftovers. Should the newest step
  still fail to read (a file system without atomic renames), ``restore_latest`` falls back to the
  one before, with a warning, and (with ``cleanup``) renames the unreadable one to
  ``<step>.unreadable-<ns>``.
  """

  def __init__(self, directory: str, keep: int, create: bool = True, cleanup: bool = False):
    if not create and not os.path.isdir(directory):
      raise ValueError(f"no checkpoints in {directory!r}")
    self.directory, self.owner = directory, cleanup
    self.manager = ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=create,
                                             cleanup_tmp_directories=cleanup))

  def restore_latest(self, template):
    """The newest checkpoint that restores into ``template``'s structure; None when there are
    none; ValueError when there are some but none restores (a config that changed the state's
    structure, say), rather than silently starting again over them."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    steps, failures = sorted(self.manager.all_steps(), reverse=True), []
    for step in steps:
      # Compared before reading any array: a failed read leaves orbax's callbacks pending on a
      # closed event loop, and each prints a traceback at exit.
      mismatch = _mismatch(self.directory, step, abstract)
      if mismatch == _NO_CRITIC_ITER:
        raise ValueError(f"checkpoint {step} in {self.directory} was written before the state "
                         f"counted critic iterations (GANState.critic_iter, which orders the "
                         f"real batches) and cannot be resumed by this version; start the run "
                         f"again in another workdir")
      if mismatch:
        raise ValueError(f"checkpoint {step} in {self.directory} holds another state: "
                         f"{mismatch}; resume with the config the run was started with (its "
                         f"config.json) or use another workdir")
      try:
        state = self.manager.restore(step, args=ocp.args.StandardRestore(abstract))
      except Exception as e:  # orbax and tensorstore raise many kinds for unreadable files
        failures.append(f"checkpoint {step}: "
                        f"{(str(e).strip().splitlines() or [type(e).__name__])[0][:200]}")
        continue
      for failure in failures:
        print(f"warning: {failure}; restored the older checkpoint {step}", file=sys.stderr)
      if failures and self.owner:
        # Renamed out of the way (kept for a post-mortem), so that the resumed run can save
        # those steps again.
        for bad in steps[:len(failures)]:
          bad_path = os.path.join(self.directory, str(bad))
          os.replace(bad_path, f"{bad_path}.unreadable-{time.time_ns()}")
        self.manager.reload()
      return state
    if steps:
      raise ValueError(f"none of the {len(steps)} checkpoints in {self.directory} can be "
                       f"restored with this config ({failures[0]}); resume with the config "
                       f"the run was started with (its config.json) or use another workdir")
    return None

  def save(self, step: int, state) -> None:
    self.manager.save(step, args=ocp.args.StandardSave(state))

  def steps(self) -> list[int]:
    """The steps of the complete checkpoints, in increasing order."""
    return sorted(self.manager.all_steps())

  def restore(self, step: int, template):
    """Checkpoint ``step``, restored into ``template``'s structure."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))


  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


# What ``_mismatch`` returns for a checkpoint that lacks only GANState.critic_iter: one written
# by a version of wgan_jax before the real batches were read in epoch order.
_NO_CRITIC_ITER = "no critic_iter"


def _leaf_name(path) -> str:
  return ".".join(str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k)))) for k in path)


def _mismatch(directory: str, step: int, abstract) -> str | None:
  """How the arrays of checkpoint ``step`` differ from ``abstract``'s (names, shapes, dtypes);
  None when they agree or when the metadata cannot be read (the restore then decides)."""
  try:
    metadata = ocp.PyTreeCheckpointHandler().metadata(
        epath.Path(os.path.abspath(directory)) / str(step) / "default")
    stored = {_leaf_name(path): leaf for path, leaf in
              jax.tree_util.tree_leaves_with_path(getattr(metadata, "tree", metadata))}
  except Exception:  # unreadable metadata: left to restore_latest's fallback
    return None
  wanted = {_leaf_name(path): leaf for path, leaf in jax.tree_util.tree_leaves_with_path(abstract)}
  if not stored:
    return None
  missing, extra = sorted(set(wanted) - set(stored)), sorted(set(stored) - set(wanted))
  if missing == ["critic_iter"] and not extra:
    return _NO_CRITIC_ITER
  if missing or extra:
    return (f"{len(missing)} arrays of this config are not in it (e.g. {missing[0]})" if missing
            else f"it has {len(extra)} arrays this config lacks (e.g. {extra[0]})")
  for name, leaf in wanted.items():
    have = stored[name]
    if tuple(have.shape) != tuple(leaf.shape) or np.dtype(have.dtype) != np.dtype(leaf.dtype):
      return (f"{name} is {np.dtype(have.dtype).name}{list(have.shape)} there, "
              f"{np.dtype(leaf.dtype).name}{list(leaf.shape)} with this config")
  return None
