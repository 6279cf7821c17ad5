"""Faults injected into real runs of experiments/train_images.py, and what must hold after them.

- SIGKILL at random moments (one during a checkpoint write) and SIGTERM, then the same command
  again: the final parameters and every logged metric equal, bit for bit, those of a run that was
  never interrupted (on CPU), for the toy and for an image folder with bad files in it.
- A half-written or unreadable checkpoint is never restored.
- A NaN or Inf (a huge learning rate, a poisoned batch) stops the run naming the step and the
  quantity, exit status 1, and the last good checkpoint stays the latest.
- A workdir in use is refused (exit 2); a dead run's lock is taken over.
- Ctrl-C is a stop request like SIGTERM; a full disk while metrics or a checkpoint are written
  stops the run in one line (exit 1) and the same command resumes it bitwise; images that become
  unreadable during a streamed run are skipped and counted; a resume whose config changes the
  networks' shapes is refused in one line, the run left as it was.
"""

import builtins
import errno
import fcntl
import json
import logging
import threading
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
from PIL import Image
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_config_checks  # noqa: E402  (its in-process launcher)
from wgan_jax import experiment  # noqa: E402
from wgan_jax.configs import mnist  # noqa: E402
from wgan_jax.configs import toy  # noqa: E402
from wgan_jax import lock  # noqa: E402
from wgan_jax import checkpoints as checkpoints_lib  # noqa: E402
from wgan_jax import train  # noqa: E402
from wgan_jax import writers  # noqa: E402
from wgan_jax.data import sources  # noqa: E402
from wgan_jax.data import stream  # noqa: E402
from wgan_jax.data.decode import DataError  # noqa: E402

LAUNCHER = os.path.join(ROOT, "experiments", "train_images.py")
CONFIGS = os.path.join(ROOT, "wgan_jax", "configs")
TOY_ARGS = [f"--config={CONFIGS}/toy.py:tiny"]
# The image run: an MLP generator and critic on 8x8 RGB images from a folder.
IMAGE_OVERRIDES = {"data.image_size": 8, "data.channels": 3, "generator.name": "mlp",
                   "critic.name": "mlp", "generator.hidden": 16, "critic.hidden": 16,
                   "schedule.batch_size": 8, "schedule.num_steps": 30, "run.checkpoint_every": 5,
                   "schedule.unroll": False}
TMP_MARK = ".orbax-checkpoint-tmp"


def override(config, overrides: dict):
  """``config`` with ``overrides`` ({"schedule.num_steps": 10, ...}) set; each field must exist."""
  for path, value in overrides.items():
    section, field = path.split(".")
    assert field in config[section], path
    config[section][field] = value
  return config


def toy_config():
  return toy.get_config("tiny")


def image_config(folder):
  return override(mnist.get_config("quick"),
                  {"data.dataset": f"folder:{folder}", **IMAGE_OVERRIDES})


def image_args(folder):
  return [f"--config={CONFIGS}/mnist.py:quick", f"--config.data.dataset=folder:{folder}",
          *[f"--config.{k}={v}" for k, v in IMAGE_OVERRIDES.items()]]


def final_state(workdir, config):
  """The latest checkpoint of ``workdir`` as numpy arrays."""
  template = checkpoints_lib.state_template(experiment.build(config, with_data=False),
                                            config.run.seed)
  checkpoints = checkpoints_lib.Checkpoints(os.path.join(workdir, "checkpoints"), 1, create=False)
  try:
    return jax.device_get(checkpoints.restore_latest(template))
  finally:
    checkpoints.close()


def assert_bitwise_equal(state_a, state_b):
  leaves_a, tree_a = jax.tree.flatten(state_a)
  leaves_b, tree_b = jax.tree.flatten(state_b)
  assert tree_a == tree_b
  for a, b in zip(leaves_a, leaves_b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    # Bytes, not values: equal bit patterns, NaN payloads and signed zeros included.
    assert a.tobytes() == b.tobytes()


def logged_rows(workdir):
  """metrics.jsonl without the timings, which differ from run to run."""
  return [{k: v for k, v in row.items() if k not in ("wall_time_s", "it_per_s")}
          for row in writers.read_metrics(workdir)]


def last_logged_step(workdir) -> int:
  try:
    with open(os.path.join(workdir, "metrics.jsonl"), "rb") as f:
      lines = f.read().split(b"\n")[:-1]
  except FileNotFoundError:
    return 0
  return json.loads(lines[-1])["step"] if lines else 0


def complete_steps(workdir) -> list[int]:
  folder = os.path.join(workdir, "checkpoints")
  return sorted(int(n) for n in os.listdir(folder) if n.isdigit()) if os.path.isdir(folder) else []


def temporary_folders(workdir) -> set[str]:
  try:
    return {n for n in os.listdir(os.path.join(workdir, "checkpoints")) if TMP_MARK in n}
  except FileNotFoundError:
    return set()


def writing_beyond(workdir, step: int, leftovers=frozenset()) -> bool:
  """Whether a checkpoint of a step above ``step`` is being written: a temporary folder that is
  not among the ``leftovers`` of an earlier kill."""
  return any(int(n.split(".")[0]) > step for n in temporary_folders(workdir) - leftovers)


@pytest.fixture(scope="module")
def compile_cache(tmp_path_factory):
  """A JAX compilation cache shared by the launches of a test: the first compiles, the others
  (resumed runs of the same program) load it, which saves seconds per launch."""
  return str(tmp_path_factory.mktemp("jax_cache"))


class Launch:
  """experiments/train_images.py in a subprocess, its output in a log file."""

  def __init__(self, args, workdir, log_path, cache_dir):
    self.log_path = log_path
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache_dir,
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    with open(log_path, "w") as log:
      self.proc = subprocess.Popen([sys.executable, LAUNCHER, *args, f"--workdir={workdir}"],
                                   stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)

  def signal_when(self, ready, sig, timeout_s=300.0) -> int:
    """Sends ``sig`` as soon as ``ready()`` holds; returns the exit status."""
    deadline = time.monotonic() + timeout_s
    while not ready():
      assert self.proc.poll() is None, f"the run ended before the fault: {self.log()[-2000:]}"
      assert time.monotonic() < deadline, "the fault's moment never came"
      time.sleep(0.002)
    self.proc.send_signal(sig)
    return self.proc.wait(timeout=120)

  def wait(self) -> int:
    return self.proc.wait(timeout=300)

  def log(self) -> str:
    with open(self.log_path) as f:
      return f.read()


@pytest.fixture(scope="module")
def toy_reference(tmp_path_factory, compile_cache):
  """An uninterrupted run of toy.py:tiny (its compilation then serves the interrupted ones)."""
  folder = tmp_path_factory.mktemp("toy_reference")
  run = Launch(TOY_ARGS, folder / "run", folder / "log", compile_cache)
  assert run.wait() == 0, run.log()[-3000:]
  return str(folder / "run")


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
  """Random RGB PNGs, and one of each fault: grayscale, RGBA, 16-bit and palette images
  (converted), a corrupt PNG and a text file (skipped and counted)."""
  root = tmp_path_factory.mktemp("images")
  rng = np.random.default_rng(0)
  for i in range(12):
    side = int(rng.integers(8, 14))
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(
        root / f"rgb_{i:02d}.png")
  Image.fromarray(rng.integers(0, 256, (9, 9), dtype=np.uint8)).save(root / "gray.png")
  Image.fromarray(rng.integers(0, 256, (8, 8, 4), dtype=np.uint8), "RGBA").save(root / "rgba.png")
  Image.fromarray(rng.integers(0, 65536, (10, 10), dtype=np.uint16)).save(root / "wide16.png")
  Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).convert("P").save(
      root / "palette.png")
  (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated" * 8)
  (root / "notes.txt").write_text("not an image")
  return root


def test_toy_killed_anywhere_resumes_bitwise(tmp_path, toy_reference, compile_cache):
  rng = random.Random(2017)  # the fault moments: random, and the same on every run of the test
  workdir = str(tmp_path / "run")

  # SIGTERM, the preemption notice: a checkpoint at the step reached, then exit status 0.
  run = Launch(TOY_ARGS, workdir, tmp_path / "a.log", compile_cache)
  target = rng.randint(12, 25)
  assert run.signal_when(lambda: last_logged_step(workdir) >= target, signal.SIGTERM) == 0
  stopped = re.search(r"SIGTERM at step (\d+) of 80: checkpoint saved", run.log())
  assert stopped, run.log()[-2000:]
  step = int(stopped.group(1))
  assert step >= target and step in complete_steps(workdir)

  # Ctrl-C: the same as SIGTERM, not a KeyboardInterrupt traceback.
  run = Launch(TOY_ARGS, workdir, tmp_path / "int.log", compile_cache)
  target = step + rng.randint(3, 10)
  assert run.signal_when(lambda: last_logged_step(workdir) >= target, signal.SIGINT) == 0
  stopped = re.search(r"SIGINT at step (\d+) of 80: checkpoint saved", run.log())
  assert stopped and "Traceback" not in run.log(), run.log()[-2000:]
  assert not re.search(r"^I\d{4} ", run.log(), re.M), run.log()[-2000:]  # no INFO of orbax
  step = int(stopped.group(1))
  assert step >= target and step in complete_steps(workdir)

  # SIGKILL at a random step: the lock file stays behind, and must not block the resume.
  run = Launch(TOY_ARGS, workdir, tmp_path / "b.log", compile_cache)
  target = step + rng.randint(5, 20)
  assert run.signal_when(lambda: last_logged_step(workdir) >= target, signal.SIGKILL) == -9
  assert os.path.exists(os.path.join(workdir, lock.LOCK_FILE))

  # SIGKILL while a checkpoint is being written: a temporary folder is left, never restored.
  latest, leftovers = complete_steps(workdir)[-1], frozenset(temporary_folders(workdir))
  run = Launch(TOY_ARGS, workdir, tmp_path / "c.log", compile_cache)
  assert run.signal_when(lambda: writing_beyond(workdir, latest, leftovers), signal.SIGKILL) == -9
  assert "resuming" in run.log()
  assert temporary_folders(workdir) - leftovers, "the kill came after the write was complete"

  run = Launch(TOY_ARGS, workdir, tmp_path / "d.log", compile_cache)
  assert run.wait() == 0, run.log()[-3000:]
  assert re.search(r"resuming .* from step \d+", run.log())
  assert not [n for n in os.listdir(os.path.join(workdir, "checkpoints")) if TMP_MARK in n]
  assert not os.path.exists(os.path.join(workdir, lock.LOCK_FILE))

  config = toy_config()
  assert (complete_steps(workdir)[-1] == complete_steps(toy_reference)[-1]
          == config.schedule.num_steps)
  assert_bitwise_equal(final_state(workdir, config), final_state(toy_reference, config))
  assert logged_rows(workdir) == logged_rows(toy_reference)
  assert [r["step"] for r in logged_rows(workdir)] == list(
      range(1, config.schedule.num_steps + 1))


def test_image_run_killed_while_checkpointing_resumes_bitwise(tmp_path, image_folder,
                                                             compile_cache):
  rng = random.Random(64)
  config = image_config(image_folder)
  reference = str(tmp_path / "reference")
  run = Launch(image_args(image_folder), reference, tmp_path / "reference.log", compile_cache)
  assert run.wait() == 0, run.log()[-3000:]
  workdir = str(tmp_path / "run")

  run = Launch(image_args(image_folder), workdir, tmp_path / "a.log", compile_cache)
  after = rng.randint(6, 16)
  ready = lambda: last_logged_step(workdir) >= after and writing_beyond(workdir, after - 5)
  assert run.signal_when(ready, signal.SIGKILL) == -9
  # The folder's faults were handled: bad files skipped and counted, other modes converted.
  log = run.log()
  assert "skipped 1 files that are not .jpg/.jpeg/.png (e.g. notes.txt)" in log
  assert "skipped 1 image files that cannot be decoded (e.g. corrupt.png)" in log

  run = Launch(image_args(image_folder), workdir, tmp_path / "b.log", compile_cache)
  assert run.wait() == 0, run.log()[-3000:]
  assert "resuming" in run.log()
  assert_bitwise_equal(final_state(workdir, config), final_state(reference, config))
  assert logged_rows(workdir) == logged_rows(reference)


def test_half_written_and_unreadable_checkpoints_are_not_restored(tmp_path, toy_reference,
                                                                  capsys):
  workdir = tmp_path / "run"
  shutil.copytree(toy_reference, workdir)
  folder = workdir / "checkpoints"
  # What a kill during orbax's write leaves: the files under a temporary name.
  shutil.copytree(folder / "80", folder / f"90{TMP_MARK}-1700000000")
  # A step folder whose files were cut short (a file system without atomic renames).
  shutil.copytree(folder / "80", folder / "100")
  cut = 0
  for parent, _, names in os.walk(folder / "100"):
    for name in names:
      path = os.path.join(parent, name)
      size = os.path.getsize(path)
      if size > 0:
        with open(path, "r+b") as f:
          f.truncate(size // 2)
        cut += 1
  assert cut > 0
  capsys.readouterr()
  config = toy_config()
  state = final_state(str(workdir), config)
  err = capsys.readouterr().err
  assert re.fullmatch(rf"warning: checkpoint 100 in {folder} (is damaged|cannot be read): .*; "
                      rf"restored the older checkpoint 80\n", err), err
  assert int(state.step) == 80
  assert_bitwise_equal(state, final_state(toy_reference, config))
  # The run that owns the folder sets the unreadable step aside, so that it can save it again.
  checkpoints = checkpoints_lib.Checkpoints(str(folder), 3, cleanup=True)
  template = checkpoints_lib.state_template(experiment.build(config, with_data=False),
                                  config.run.seed)
  assert int(checkpoints.restore_latest(template).step) == 80
  checkpoints.save(100, state)
  checkpoints.close()
  assert complete_steps(workdir)[-1] == 100
  assert [n for n in os.listdir(folder) if n.startswith("100.unreadable-")]


def test_huge_learning_rate_stops_and_keeps_the_last_good_checkpoint(tmp_path, toy_reference,
                                                                    capsys):
  workdir = tmp_path / "run"
  shutil.copytree(toy_reference, workdir)
  capsys.readouterr()
  status = test_config_checks.run_main("train_images", [
      *TOY_ARGS, "--config.schedule.num_steps=100",
      "--config.critic_optimizer.learning_rate=1e30", "--config.schedule.steps_per_dispatch=4",
      f"--workdir={workdir}"])
  err = capsys.readouterr().err
  assert status == 1, err[-2000:]
  # The legal but poor dispatch size was warned about, in one line.
  assert ("warning: --config.schedule.steps_per_dispatch=4 does not divide "
          "run.checkpoint_every=10 and schedule.num_steps=100: each dispatch runs 2 steps "
          "instead\n") in err
  message = err.strip().splitlines()[-1]
  found = re.fullmatch(r"error: step (\d+): (\w+) is (nan|inf|-inf); the run stopped without "
                       r"saving that state and the last good checkpoint, step 80, is kept",
                       message)
  assert found, err[-2000:]
  step, name = int(found.group(1)), found.group(2)
  rows = {r["step"]: r for r in logged_rows(workdir)}
  assert step == 81 and not np.isfinite(rows[step][name])
  assert complete_steps(workdir)[-1] == 80
  config = toy_config()
  assert_bitwise_equal(final_state(str(workdir), config), final_state(toy_reference, config))


def test_poisoned_batch_stops_the_run(tmp_path, image_folder, monkeypatch):
  num, poisoned = 64, 37
  pixels = np.random.default_rng(1).uniform(-1, 1, (num, 8, 8, 3)).astype(np.float32)
  pixels[poisoned, 3, 4, 1] = np.nan
  monkeypatch.setattr(sources, "load_images", lambda *args, **kwargs: pixels)
  config = image_config(image_folder)
  override(config, {"schedule.num_steps": 40, "run.checkpoint_every": 2})
  workdir = tmp_path / "run"
  with pytest.raises(train.NonFiniteError) as error:
    train.train_and_evaluate(config, str(workdir))
  found = re.match(r"step (\d+): (\w+) is (nan|inf|-inf);", str(error.value))
  assert found and "\n" not in str(error.value), str(error.value)
  step, name = int(found.group(1)), found.group(2)
  rows = logged_rows(workdir)
  assert [r["step"] for r in rows] == list(range(1, step + 1))
  assert not np.isfinite(rows[-1][name])
  for row in rows[:-1]:
    assert all(np.isfinite(row[n]) for n in train.GUARDED_METRICS if n in row), row
  # Nothing at or after the bad step was saved; what was saved is finite. (Which step first
  # draws the poisoned image depends on the seed; the huge learning rate test resumes from a
  # checkpoint for sure.)
  saved = complete_steps(workdir)
  assert all(s < step for s in saved)
  if saved:
    kept = final_state(str(workdir), config)
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(
        (kept.generator_params, kept.critic_params)))


# One run per workdir ---------------------------------------------------------------------------

def test_busy_workdir_is_refused_and_left_untouched(tmp_path, capsys):
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / "config.json").write_text("{}")
  with lock.WorkdirLock(str(workdir)):  # its own open file: a second process, as flock sees it
    before = test_config_checks.snapshot(workdir)
    capsys.readouterr()
    status = test_config_checks.run_main("train_images", [*TOY_ARGS, f"--workdir={workdir}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err == [f"error: workdir '{workdir}' is in use by pid {os.getpid()} on "
                   f"{socket.gethostname()} (lock {workdir}/run.lock); wait for it to end or "
                   f"use another --workdir"]
    assert test_config_checks.snapshot(workdir) == before
  assert not (workdir / lock.LOCK_FILE).exists()


def _dead_pid() -> int:
  child = subprocess.Popen(["true"])
  child.wait()
  return child.pid


def test_stale_lock_of_a_dead_run_is_taken_over(tmp_path):
  host = socket.gethostname()
  (tmp_path / lock.LOCK_FILE).write_text(f"{_dead_pid()} {host}\n")
  with lock.WorkdirLock(str(tmp_path)):
    assert (tmp_path / lock.LOCK_FILE).read_text() == f"{os.getpid()} {host}\n"
    with pytest.raises(lock.WorkdirBusy, match=f"in use by pid {os.getpid()}"):
      lock.WorkdirLock(str(tmp_path)).acquire()


def test_without_flock_the_pid_decides(tmp_path, monkeypatch):
  def no_flock(fd, operation):
    raise OSError(errno.ENOLCK, "no locks available")

  monkeypatch.setattr(fcntl, "flock", no_flock)
  host = socket.gethostname()
  (tmp_path / lock.LOCK_FILE).write_text(f"{os.getppid()} {host}\n")  # alive: our parent
  with pytest.raises(lock.WorkdirBusy, match=f"in use by pid {os.getppid()} on {host}"):
    lock.WorkdirLock(str(tmp_path)).acquire()
  (tmp_path / lock.LOCK_FILE).write_text(f"{_dead_pid()} {host}\n")
  held = lock.WorkdirLock(str(tmp_path)).acquire()
  assert (tmp_path / lock.LOCK_FILE).read_text() == f"{os.getpid()} {host}\n"
  held.release()


# Faults of the machine during a run, and state a resume cannot use ----------------------------

def test_resume_that_changes_the_networks_is_one_line_and_leaves_the_run(tmp_path, toy_reference,
                                                                        compile_cache):
  workdir = tmp_path / "run"
  shutil.copytree(toy_reference, workdir)
  before = test_config_checks.snapshot(workdir)
  run = Launch([*TOY_ARGS, "--config.generator.hidden=17", "--config.critic.hidden=17",
                "--config.schedule.num_steps=90"], workdir, tmp_path / "log", compile_cache)
  assert run.wait() == 2
  lines = run.log().strip().splitlines()
  assert len(lines) == 1, run.log()[-3000:]
  assert re.fullmatch(r"error: checkpoint 80 in .*/checkpoints holds another state: \S+ is "
                      r"float32\[.*16.*\] there, float32\[.*17.*\] with this config; resume "
                      r"with the config the run was started with \(its config.json\) or use "
                      r"another workdir", lines[0]), lines[0]
  assert test_config_checks.snapshot(workdir) == before


class _FullDisk:
  """A file whose write of the row of ``step`` stores half of it, then fails as a full disk
  does."""

  def __init__(self, f, path, step):
    self._f, self._path, self._marker = f, path, f'{{"step": {step},'

  def write(self, text):
    if text.startswith(self._marker):
      self._f.write(text[:len(text) // 2])
      self._f.flush()
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._path)
    return self._f.write(text)

  def __getattr__(self, name):
    return getattr(self._f, name)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self._f.close()


def test_full_disk_stops_the_run_and_the_same_command_resumes_bitwise(tmp_path, toy_reference,
                                                                     monkeypatch, capsys):
  workdir = tmp_path / "run"
  args = [*TOY_ARGS, f"--workdir={workdir}"]
  metrics_path = str(workdir / "metrics.jsonl")

  def full_at_row_15(path, mode="r", *a, **k):
    f = builtins.open(path, mode, *a, **k)
    return _FullDisk(f, path, 15) if os.fspath(path) == metrics_path and "a" in mode else f

  with monkeypatch.context() as patch:  # the disk fills while metrics.jsonl is appended to
    patch.setattr(writers, "open", full_at_row_15, raising=False)
    capsys.readouterr()
    status = test_config_checks.run_main("train_images", args)
  # One error line; the progress lines before it (label: n/80 it ...) are the run's own.
  err = [line for line in capsys.readouterr().err.strip().splitlines()
         if not re.match(r"run: \d+/80 it ", line)]
  assert status == 1 and err == [
      f"error: No space left on device writing {metrics_path}; the run stopped and the last "
      f"complete checkpoint, step 10, is kept; fix that and run the same command to resume"], err
  assert complete_steps(workdir) == [10]

  saves = []
  original_save = checkpoints_lib.ocp.CheckpointManager.save

  def full_at_step_30(manager, step, *a, **k):
    saves.append(step)
    if step == 30:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(workdir / "checkpoints" / "30"))
    return original_save(manager, step, *a, **k)

  with monkeypatch.context() as patch:  # ... and while a checkpoint is written
    patch.setattr(checkpoints_lib.ocp.CheckpointManager, "save", full_at_step_30)
    status = test_config_checks.run_main("train_images", args)
  err = capsys.readouterr().err.strip().splitlines()
  assert status == 1 and saves == [20, 30], (saves, err)
  assert err[-1].startswith(f"error: No space left on device writing {workdir}/checkpoints/30; "
                            f"the run stopped and the last complete checkpoint, step 20, is kept")
  assert len([line for line in err if "Traceback" in line or line.startswith("error")]) == 1
  assert complete_steps(workdir) == [10, 20]

  assert test_config_checks.run_main("train_images", args) == 0  # the disk has room again
  config = toy_config()
  assert_bitwise_equal(final_state(str(workdir), config), final_state(toy_reference, config))
  assert logged_rows(workdir) == logged_rows(toy_reference)


def _streamed_config(folder, num_steps):
  config = image_config(folder)
  return override(config, {"data.stream": True, "schedule.num_steps": num_steps,
                           "run.checkpoint_every": num_steps})


def _train_in_thread(config, workdir, timeout_s=240.0):
  """train_and_evaluate(config, workdir) within ``timeout_s``: the exception it raised, or None.
  A reader that hangs fails the test instead of hanging the suite."""
  outcome = {}

  def target():
    try:
      train.train_and_evaluate(config, workdir)
    except Exception as e:  # noqa: BLE001  (handed to the test)
      outcome["error"] = e

  thread = threading.Thread(target=target, daemon=True)
  thread.start()
  thread.join(timeout_s)
  assert not thread.is_alive(), "the run hung"
  return outcome.get("error")


def test_images_that_become_unreadable_during_a_streamed_run(tmp_path, monkeypatch, caplog):
  folder = tmp_path / "images"
  folder.mkdir()
  rng = np.random.default_rng(3)
  for i in range(10):
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
  listed = sources._list_folder

  def list_then_break(spec, broken):
    root, files, others = listed(spec)
    for path in files[:broken]:  # listed as images, unreadable when the reader gets to them
      path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"lost" * 4)
    return root, files, others

  # Three of ten: skipped, counted, and the run ends (4 steps of 5 batches of 8: every image read).
  monkeypatch.setattr(sources, "_list_folder", lambda spec: list_then_break(spec, 3))
  with caplog.at_level(logging.WARNING):
    assert _train_in_thread(_streamed_config(folder, 4), str(tmp_path / "some")) is None
  counted = re.compile(r"using the next one instead \((\d+) unreadable so far\)")
  counts = [int(m.group(1)) for m in map(counted.search, (r.getMessage() for r in caplog.records))
            if m]
  assert sorted(counts) == [1, 2, 3], [r.getMessage() for r in caplog.records]
  assert complete_steps(tmp_path / "some") == [4]

  # All of them: the reader hands the error to the loop instead of waiting for data forever, and
  # train_and_evaluate turns it into one line (RunFault, as for a full disk).
  unreadable = sources.ImageSet("folder lost", 10, 8, 3, lambda i: None)
  feed = stream.StreamFeed(unreadable, 8, seed=0,
                           critic_iters=lambda steps: np.full(len(steps), 5))
  done = threading.Event()
  outcome = {}

  def read():
    try:
      feed(0, 1)
    except DataError as e:
      outcome["error"] = str(e)
    done.set()

  threading.Thread(target=read, daemon=True).start()
  assert done.wait(60), "the reader hung"
  feed.close()
  assert outcome.get("error") == "folder lost: none of its 10 images can be decoded"
  assert train._fault(DataError(outcome["error"])) == outcome["error"]
