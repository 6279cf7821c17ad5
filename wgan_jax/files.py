"""Whole files written atomically: a run killed mid-write leaves the old file or none, never half.

The temporary file lives in the target's folder, so ``os.replace`` is a rename within one file
system, which is atomic; the fsync keeps a power loss right after the rename from leaving an
empty file under the final name.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
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


def _read_only(folder: str) -> bool:
  return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)


def read_json(path):
  """The JSON value in ``path``; ValueError naming the file when it cannot be read or parsed."""
  path = os.fspath(path)
  try:
    with open(path, "rb") as f:
      return json.loads(f.read())
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    raise ValueError(f"{path} cannot be read as JSON ({reason}); restore or remove it") from None
