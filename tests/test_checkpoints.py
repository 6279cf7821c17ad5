"""Verified checkpoints: damage on disk is found, skipped in one line, and never resumed from.

A toy run (wgan_jax/configs/toy.py:tiny with 32-unit networks, whose largest checkpoint files
hold arrays) is damaged on disk in the ways a disk, a power cut or a careless script would, and
the launchers run on it as subprocesses:

- bytes flipped in an array file of the newest checkpoint (which orbax reads back without a word,
  as this file shows) or the file cut short: one warning line naming it and why, the older
  checkpoint restored, and the resumed run bitwise equal to an uninterrupted one, digest by digest;
- every checkpoint damaged: refused in one line naming the folder (exit 2), the workdir as it was;
- a run killed while saving, then its newest complete checkpoint damaged: the last good state;
- a checkpoint read while its run replaces it: a complete one is read;
- a checkpoint saved without a digest (an earlier version's): restored, with a warning.
"""

import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_config_checks  # noqa: E402  (snapshot)
from test_reliability import (  # noqa: E402,F401  (compile_cache: the fixture, shared)
    CONFIGS, ROOT, Launch, assert_bitwise_equal, compile_cache, complete_steps, final_state,
    last_logged_step, logged_rows, override, temporary_folders, writing_beyond)
from wgan_jax import checkpoints as checkpoints_lib  # noqa: E402
from wgan_jax import experiment  # noqa: E402
from wgan_jax.configs import toy  # noqa: E402

WIDE = {"generator.hidden": 32, "critic.hidden": 32}
ARGS = [f"--config={CONFIGS}/toy.py:tiny", *[f"--config.{k}={v}" for k, v in WIDE.items()]]
SAMPLE = os.path.join(ROOT, "experiments", "sample.py")
TRAIN = os.path.join(ROOT, "experiments", "train_images.py")
PROGRESS = re.compile(r"^run: \d+/80 it ")


def config():
  return override(toy.get_config("tiny"), WIDE)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, compile_cache):
  """An uninterrupted run: checkpoints 70 and 80 (two kept)."""
  folder = tmp_path_factory.mktemp("reference")
  run = Launch(ARGS, folder / "run", folder / "log", compile_cache)
  assert run.wait() == 0, run.log()[-3000:]
  assert complete_steps(folder / "run") == [70, 80]
  return str(folder / "run")


def largest_file(step_dir) -> str:
  files = [os.path.join(parent, name) for parent, _, names in os.walk(step_dir) for name in names]
  return max(files, key=os.path.getsize)


def flip(path, count: int = 8, at: float = 0.5) -> None:
  """Inverts ``count`` bytes of the file at ``path`` from the fraction ``at`` of its length."""
  with open(path, "r+b") as f:
    data = bytearray(f.read())
    start = int(len(data) * at)
    for i in range(start, start + count):
      data[i] ^= 0xFF
    f.seek(0)
    f.write(data)


def cut_in_half(path) -> None:
  os.truncate(path, os.path.getsize(path) // 2)


def saved_records(workdir, step) -> list[tuple]:
  """(dtype, shape, sha256) of every array of checkpoint ``step`` as its run saved it."""
  with open(os.path.join(workdir, "checkpoints", str(step), "_CHECKPOINT_METADATA")) as f:
    saved = json.load(f)["custom_metadata"][checkpoints_lib.DIGEST_KEY]
  return sorted((r["dtype"], tuple(r["shape"]), r["sha256"]) for r in saved.values())


def records(state) -> list[tuple]:
  """(dtype, shape, sha256 of the bytes) of every array of ``state``, computed here."""
  arrays = [np.asarray(leaf) for leaf in jax.tree.leaves(state)]
  return sorted((a.dtype.name, a.shape, hashlib.sha256(a.tobytes()).hexdigest()) for a in arrays)


def orbax_restore(workdir, step):
  """Checkpoint ``step`` as orbax alone reads it back, with no check."""
  template = checkpoints_lib.state_template(experiment.build(config(), with_data=False), 0)
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
  checkpointer = ocp.Checkpointer(ocp.StandardCheckpointHandler())
  try:
    return checkpointer.restore(os.path.join(workdir, "checkpoints", str(step), "default"),
                                args=ocp.args.StandardRestore(abstract))
  finally:
    checkpointer.close()


def run_script(script, *args):
  return subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                        cwd=ROOT, timeout=300)


def own_lines(log: str) -> list[str]:
  """The lines of a training log other than its progress lines."""
  return [line for line in log.strip().splitlines() if not PROGRESS.match(line)]


def assert_ends_as(workdir, reference) -> None:
  """The run in ``workdir`` ended with the state its uninterrupted ``reference`` saved, digest by
  digest and bitwise, and logged the same rows."""
  resumed = final_state(workdir, config())
  assert records(resumed) == saved_records(reference, 80)
  assert_bitwise_equal(resumed, final_state(reference, config()))
  assert logged_rows(workdir) == logged_rows(reference)


def test_flipped_bytes_fall_back_to_the_older_checkpoint_and_resume_bitwise(tmp_path, reference,
                                                                             compile_cache):
  workdir = str(tmp_path / "run")
  shutil.copytree(reference, workdir)
  folder = os.path.join(workdir, "checkpoints")
  damaged = largest_file(os.path.join(folder, "80"))
  assert f"{os.sep}d{os.sep}" in damaged  # an array file of orbax's OCDBT store
  # Where the bytes land decides whether orbax notices: in a compressed chunk the read fails, in
  # raw array bytes it succeeds with other values. The case to show is the silent one, so the
  # flip moves along the file until orbax reads it back without a word, other values than were
  # saved among its arrays.
  for at in np.linspace(0.5, 0.95, 10):
    flip(damaged, at=at)
    try:
      silent = records(orbax_restore(workdir, 80)) != saved_records(reference, 80)
    except Exception:  # unreadable there: orbax would have said so
      silent = False
    if silent:
      break
    flip(damaged, at=at)  # inverted back
  assert silent, "no flip went unnoticed by orbax"

  run = Launch(ARGS, workdir, tmp_path / "log", compile_cache)
  assert run.wait() == 0, run.log()[-3000:]
  lines = own_lines(run.log())
  assert len(lines) == 2 and re.fullmatch(
      rf"warning: checkpoint 80 in {folder} is damaged: \d+ of its \d+ arrays differ from what "
      rf"was saved \(e\.g\. \S+\); restored the older checkpoint 70", lines[0]), lines
  assert lines[1] == f"resuming {workdir} from step 70"
  # The damaged step was set aside and saved again, from the state restored from step 70.
  assert [n for n in os.listdir(folder) if n.startswith("80.unreadable-")]
  assert saved_records(workdir, 80) == saved_records(reference, 80)
  assert_ends_as(workdir, reference)


def test_every_checkpoint_damaged_is_refused_in_one_line(tmp_path, reference):
  workdir = str(tmp_path / "run")
  shutil.copytree(reference, workdir)
  folder = os.path.join(workdir, "checkpoints")
  flip(largest_file(os.path.join(folder, "80")))
  cut_in_half(largest_file(os.path.join(folder, "70")))
  # What a kill during a save leaves: not restored, and not removed by a refused run.
  shutil.copytree(os.path.join(folder, "80"), os.path.join(folder, "90.orbax-checkpoint-tmp-1"))
  before = test_config_checks.snapshot(workdir)
  # The flipped bytes make checkpoint 80 damaged or unreadable, by where they land.
  refusal = (rf"error: none of the 2 checkpoints in {folder} can be restored: checkpoint 80 "
             rf"(is damaged|cannot be read): .*; the 1 older ones fail too; restore the folder "
             rf"from a copy, or move it away to start the run again")
  for script, args in ((TRAIN, [*ARGS, f"--workdir={workdir}"]),
                       (SAMPLE, [f"--workdir={workdir}", "--format=npy",
                                 f"--out={tmp_path / 'samples'}"])):
    done = run_script(script, *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, (script, done.stderr[-3000:])
    assert re.fullmatch(refusal, lines[0]), lines[0]
    assert test_config_checks.snapshot(workdir) == before
  assert not (tmp_path / "samples").exists()


def test_sample_on_a_damaged_checkpoint_prints_one_line_every_time(tmp_path, reference):
  # The noise of failed reads (asyncio tracebacks at exit) came and went from run to run.
  damages = [("array file cut short", lambda step: cut_in_half(largest_file(step))),
             ("array file cut short", lambda step: cut_in_half(largest_file(step))),
             ("array file flipped", lambda step: flip(largest_file(step))),
             ("array metadata emptied", lambda step: os.truncate(
                 os.path.join(step, "default", "_METADATA"), 0)),
             ("step metadata cut short", lambda step: cut_in_half(
                 os.path.join(step, "_CHECKPOINT_METADATA")))]
  for i, (what, damage) in enumerate(damages):
    workdir = str(tmp_path / f"run{i}")
    shutil.copytree(reference, workdir)
    damage(os.path.join(workdir, "checkpoints", "80"))
    done = run_script(SAMPLE, f"--workdir={workdir}", "--format=npy", f"--out={tmp_path / 'out'}")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 0 and len(lines) == 1, (what, done.stderr[-3000:])
    assert re.fullmatch(rf"warning: checkpoint 80 in {workdir}/checkpoints (is damaged|cannot be "
                        rf"read): .*; restored the older checkpoint 70", lines[0]), (what, lines)
    assert done.stdout == f"wrote 64 samples of step 70 to {tmp_path / 'out'}\n", what


def test_killed_while_saving_then_damaged_resumes_from_the_last_good_state(tmp_path, reference,
                                                                           compile_cache):
  rng = random.Random(24)
  workdir = str(tmp_path / "run")
  after = rng.randint(25, 55)  # two complete checkpoints before the one being written
  run = Launch(ARGS, workdir, tmp_path / "a.log", compile_cache)
  ready = lambda: last_logged_step(workdir) >= after and writing_beyond(workdir, after)
  assert run.signal_when(ready, signal.SIGKILL) == -9
  assert temporary_folders(workdir), "the kill came after the write was complete"
  good, newest = complete_steps(workdir)[-2:]
  flip(largest_file(os.path.join(workdir, "checkpoints", str(newest))))

  run = Launch(ARGS, workdir, tmp_path / "b.log", compile_cache)
  assert run.wait() == 0, run.log()[-3000:]
  lines = own_lines(run.log())
  assert len(lines) == 2 and re.fullmatch(  # damaged or unreadable, by where the flip lands
      rf"warning: checkpoint {newest} in \S+ (is damaged|cannot be read): .*; restored the older "
      rf"checkpoint {good}", lines[0]), lines
  assert lines[1] == f"resuming {workdir} from step {good}"
  assert not temporary_folders(workdir)
  assert_ends_as(workdir, reference)


def test_a_checkpoint_read_while_its_run_replaces_it(tmp_path, compile_cache):
  workdir = str(tmp_path / "run")
  # A checkpoint at every step, one kept: each is replaced within the time it takes to read it.
  run = Launch([*ARGS, "--config.schedule.num_steps=100000", "--config.run.checkpoint_every=1",
                "--config.run.keep_checkpoints=1"], workdir, tmp_path / "log", compile_cache)
  try:
    deadline = time.monotonic() + 300
    while not complete_steps(workdir):
      assert run.proc.poll() is None and time.monotonic() < deadline, run.log()[-3000:]
      time.sleep(0.05)
    for _ in range(3):
      done = run_script(SAMPLE, f"--workdir={workdir}", "--format=npy",
                        f"--out={tmp_path / 'out'}")
      if done.returncode == 0:
        assert done.stderr == "" and done.stdout.startswith("wrote 64 samples of step "), (
            done.stderr[-3000:])
      else:  # read again too often, it says so in one line
        assert done.returncode == 2 and re.fullmatch(
            r"error: checkpoint \d+ in \S+ was replaced while it was read 5 times: .*\n",
            done.stderr), done.stderr[-3000:]
  finally:
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(timeout=120) == 0, run.log()[-3000:]


def test_a_checkpoint_without_a_digest_is_restored_with_a_warning(tmp_path, capsys):
  state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "step": np.int32(4)}
  folder = str(tmp_path / "checkpoints")
  manager = ocp.CheckpointManager(folder)  # as an earlier version saved: no digest
  manager.save(4, args=ocp.args.StandardSave(state))
  manager.wait_until_finished()
  manager.close()
  checkpoints = checkpoints_lib.Checkpoints(folder, 3)
  checkpoints.save(8, jax.tree.map(lambda a: a + 1, state))
  checkpoints.close()
  flip(largest_file(os.path.join(folder, "8")), 2)
  template = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype), state)
  capsys.readouterr()
  reader = checkpoints_lib.Checkpoints(folder, 3, create=False)
  try:
    restored = reader.restore_latest(template)
    every = reader.restore_all(template)
  finally:
    reader.close()
  err = capsys.readouterr().err.splitlines()
  assert_bitwise_equal(restored, state)
  assert len(every) == 1
  assert_bitwise_equal(every[0], state)
  unverified = (f"warning: checkpoint 4 in {folder} carries no digest of its arrays (saved by an "
                f"earlier version); restored it unverified")
  damaged = rf"warning: checkpoint 8 in {folder} (is damaged|cannot be read): .*; "
  assert len(err) == 4 and err[1] == err[2] == unverified, err
  assert re.fullmatch(rf"{damaged}restored the older checkpoint 4", err[0]), err
  assert re.fullmatch(rf"{damaged}skipped", err[3]), err
