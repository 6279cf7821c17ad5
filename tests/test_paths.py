"""Workdirs by name and by length, the lock file, missing flags and library log lines, through
the launchers as subprocesses.

A tiny toy run trains in a workdir whose name holds brackets, glob characters, spaces, letters
outside ASCII, a backslash, "gs:" and a byte that is not UTF-8; the same command resumes it and
sample.py reads its checkpoint. Its samples must equal, bit for bit, those of the same run
trained straight through in a plainly named workdir as long as check_workdir allows, which shows
that every path a run writes fits below the limit it checks. The refusals (a lock file that cannot
be one, a missing flag) must exit 2 with one line on stderr, no traceback, and leave the workdir
as it was.
"""

import os
import re
import socket
import stat
import subprocess
import sys

import numpy as np
import pytest

from wgan_jax import files
from wgan_jax import lock

from test_config_checks import long_path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = f"--config={ROOT}/wgan_jax/configs/toy.py:tiny"
# The kernel's limits on a path and on a name in it, read independently of wgan_jax.files.
PATH_MAX = os.pathconf("/", "PC_PATH_MAX")
NAME_MAX = os.pathconf("/", "PC_NAME_MAX")
# A library's log line in absl's format (I, W, E or F, then the date).
LOG_LINE = re.compile(r"^[IWEF]\d{4} ", re.M)
ODD_NAME = os.fsdecode("run [1] *? é 中 \\ gs: ".encode() + b"\xff")


def launch(script: str, *args, timeout: int = 300) -> subprocess.CompletedProcess:
  """experiments/<script> with ``args``; its output as bytes (a path in it may not be UTF-8)."""
  return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", script), *args],
                        capture_output=True, cwd=ROOT, timeout=timeout)


def stderr_lines(result) -> list[str]:
  return result.stderr.decode("utf-8", "backslashreplace").splitlines()


def assert_ran(result) -> bytes:
  """The stderr of a launcher that must have succeeded without a traceback or a library's log
  line."""
  err = result.stderr.decode("utf-8", "backslashreplace")
  assert result.returncode == 0, err[-3000:]
  assert "Traceback" not in err and not LOG_LINE.search(err), err[-3000:]
  return result.stderr


def assert_refused(result, message: str) -> None:
  lines = stderr_lines(result)
  assert result.returncode == 2, lines[-20:]
  assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines[-20:]


def tree(path) -> dict:
  """Every entry under ``path`` by its kind, bytes or link target, and mtime; pipes and sockets
  are never opened."""
  state = {}
  for parent, dirs, names in os.walk(path):
    for name in dirs + names:
      full = os.path.join(parent, name)
      info = os.lstat(full)
      if stat.S_ISREG(info.st_mode):
        with open(full, "rb") as f:
          content = f.read()
      else:
        content = os.readlink(full) if stat.S_ISLNK(info.st_mode) else None
      state[os.path.relpath(full, path)] = (stat.S_IFMT(info.st_mode), content, info.st_mtime_ns)
  return state


def test_odd_name_trains_resumes_and_samples_as_a_plain_one(tmp_path):
  odd = tmp_path / ODD_NAME
  train = [TOY, "--config.schedule.num_steps=20"]
  assert_ran(launch("train_images.py", *train, f"--workdir={odd}"))
  # orbax merges each checkpoint's arrays into one manifest; with the name globbed it found
  # nothing to merge, and no array could be read back.
  assert (odd / "checkpoints" / "20" / "default" / "manifest.ocdbt").is_file()
  resumed = assert_ran(launch("train_images.py", TOY, "--config.schedule.num_steps=30",
                              f"--workdir={odd}"))
  # As Python's stderr writes a name that is not UTF-8: the odd byte as \udcff.
  assert f"resuming {odd} from step 20".encode("utf-8", "backslashreplace") in resumed, resumed
  assert_ran(launch("sample.py", f"--workdir={odd}", "--num=64", "--format=npy",
                    f"--out={tmp_path / 'odd_samples'}"))

  # The plain run at the longest workdir allowed: orbax gets its absolute path, every file a
  # run writes must fit below the system's limit.
  plain = long_path(tmp_path, PATH_MAX - files.PATH_ROOM - 1)
  assert_ran(launch("train_images.py", TOY, "--config.schedule.num_steps=30",
                    f"--workdir={plain}"))
  assert_ran(launch("sample.py", f"--workdir={plain}", "--num=64", "--format=npy",
                    f"--out={tmp_path / 'plain_samples'}"))
  odd_samples = np.load(tmp_path / "odd_samples" / "samples_step30.npy")
  plain_samples = np.load(tmp_path / "plain_samples" / "samples_step30.npy")
  assert odd_samples.shape == (64, 2)
  np.testing.assert_array_equal(odd_samples, plain_samples)

  # 2-D points make no PNG sheet: one line, nothing written.
  before = tree(odd)
  assert_refused(launch("sample.py", f"--workdir={odd}", "--num=4"),
                 "--format=png: the run in ")
  assert tree(odd) == before


@pytest.mark.parametrize("kind", ["folder", "named pipe", "dangling link", "link to a file"])
def test_lock_file_that_cannot_be_one_is_refused(tmp_path, kind):
  workdir = tmp_path / "run"
  workdir.mkdir()
  path, target = workdir / lock.LOCK_FILE, tmp_path / "target"
  if kind == "folder":
    path.mkdir()
  elif kind == "named pipe":
    os.mkfifo(path)
  else:
    if kind == "link to a file":
      target.write_text("not a lock")
    path.symlink_to(target)
  before, outside = tree(workdir), tree(tmp_path)
  name = {"named pipe": "a named pipe", "folder": "a folder"}.get(kind, "a symbolic link")
  message = f"the lock file {path} is {name}, not a file; remove it or use another --workdir"
  with pytest.raises(lock.LockUnusable, match=re.escape(message)):
    lock.WorkdirLock(str(workdir)).acquire()
  if kind == "folder":  # and once through the launcher
    assert_refused(launch("train_images.py", TOY, f"--workdir={workdir}"), message)
  assert tree(workdir) == before and tree(tmp_path) == outside


def test_lock_file_that_is_a_socket_is_refused(tmp_path):
  path = tmp_path / lock.LOCK_FILE
  with socket.socket(socket.AF_UNIX) as server:
    server.bind(str(path))
    with pytest.raises(lock.LockUnusable, match="is a socket, not a file"):
      lock.WorkdirLock(str(tmp_path)).acquire()
  assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_a_missing_workdir_flag_is_named():
  # Through cli.run, which adds the launcher's default config before absl reports the flag.
  assert_refused(launch("reproduce_mnist.py"),
                 "--workdir is required: where the runs, the summary and the sheets go")


def test_longest_allowed_workdir_is_accepted_and_one_byte_more_refused(tmp_path):
  at_limit = PATH_MAX - files.PATH_ROOM
  files.check_workdir(long_path(tmp_path, at_limit - 1))
  with pytest.raises(ValueError, match=f"is {at_limit} bytes long"):
    files.check_workdir(long_path(tmp_path, at_limit))
  with pytest.raises(ValueError, match=f"is {NAME_MAX + 1} bytes, more than the {NAME_MAX}"):
    files.check_workdir(tmp_path / ("é" * ((NAME_MAX + 2) // 2)))
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["plain name-1.2_é中", ODD_NAME, "a [b]", "x*?", "gs:", "b\\s"])
def test_literal_folder_names_the_folder(tmp_path, name):
  folder = tmp_path / name
  with files.LiteralFolder(folder, create=True) as literal:
    assert os.path.isdir(folder)
    assert os.path.samefile(literal.path, folder)
    plain = not any(c in name for c in "[]*?:\\") and name != ODD_NAME
    assert (literal.path == str(folder)) == plain, literal.path
    assert not re.search(r"[\[\]*?\\]|:/", literal.path), literal.path


LOGGING_SCRIPT = r"""
import logging, threading
from absl import logging as absl_logging
from wgan_jax import cli

def main(argv):
  cli.quiet_logging()
  library = logging.getLogger("some_library")
  library.setLevel(logging.DEBUG)  # a library's own level, below absl's verbosity
  library.info("library info")
  absl_logging.info("absl info")
  thread = threading.Thread(target=lambda: logging.getLogger("jax._src").info("thread info"))
  thread.start()
  thread.join()
  library.warning("library warning")

cli.run(main)
"""


@pytest.mark.parametrize("verbosity", [None, "0"])
def test_library_log_lines_below_warning_need_verbosity(verbosity):
  args = [] if verbosity is None else [f"--verbosity={verbosity}"]
  result = subprocess.run([sys.executable, "-c", LOGGING_SCRIPT, *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
  assert result.returncode == 0, result.stderr
  shown = [line.split("] ", 1)[1] for line in result.stderr.splitlines()]
  expected = (["library warning"] if verbosity is None else
              ["library info", "absl info", "thread info", "library warning"])
  assert shown == expected, result.stderr


def test_without_proc_an_odd_name_is_refused_up_front(tmp_path, monkeypatch):
  monkeypatch.setattr(files, "_FD_FOLDERS", str(tmp_path / "no_proc"))
  files.check_workdir(tmp_path / "plain name-1.2_é中")
  with pytest.raises(ValueError, match="holds characters other than letters, digits"):
    files.check_workdir(tmp_path / "a [b]")
  assert os.listdir(tmp_path) == []
