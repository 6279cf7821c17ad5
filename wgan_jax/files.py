"""Files and folders of a run: whole files written atomically, workdirs checked, folders named.

A file is written through a temporary file in the target's folder, so ``os.replace`` is a rename
within one file system, which is atomic: a run killed mid-write leaves the old file or none, never
half; the fsync keeps a power loss right after the rename from leaving an empty file under the
final name. ``check_workdir`` refuses, before a run writes anything, a workdir it could not use
(its kind, its permissions, its length); ``LiteralFolder`` hands a folder to libraries that would
misread its name.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile

import numpy as np


def replace_atomically(path, data: bytes) -> None:
  """Writes ``data`` to ``path`` through a temporary file, fsync and os.replace."""
  path = os.fspath(path)
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp_path = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
  try:
    # mkstemp creates the file readable by its owner only; outputs are meant to be shared.
    os.fchmod(fd, 0o644)
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp_path, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.remove(tmp_path)
    raise


def save_text(path, text: str) -> None:
  replace_atomically(path, text.encode("utf-8"))


def save_npy(path, array: np.ndarray) -> None:
  buffer = io.BytesIO()
  np.save(buffer, array)
  replace_atomically(path, buffer.getvalue())


def check_workdir(path, flag: str = "--workdir") -> None:
  """ValueError, naming ``flag`` and what to do, when ``path`` cannot become or be a folder this
  process writes in; reads only, so a refused workdir is left as it was.

  Checked up front because the first write of a run comes late (gaussians.py writes after
  training) and the file system's own error names neither the flag nor the remedy.
  """
  path = os.fspath(path)
  if not path:
    raise ValueError(f"{flag} is empty; name a folder")
  if os.path.islink(path) and not os.path.exists(path):
    raise ValueError(f"{flag} {path!r} is a symbolic link to {os.readlink(path)!r}, which does "
                     f"not exist; create its target or use another {flag}")
  if os.path.exists(path) and not os.path.isdir(path):
    raise ValueError(f"{flag} {path!r} exists and is not a directory")
  # The nearest folder that exists is the one the run must write in (to create the rest).
  existing = os.path.abspath(path)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise ValueError(f"{flag} {path!r} lies under {existing!r}, which is a file, not a folder")
  if not os.access(existing, os.W_OK | os.X_OK):
    why = "on a read-only file system" if _read_only(existing) else "without write permission"
    where = "it" if existing == os.path.abspath(path) else f"{existing!r}, where it would be made,"
    raise ValueError(f"{flag} {path!r} cannot be written: {where} is {why}; "
                     f"use another {flag}")
  _check_length(path, existing, flag)
  if not _PLAIN.fullmatch(os.path.abspath(path)) and not os.path.isdir(_FD_FOLDERS):
    raise ValueError(f"{flag} {_shown(path)!r} holds characters other than letters, digits, "
                     f"spaces and . , + = @ ~ - _, which orbax may misread, and this system has "
                     f"no {_FD_FOLDERS} to name the folder otherwise; use another {flag}")


def first_line(error: BaseException) -> str:
  """The first line of ``error``'s message (its type's name when it has none), for one-line
  errors."""
  return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _read_only(folder: str) -> bool:
  return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)


# The bytes a run may add below its workdir. The longest path a run wrote (strace of every file
# it opened) is orbax's checkpoints/<step>.orbax-checkpoint-tmp/default.orbax-checkpoint-tmp/
# ocdbt.process_0/manifest.ocdbt.__lock: 110 bytes with a 10-digit step; a sweep puts each run in
# <part>/<run>/ (38 bytes at most, architectures/gan_dcgan_nobn_constant/), and TensorBoard's
# events file names the host (about 150 bytes with a 64-byte host name). The rest is room for
# orbax versions that number their temporary folders.
PATH_ROOM = 256
_PATH_EXAMPLE = ("checkpoints/<step>.orbax-checkpoint-tmp/default.orbax-checkpoint-tmp/"
                 "ocdbt.process_0/manifest.ocdbt.__lock")


def _check_length(path: str, existing: str, flag: str) -> None:
  """ValueError when a folder ``path`` would create has a longer name than the file system takes,
  or when the paths a run writes below ``path`` would pass the system's limit on a path; the
  kernel refuses those only when the run writes them, deep in a checkpoint writer's thread."""
  full = os.path.abspath(path)
  name_max = _pathconf(existing, "PC_NAME_MAX", 255)
  for name in os.path.relpath(full, existing).split(os.sep):
    if len(os.fsencode(name)) > name_max:
      raise ValueError(f"{flag}: the folder name {_shown(name)!r} is {len(os.fsencode(name))} "
                       f"bytes, more than the {name_max} a name may have here; use a shorter "
                       f"name")
  path_max = _pathconf(existing, "PC_PATH_MAX", 4096)
  length = len(os.fsencode(full))
  if length + PATH_ROOM >= path_max:
    raise ValueError(f"{flag} {_shown(full)!r} is {length} bytes long, and a run writes paths "
                     f"up to {PATH_ROOM} bytes longer below it (e.g. {_PATH_EXAMPLE}): past "
                     f"this system's limit of {path_max} bytes per path; use a path shorter "
                     f"than {path_max - PATH_ROOM} bytes")


def _pathconf(folder: str, name: str, default: int) -> int:
  try:
    return os.pathconf(folder, name)
  except (OSError, ValueError):
    return default


def _shown(text: str, keep: int = 30) -> str:
  """``text`` cut in the middle to at most about 2 * ``keep`` characters, for one-line errors."""
  return text if len(text) <= 2 * keep + 3 else f"{text[:keep]}...{text[-keep:]}"


# Characters that every library a run hands a folder to reads literally: letters and digits
# (Unicode), spaces and a few marks. Others are read as more: etils globs a folder orbax gives it
# (so ``a [b]`` is searched as ``a b``, and a checkpoint is saved with its arrays left unmerged),
# and ``\`` or ``gs:/`` change how a path is parsed.
_PLAIN = re.compile(r"[\w/.,+=@~ -]*")
_FD_FOLDERS = "/proc/self/fd"


class LiteralFolder:
  """``folder`` as a path string no library can misread: its absolute path when that is plain
  (``_PLAIN``), else ``/proc/self/fd/<n>`` of a descriptor of the folder, held open until
  ``close``, which names the same folder without spelling its name.

  With ``create`` the folder is made if missing; without, a missing folder with a name that is
  not plain raises FileNotFoundError (a descriptor needs a folder).
  """

  def __init__(self, folder, create: bool = False):
    self._fd = None
    self.path = os.path.abspath(os.fspath(folder))
    if create:
      os.makedirs(self.path, exist_ok=True)
    if _PLAIN.fullmatch(self.path):
      return
    self._fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    self.path = f"{_FD_FOLDERS}/{self._fd}"

  def close(self) -> None:
    if self._fd is not None:
      os.close(self._fd)
      self._fd = None

  def __enter__(self) -> LiteralFolder:
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def read_json(path):
  """The JSON value in ``path``; ValueError naming the file when it cannot be read or parsed."""
  path = os.fspath(path)
  try:
    with open(path, "rb") as f:
      return json.loads(f.read())
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    raise ValueError(f"{path} cannot be read as JSON ({reason}); restore or remove it") from None
