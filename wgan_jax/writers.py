"""What a training run leaves in its workdir: metrics.jsonl, TensorBoard events and sample sheets.

`MetricWriter` appends one JSON object per logged step to `metrics.jsonl` and writes the same
scalars (and sample sheets) as TensorBoard event files under `tensorboard/`, through tensorboardX,
which needs neither TensorFlow nor the `tensorboard` package. `image_sheet` lays a batch of images
out as one grid and `save_image_sheet` writes it as a PNG.

Files that are written whole (PNGs, a truncated metrics.jsonl) go through a temporary file in the
same folder and os.replace, so a run killed while writing leaves the previous file or none, never
a truncated one. metrics.jsonl itself is append-only: each row is one write of one complete line,
flushed at once, so a kill can at worst leave a partial last line, which the readers drop.

Non-finite values in metrics.jsonl are written as the JSON strings "nan", "inf" and "-inf" (the
file stays strict JSON, which bare NaN is not, and unlike null they keep which non-finite value it
was); `read_metrics` turns them back into floats.

Only numpy, Pillow and tensorboardX: writing outputs must not need jax or an accelerator.
"""

from __future__ import annotations

import io
import json
import math
import os
import time

import numpy as np
from PIL import Image
from tensorboardX import SummaryWriter
from tensorboardX.proto.event_pb2 import Event, SessionLog
from tensorboardX.proto.summary_pb2 import Summary

from wgan_jax import files

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
# Pixels between neighbouring images and around the sheet's edge.
SHEET_BORDER = 2
# White: MNIST digits are light on black, and a black border would merge the cells into one field.
SHEET_BORDER_VALUE = 255
# How often tensorboardX's background thread flushes events, so TensorBoard sees a live run.
TB_FLUSH_SECS = 10

_NON_FINITE_TO_JSON = {"nan": "nan", "inf": "inf", "-inf": "-inf"}
_JSON_TO_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


# Sample sheets -----------------------------------------------------------------------------------

def image_sheet(images_NxHxWxC, rows: int = 8) -> np.ndarray:
  """Lays N images out as one uint8 grid, row by row, with a SHEET_BORDER-pixel border.

  The grid has cols = ceil(N / rows) columns and ceil(N / cols) rows (so never an empty row);
  cells past the N-th are left in the border colour. The sheet is
  (rows * H + (rows + 1) * SHEET_BORDER) x (cols * W + (cols + 1) * SHEET_BORDER) pixels: 64 images
  of 8x8 make an 82x82 sheet. Pixels map [-1, 1] -> [0, 255] as round((x + 1) * 127.5); values
  outside are clipped and NaN, which only a diverged generator produces, shows as -1 (black).

  Args:
    images_NxHxWxC: float array in [-1, 1] with C = 1 (grayscale) or 3 (RGB); a jax array works.
    rows: the number of rows when N fills them.

  Returns:
    uint8 array, (H', W') for grayscale (Pillow's mode "L") or (H', W', 3) for RGB.
  """
  images_NxHxWxC = np.asarray(images_NxHxWxC, dtype=np.float32)
  if images_NxHxWxC.ndim != 4 or images_NxHxWxC.shape[-1] not in (1, 3):
    raise ValueError(f"images must be N x H x W x C with C 1 or 3; got {images_NxHxWxC.shape}")
  n, h, w, c = images_NxHxWxC.shape
  if n == 0:
    raise ValueError("image_sheet needs at least one image")
  if rows < 1:
    raise ValueError(f"rows must be positive; got {rows}")
  cols = math.ceil(n / rows)
  n_rows = math.ceil(n / cols)
  b = SHEET_BORDER

  finite_NxHxWxC = np.nan_to_num(images_NxHxWxC, nan=-1.0, posinf=1.0, neginf=-1.0)
  pixels_NxHxWxC = np.rint((np.clip(finite_NxHxWxC, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
  # Blank cells to fill the last row, then a border below and to the right of every cell; one
  # reshape then tiles the cells, and the top and left edges get theirs last.
  blank = n_rows * cols - n
  cells_MxHxWxC = np.pad(pixels_NxHxWxC, ((0, blank), (0, b), (0, b), (0, 0)),
                         constant_values=SHEET_BORDER_VALUE)
  grid_RxCxHxWxC = cells_MxHxWxC.reshape(n_rows, cols, h + b, w + b, c)
  tiled_YxXxC = grid_RxCxHxWxC.transpose(0, 2, 1, 3, 4).reshape(
      n_rows * (h + b), cols * (w + b), c)
  sheet_YxXxC = np.pad(tiled_YxXxC, ((b, 0), (b, 0), (0, 0)), constant_values=SHEET_BORDER_VALUE)
  return sheet_YxXxC[..., 0] if c == 1 else sheet_YxXxC


def _png_bytes(sheet) -> bytes:
  """The sheet encoded as PNG: mode L for a 2-D array, RGB for H x W x 3."""
  buffer = io.BytesIO()
  Image.fromarray(np.ascontiguousarray(sheet, dtype=np.uint8)).save(buffer, format="PNG")
  return buffer.getvalue()


def save_image_sheet(path, images_NxHxWxC, rows: int = 8) -> np.ndarray:
  """Writes `image_sheet(images_NxHxWxC, rows)` to `path` as a PNG, atomically; returns the sheet.

  The sheet comes back so that a caller can also log it or keep it for the learning curve without
  reading the PNG again.
  """
  sheet = image_sheet(images_NxHxWxC, rows)
  files.replace_atomically(path, _png_bytes(sheet))
  return sheet


# Metrics -----------------------------------------------------------------------------------------

def _scalar(name: str, value) -> int | float:
  """A metric as a Python int or float; numpy and jax scalars and 0-d arrays are accepted."""
  array = np.asarray(value)
  if array.ndim != 0 or array.dtype.kind not in "iuf":
    raise ValueError(f"metric {name!r} must be a real scalar; got {array.dtype} {array.shape}")
  return int(array) if array.dtype.kind in "iu" else float(array)


def _to_json(value: int | float):
  if isinstance(value, float) and not math.isfinite(value):
    return _NON_FINITE_TO_JSON[repr(value)]
  return value


def _from_json(value):
  if isinstance(value, str) and value in _JSON_TO_NON_FINITE:
    return _JSON_TO_NON_FINITE[value]
  return value


def _complete_lines(path) -> tuple[list[bytes], bool]:
  """The complete (newline-terminated) lines of `path`, and whether a partial last line was seen.

  A line without its newline is a write killed midway: it is dropped, not parsed.
  """
  try:
    with open(path, "rb") as f:
      data = f.read()
  except FileNotFoundError:
    return [], False
  lines = data.split(b"\n")
  # After the last newline split leaves b"" when the file ends cleanly, the partial line otherwise.
  return lines[:-1], lines[-1] != b""


def _parse_rows(lines: list[bytes], path) -> list[dict]:
  rows = []
  for number, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except json.JSONDecodeError as e:
      raise ValueError(f"{path}:{number}: not a JSON line: {e}") from None
    if not isinstance(row, dict) or not isinstance(row.get("step"), int):
      raise ValueError(f"{path}:{number}: expected an object with an integer 'step'")
    rows.append({key: _from_json(value) for key, value in row.items()})
  return rows


def read_metrics(workdir) -> list[dict]:
  """The rows of `workdir/metrics.jsonl` in file order, non-finite values back as floats.

  A missing file gives []; a partial last line (a write killed midway) is left out; any other line
  that is not a JSON object with an integer "step" raises ValueError naming the line.
  """
  path = os.path.join(os.fspath(workdir), METRICS_FILE)
  lines, _ = _complete_lines(path)
  return _parse_rows(lines, path)


class MetricWriter:
  """Writes scalars to `workdir/metrics.jsonl` and to TensorBoard events in `workdir/tensorboard/`.

  One row per `write` call: {"step": step, **metrics}. Steps must not go backwards, which catches
  a resumed run that did not first drop the rows written after its checkpoint: a resumed run calls
  `truncate_after(checkpoint_step)` before writing. Opening a workdir keeps its rows; it only drops
  a partial last line left by a kill, so that the next row does not run into it.

  Use as a context manager, or call `close()`.
  """

  def __init__(self, workdir):
    self.workdir = os.fspath(workdir)
    self.metrics_path = os.path.join(self.workdir, METRICS_FILE)
    os.makedirs(self.workdir, exist_ok=True)
    lines, partial = _complete_lines(self.metrics_path)
    if partial:
      files.replace_atomically(self.metrics_path, b"".join(line + b"\n" for line in lines))
    rows = _parse_rows(lines, self.metrics_path)
    self._last_step: int | None = max((row["step"] for row in rows), default=None)
    # tensorboardX names event files by the second and host and opens them with "wb": a suffix
    # unique to this writer keeps a writer reopened within the same second (a quick resume) from
    # overwriting the previous file, and, being fixed-width, keeps the files in creation order.
    self._tb = SummaryWriter(
        logdir=os.path.join(self.workdir, TENSORBOARD_DIR), flush_secs=TB_FLUSH_SECS,
        filename_suffix=f".{time.time_ns():020d}.{os.getpid()}")
    self._closed = False

  @property
  def last_step(self) -> int | None:
    """The largest step in metrics.jsonl, None when it has no rows."""
    return self._last_step

  def _check_open(self) -> None:
    if self._closed:
      raise ValueError("MetricWriter is closed")

  def write(self, step: int, metrics: dict[str, float]) -> None:
    """Appends {"step": step, **metrics} to metrics.jsonl (flushed) and logs each to TensorBoard.

    Args:
      step: the generator iteration, a non-negative int, not below any step already written.
      metrics: name -> real scalar (Python, numpy or 0-d jax); ints stay ints in the JSON line.
    """
    self._check_open()
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
      raise ValueError(f"step must be a non-negative int; got {step!r}")
    step = int(step)
    if self._last_step is not None and step < self._last_step:
      raise ValueError(
          f"step {step} is below step {self._last_step} already in {self.metrics_path}; a resumed "
          "run must call truncate_after(checkpoint_step) before writing")
    values = {}
    for name, value in metrics.items():
      if not isinstance(name, str) or name == "step":
        raise ValueError(f"metric names must be strings other than 'step'; got {name!r}")
      values[name] = _scalar(name, value)
    row = {"step": step, **{name: _to_json(value) for name, value in values.items()}}
    line = json.dumps(row, allow_nan=False) + "\n"
    # One write of the whole line in append mode: a kill leaves at most a partial last line.
    with open(self.metrics_path, "a", encoding="utf-8") as f:
      f.write(line)
      f.flush()
    for name, value in values.items():
      self._tb.add_scalar(name, value, global_step=step)
    self._last_step = step

  def write_images(self, step: int, name: str, images_NxHxWxC, rows: int = 8) -> np.ndarray:
    """Logs `image_sheet(images_NxHxWxC, rows)` to TensorBoard under `name`; returns the sheet.

    The PNG is encoded here rather than by tensorboardX's add_image, which would resample it.
    """
    self._check_open()
    sheet = image_sheet(images_NxHxWxC, rows)
    height, width = sheet.shape[:2]
    channels = 1 if sheet.ndim == 2 else sheet.shape[2]
    image = Summary.Image(height=height, width=width, colorspace=channels,
                          encoded_image_string=_png_bytes(sheet))
    self._tb._get_file_writer().add_summary(
        Summary(value=[Summary.Value(tag=name, image=image)]), global_step=int(step))
    return sheet

  def truncate_after(self, step: int) -> int:
    """Keeps only the rows with step <= `step`, for a run resuming from a checkpoint at `step`.

    metrics.jsonl is rewritten atomically. In TensorBoard, a session-start event at step + 1 makes
    it discard the older event files' points past `step` (tensorboardX's purge_step mechanism), so
    neither output shows the steps the resumed run will write again.

    Returns:
      the number of rows dropped.
    """
    self._check_open()
    step = int(step)
    lines, _ = _complete_lines(self.metrics_path)
    lines = [line for line in lines if line.strip()]  # _parse_rows skips blank lines too.
    rows = _parse_rows(lines, self.metrics_path)
    kept = [line for line, row in zip(lines, rows) if row["step"] <= step]
    files.replace_atomically(self.metrics_path, b"".join(line + b"\n" for line in kept))
    self._last_step = max((row["step"] for row in rows if row["step"] <= step), default=None)
    self._tb._get_file_writer().add_event(
        Event(step=step + 1, session_log=SessionLog(status=SessionLog.START)))
    return len(rows) - len(kept)

  def flush(self) -> None:
    """Pushes buffered TensorBoard events to disk; metrics.jsonl is flushed on every write."""
    self._check_open()
    self._tb.flush()

  def close(self) -> None:
    """Flushes and closes the event file; closing twice is allowed."""
    if not self._closed:
      self._tb.close()
      self._closed = True

  def __enter__(self) -> MetricWriter:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()


def marked_sheets(workdir: str, steps, count: int) -> list[tuple[int, np.ndarray]]:
  """[(step, sheet)] of ``count`` of the sample sheets ``workdir/samples/step_<s>.png`` of
  ``steps`` that exist, spread evenly over them, the last one at the end."""
  path = lambda s: os.path.join(workdir, "samples", f"step_{s}.png")
  steps = [int(s) for s in steps if os.path.exists(path(int(s)))]
  marked = sorted({steps[round(i * (len(steps) - 1) / (count - 1))] for i in range(count)}
                  ) if steps else []
  return [(s, np.asarray(Image.open(path(s)))) for s in marked]
