"""Whole files written atomically: a run killed mid-write leaves the old file or none, never half.

The temporary file lives in the target's folder, so ``os.replace`` is a rename within one file
system, which is atomic; the fsync keeps a power loss right after the rename from leaving an
empty file under the final name.
"""

from __future__ import annotations

import contextlib
import io
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
