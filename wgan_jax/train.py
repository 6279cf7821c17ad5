"""``train_and_evaluate(config, workdir)``: one run from a config, with checkpoints, logs, samples.

It checks the config before writing anything, builds the run (``experiment.build``), trains it
with ``loop.train_seeds`` under a workdir lock, checkpoints (``checkpoints.Checkpoints``), logs
(``writers``) and stops cleanly on a stop signal or a fault. Over several processes
(``config.run.distributed``) every process runs it alike: all take part in the training and in
orbax's checkpoints, process 0 alone writes everything else and holds the workdir's lock, and a
stop request on any process stops all of them at the same step. Its errors say what happened in
one line: ``checks.ConfigError`` (nothing written), ``NonFiniteError`` and ``RunFault`` (the last
complete checkpoint kept), ``Preempted`` (checkpointed on a stop signal).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

import jax
import numpy as np

from wgan_jax import checkpoints as checkpoints_lib
from wgan_jax import checks
from wgan_jax import experiment
from wgan_jax import files
from wgan_jax import lock
from wgan_jax import loop
from wgan_jax import parallel
from wgan_jax import plots
from wgan_jax import steps as steps_lib
from wgan_jax import writers
from wgan_jax.data.decode import DataError
from wgan_jax.metrics import evaluation
from wgan_jax.metrics import inception

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


class PeerLost(RunStopped):
  """A collective across the processes of a distributed run failed: another process is gone.
  JAX's runtime ends this one too once the lost process's heartbeat times out."""


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

  Resumes from the newest checkpoint in ``workdir/checkpoints`` that passes its check (see
  ``checkpoints.Checkpoints``; a damaged one is skipped with a warning). Writes
  ``metrics.jsonl``, TensorBoard events, ``samples/step_<n>.png`` (a sheet from a fixed noise
  batch; ``.npy`` points for a 2-D toy distribution), ``learning_curve.png`` and checkpoints
  (both networks, both optimiser states, BatchNorm statistics and the step; the PRNG stream and
  the data order are functions of config.run.seed and the step, so they need no saving). Returns the
  last step's metrics (in process 0; the other processes of a distributed run return {}).

  Raises ConfigError before writing anything for a config or a workdir that cannot run
  (warnings for poor ones go to stderr), lock.LockRefused when another run holds ``workdir``
  or its lock cannot be a file, NonFiniteError when a guarded metric turns NaN or Inf and
  RunFault when a write or the data fails (in both, the last complete checkpoint stays the
  latest), and Preempted after checkpointing when SIGTERM or SIGINT arrives.
  """
  if config.run.get("distributed", False) is True:
    parallel.initialize()  # before anything touches a device; a launcher may have started it
  primary = parallel.is_primary()
  # Everything that can refuse the config runs before anything is written.
  try:
    files.check_workdir(workdir)
    try:  # a resume rewrites metrics.jsonl: a line it cannot parse must stop it here
      writers.read_metrics(workdir)
    except ValueError as e:
      raise ValueError(f"{e}; repair or remove that line to resume") from None
    warnings = checks.check_config(config)
    run = experiment.build(config)
    template = checkpoints_lib.state_template(run, config.run.seed)
    checks.check_state_fits(template, CONFIG_WIDTHS)
  except ValueError as e:  # ConfigError, DataError and the networks' own refusals
    raise checks.ConfigError(str(e)) from None
  if primary:
    for warning in warnings:
      print(f"warning: {warning}", file=sys.stderr)
    os.makedirs(workdir, exist_ok=True)
  with _workdir_lock(workdir, primary), _StopFlag() as stop:
    return _train(config, workdir, run, template, stop, primary)


@contextlib.contextmanager
def _workdir_lock(workdir: str, primary: bool):
  """The workdir's lock, held by process 0 for every process of the run, so that two jobs on one
  workdir refuse each other; every process raises LockRefused when process 0 could not take it."""
  held, refusal = None, None
  if primary:
    try:
      held = lock.WorkdirLock(workdir).acquire()
    except lock.LockRefused as e:
      refusal = e
  if not parallel.from_primary(refusal is None):
    raise refusal or lock.WorkdirBusy(f"process 0 could not lock workdir {workdir!r}: another "
                                      f"run holds it (process 0 says which)")
  try:
    yield
  finally:
    if held is not None:
      held.release()


def _train(config, workdir: str, run, template, stop: _StopFlag, primary: bool) -> dict:
  checkpoints = checkpoints_lib.Checkpoints(os.path.join(workdir, "checkpoints"),
                                            config.run.keep_checkpoints, cleanup=primary)
  label = os.path.basename(os.path.normpath(workdir)) or "train"
  saved = {"step": None}
  try:
    return _train_steps(config, workdir, run, template, stop, checkpoints, label, saved,
                        primary)
  except jax.errors.JaxRuntimeError as e:
    if jax.process_count() == 1:
      raise
    raise PeerLost(f"a collective across the {jax.process_count()} processes failed "
                   f"({files.first_line(e)[:160]})") from None
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
  return files.first_line(error)


def _train_steps(config, workdir: str, run, template, stop: _StopFlag, checkpoints, label: str,
                 saved: dict, primary: bool) -> dict:
  writer = None  # process 0's alone
  quiet = None if primary else open(os.devnull, "w")  # the other processes' progress lines
  try:
    try:
      state = checkpoints.restore_latest(template)
    except ValueError as e:
      raise checks.ConfigError(str(e)) from None
    start_step = 0 if state is None else int(state.step)
    if primary:
      # Written only now: a config that cannot resume this workdir must not replace its
      # config.json.
      os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
      _write_config(workdir, config)
      writer = writers.MetricWriter(workdir)
      writer.truncate_after(start_step)  # rows a killed run wrote after its last checkpoint
      if state is not None:
        print(f"resuming {workdir} from step {start_step}", file=sys.stderr)

    fixed_noise_keys = jax.random.split(jax.random.key(config.run.seed + 1), 1)
    generate = steps_lib.generate_over_seeds(run.steps)
    image_metrics = None
    if primary and evaluation.TrainingMetrics.wanted(config) and not (
        evaluation.TrainingMetrics.enabled(config)):
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
      for i in range(count if writer else 0):  # the bad step's row too: the log shows it
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
      # Every process computes (the programs span them all); process 0 writes.
      samples = np.asarray(generate(state, fixed_noise_keys, 64)[0])
      if writer and samples.ndim == 2:  # points of a 2-D toy distribution, not images
        files.save_npy(os.path.join(workdir, "samples", f"step_{step}.npy"), samples)
      elif writer:
        writers.save_image_sheet(os.path.join(workdir, "samples", f"step_{step}.png"), samples)
        writer.write_images(step, "samples", samples)
      if image_metrics is not None:
        row = image_metrics.row(lambda n: generate(state, metric_keys, n)[0], step)
        if row is not None and writer:
          writer.write(step, row)
      if step > 0:
        if writer:  # the log must reach the checkpoint's step before the checkpoint exists
          writer.flush()
        checkpoints.save(step, state)
        saved["step"] = step

    state, _ = loop.train_seeds(run.steps, [config.run.seed], config.schedule.num_steps,
                           eval_every=config.run.checkpoint_every,
                           chunk=config.schedule.steps_per_dispatch,
                           evaluate=evaluate, on_metrics=on_metrics, state=state, data=run.data,
                           label=label, stream=quiet,
                           sharding=None if run.mesh is None else parallel.replicated(run.mesh),
                           should_stop=lambda: parallel.any_process(stop()))
    step = int(state.step)
    if step < config.schedule.num_steps and saved["step"] != step:
      if writer:
        writer.flush()
      checkpoints.save(step, state)
  finally:
    checkpoints.close()
    if writer is not None:
      writer.close()
    if quiet is not None:
      quiet.close()
    if callable(run.data):
      run.data.close()  # a StreamFeed's reading threads
  if step < config.schedule.num_steps:
    signal_name = stop.received or "a stop request to another process"
    message = (f"{signal_name} at step {step} of {config.schedule.num_steps}: checkpoint "
               f"saved in {workdir}; run the same command to resume")
    if primary:
      print(message, file=sys.stderr)
    raise Preempted(message)
  if not primary:
    return {}
  # The training steps' rows; the FID rows logged at evaluations are beside them.
  rows = [r for r in writers.read_metrics(workdir) if "fid" not in r]
  _write_learning_curve(workdir, rows, run.estimate_name)
  return rows[-1] if rows else {}


def _write_config(workdir: str, config) -> None:
  files.save_text(os.path.join(workdir, "config.json"), config.to_json(indent=2))


def _write_learning_curve(workdir: str, rows: list[dict], estimate_name: str) -> None:
  steps_T = np.array([r["step"] for r in rows])
  estimate_T = np.array([np.nan if r.get("estimate") is None else r["estimate"] for r in rows],
                        dtype=np.float64)
  sheet_steps = sorted(int(name[5:-4]) for name in os.listdir(os.path.join(workdir, "samples"))
                       if name.startswith("step_") and name.endswith(".png"))
  sheets = writers.marked_sheets(workdir, sheet_steps, 4)
  plots.image_learning_curve(os.path.join(workdir, "learning_curve.png"), steps_T, estimate_T,
                             estimate_name, sheets)


