"""Tests for wgan_jax.writers: metrics.jsonl round trips, resuming, TensorBoard records read back
byte by byte, and sample sheets checked pixel by pixel against a layout computed by hand."""

import glob
import io
import json
import math
import os
import struct

import numpy as np
import pytest
from PIL import Image
from tensorboardX.crc32c import crc32c
from tensorboardX.proto.event_pb2 import Event, SessionLog

from wgan_jax.writers import (MetricWriter, image_sheet, read_metrics, save_image_sheet)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def strict_json(line):
  """json.loads that refuses NaN and Infinity tokens, which are not JSON."""
  def refuse(token):
    raise ValueError(f"non-standard JSON token {token}")
  return json.loads(line, parse_constant=refuse)


def jsonl_lines(workdir):
  with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
    text = f.read()
  assert text.endswith("\n")
  return text.splitlines()


def masked_crc(data):
  # TFRecord framing: the CRC32C rotated right by 15 bits plus a constant, mod 2^32.
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(workdir):
  """Every Event in workdir/tensorboard, file by file in name order, parsed from raw records.

  Each record is: uint64 length, uint32 masked CRC of the length, the bytes, uint32 masked CRC of
  the bytes (little-endian); both CRCs are checked.
  """
  events = []
  paths = sorted(glob.glob(os.path.join(workdir, "tensorboard", "*tfevents*")))
  for path in paths:
    with open(path, "rb") as f:
      data = f.read()
    offset = 0
    while offset < len(data):
      header = data[offset:offset + 8]
      (length,) = struct.unpack("<Q", header)
      (length_crc,) = struct.unpack("<I", data[offset + 8:offset + 12])
      assert length_crc == masked_crc(header)
      payload = data[offset + 12:offset + 12 + length]
      (payload_crc,) = struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])
      assert payload_crc == masked_crc(payload)
      events.append(Event.FromString(payload))
      offset += 16 + length
  return events


def scalars(events):
  """{tag: [(step, value), ...]} of the scalar summaries."""
  out = {}
  for event in events:
    for value in event.summary.value:
      if value.HasField("simple_value"):
        out.setdefault(value.tag, []).append((event.step, value.simple_value))
  return out


# metrics.jsonl -----------------------------------------------------------------------------------

def test_rows_are_strict_json_and_round_trip(tmp_path):
  with MetricWriter(tmp_path) as writer:
    writer.write(0, {"loss": 1.5, "critic_iters": 100, "em": np.float32(0.25)})
    writer.write(5, {"loss": math.nan, "grad_norm": math.inf, "em": -math.inf})
  lines = jsonl_lines(tmp_path)
  assert len(lines) == 2
  assert strict_json(lines[0]) == {"step": 0, "loss": 1.5, "critic_iters": 100, "em": 0.25}
  # Non-finite values are written as strings, so the file stays strict JSON.
  assert strict_json(lines[1]) == {"step": 5, "loss": "nan", "grad_norm": "inf", "em": "-inf"}

  rows = read_metrics(tmp_path)
  assert rows[0] == {"step": 0, "loss": 1.5, "critic_iters": 100, "em": 0.25}
  assert isinstance(rows[0]["critic_iters"], int)
  assert rows[1]["step"] == 5
  assert math.isnan(rows[1]["loss"])
  assert rows[1]["grad_norm"] == math.inf and rows[1]["em"] == -math.inf


def test_float32_values_round_trip_exactly(tmp_path):
  values_K = np.random.default_rng(0).standard_normal(20).astype(np.float32)
  with MetricWriter(tmp_path) as writer:
    for step, value in enumerate(values_K):
      writer.write(step, {"x": value})
  np.testing.assert_array_equal([row["x"] for row in read_metrics(tmp_path)], values_K)


def test_each_row_is_on_disk_right_after_write(tmp_path):
  writer = MetricWriter(tmp_path)
  writer.write(3, {"loss": 0.5})
  # Not closed, not flushed: the line must already be readable, as after a kill.
  assert read_metrics(tmp_path) == [{"step": 3, "loss": 0.5}]
  writer.close()


def test_read_metrics_of_missing_file_is_empty(tmp_path):
  assert read_metrics(tmp_path) == []


def test_rejects_bad_steps_and_metrics(tmp_path):
  with MetricWriter(tmp_path) as writer:
    writer.write(10, {"loss": 1.0})
    writer.write(10, {"eval": 2.0})  # A second row at the same step is allowed.
    with pytest.raises(ValueError, match="truncate_after"):
      writer.write(9, {"loss": 1.0})
    with pytest.raises(ValueError, match="step"):
      writer.write(11, {"step": 1.0})
    with pytest.raises(ValueError, match="real scalar"):
      writer.write(11, {"loss": np.zeros(2)})
    with pytest.raises(ValueError, match="non-negative"):
      writer.write(-1, {"loss": 1.0})
  assert [row["step"] for row in read_metrics(tmp_path)] == [10, 10]


def test_closed_writer_refuses_writes(tmp_path):
  writer = MetricWriter(tmp_path)
  writer.close()
  writer.close()  # Closing twice is allowed.
  with pytest.raises(ValueError, match="closed"):
    writer.write(0, {"loss": 1.0})


def test_partial_last_line_is_dropped_and_repaired(tmp_path):
  with MetricWriter(tmp_path) as writer:
    writer.write(0, {"loss": 1.0})
    writer.write(1, {"loss": 0.5})
  with open(tmp_path / "metrics.jsonl", "ab") as f:
    f.write(b'{"step": 2, "lo')  # A write killed midway.
  assert [row["step"] for row in read_metrics(tmp_path)] == [0, 1]
  with MetricWriter(tmp_path) as writer:
    assert writer.last_step == 1
    writer.write(2, {"loss": 0.25})
  assert [strict_json(line)["step"] for line in jsonl_lines(tmp_path)] == [0, 1, 2]


def test_malformed_middle_line_names_the_line(tmp_path):
  (tmp_path / "metrics.jsonl").write_text('{"step": 0}\nnot json\n{"step": 1}\n')
  with pytest.raises(ValueError, match=r"metrics.jsonl:2"):
    read_metrics(tmp_path)


# resuming ----------------------------------------------------------------------------------------

def test_truncate_after_keeps_rows_up_to_step(tmp_path):
  with MetricWriter(tmp_path) as writer:
    for step in (0, 10, 20, 20, 30, 40):
      writer.write(step, {"loss": float(step)})
    assert writer.truncate_after(20) == 2
    assert writer.last_step == 20
    writer.write(21, {"loss": 21.0})
  assert [row["step"] for row in read_metrics(tmp_path)] == [0, 10, 20, 20, 21]
  assert sorted(os.listdir(tmp_path)) == ["metrics.jsonl", "tensorboard"]  # No temporary files.


def test_truncate_after_before_every_row_empties_the_file(tmp_path):
  with MetricWriter(tmp_path) as writer:
    writer.write(5, {"loss": 1.0})
    assert writer.truncate_after(4) == 1
    assert writer.last_step is None
    writer.write(0, {"loss": 2.0})
  assert read_metrics(tmp_path) == [{"step": 0, "loss": 2.0}]


def test_resume_on_same_workdir_does_not_duplicate_rows(tmp_path):
  # A run logs through step 7 but its last checkpoint is at step 5; the resumed run redoes 6..9.
  with MetricWriter(tmp_path) as writer:
    for step in range(8):
      writer.write(step, {"loss": 1.0 / (step + 1)})
  with MetricWriter(tmp_path) as writer:
    assert writer.last_step == 7
    with pytest.raises(ValueError, match="truncate_after"):
      writer.write(6, {"loss": 0.0})
    writer.truncate_after(5)
    for step in range(6, 10):
      writer.write(step, {"loss": 1.0 / (step + 1)})
  steps = [strict_json(line)["step"] for line in jsonl_lines(tmp_path)]
  assert steps == list(range(10))


# TensorBoard -------------------------------------------------------------------------------------

def test_tensorboard_events_hold_the_scalars(tmp_path):
  with MetricWriter(tmp_path) as writer:
    writer.write(1, {"loss/critic": -0.5, "em_estimate": 0.75})
    writer.write(2, {"loss/critic": math.nan, "em_estimate": 0.5})
  paths = glob.glob(str(tmp_path / "tensorboard" / "*tfevents*"))
  assert len(paths) == 1 and os.path.getsize(paths[0]) > 0
  with open(paths[0], "rb") as f:
    assert b"em_estimate" in f.read()

  events = read_events(tmp_path)
  assert events[0].file_version == "brain.Event:2"
  found = scalars(events)
  assert found["em_estimate"] == [(1, 0.75), (2, 0.5)]
  assert found["loss/critic"][0] == (1, -0.5)
  assert found["loss/critic"][1][0] == 2 and math.isnan(found["loss/critic"][1][1])


def test_tensorboard_image_is_the_sheet(tmp_path):
  images_NxHxWxC = np.random.default_rng(0).uniform(-1, 1, size=(16, 8, 8, 3))
  with MetricWriter(tmp_path) as writer:
    sheet = writer.write_images(7, "samples", images_NxHxWxC, rows=4)
  np.testing.assert_array_equal(sheet, image_sheet(images_NxHxWxC, rows=4))
  [event] = [e for e in read_events(tmp_path) if e.summary.value]
  assert event.step == 7
  [value] = event.summary.value
  assert value.tag == "samples"
  assert (value.image.height, value.image.width, value.image.colorspace) == (*sheet.shape[:2], 3)
  decoded = np.asarray(Image.open(io.BytesIO(value.image.encoded_image_string)))
  np.testing.assert_array_equal(decoded, sheet)


def test_truncate_after_writes_a_tensorboard_purge_event(tmp_path):
  # TensorBoard hides earlier files' points at steps >= a session start's step.
  with MetricWriter(tmp_path) as writer:
    writer.write(30, {"loss": 1.0})
  with MetricWriter(tmp_path) as writer:
    writer.truncate_after(20)
    writer.write(21, {"loss": 2.0})
  events = read_events(tmp_path)
  starts = [e.step for e in events if e.session_log.status == SessionLog.START]
  assert starts == [21]
  # A writer reopened within the same second keeps its own file: both runs' scalars are there.
  assert len(glob.glob(str(tmp_path / "tensorboard" / "*tfevents*"))) == 2
  assert scalars(events)["loss"] == [(30, 1.0), (21, 2.0)]


# image sheets ------------------------------------------------------------------------------------

def test_sheet_of_64_gray_images_layout_by_hand():
  # 8 rows and 8 columns of 8x8 images, 2-pixel borders between them and around: 8*8 + 9*2 = 82.
  black_NxHxWxC = -np.ones((64, 8, 8, 1))
  sheet = image_sheet(black_NxHxWxC)
  assert sheet.shape == (82, 82) and sheet.dtype == np.uint8
  cell = np.zeros((82,), dtype=bool)
  for k in range(8):
    cell[2 + 10 * k:10 + 10 * k] = True  # Image k spans pixels 2 + 10k .. 9 + 10k.
  inside_YxX = cell[:, None] & cell[None, :]
  np.testing.assert_array_equal(sheet[inside_YxX], 0)  # -1 -> 0
  np.testing.assert_array_equal(sheet[~inside_YxX], 255)  # The border is white.
  assert int(inside_YxX.sum()) == 64 * 64

  np.testing.assert_array_equal(image_sheet(np.ones((64, 8, 8, 1))), 255)  # 1 -> 255 everywhere.


def test_sheet_places_images_row_by_row():
  # Image i is a constant -1 + 2i/63; it must land in row i // 8, column i % 8.
  levels_N = -1 + 2 * np.arange(64) / 63
  sheet = image_sheet(np.broadcast_to(levels_N[:, None, None, None], (64, 8, 8, 1)))
  for i in (0, 1, 7, 8, 37, 63):
    top, left = 2 + 10 * (i // 8), 2 + 10 * (i % 8)
    np.testing.assert_array_equal(sheet[top:top + 8, left:left + 8],
                                  round((levels_N[i] + 1) * 127.5))


def test_sheet_value_mapping():
  images = np.array([0.0, 2.0, -3.0, np.nan, 0.5]).reshape(5, 1, 1, 1)
  sheet = image_sheet(images, rows=1)  # One row of five 1x1 images: shape (1 + 4, 5 + 12).
  assert sheet.shape == (5, 17)
  # 0 -> 127.5 rounds to even 128; out of range clips; NaN shows black; 0.5 -> 191.25 -> 191.
  np.testing.assert_array_equal(sheet[2, 2::3], [128, 255, 0, 0, 191])


def test_sheet_with_blank_cells_and_rgb():
  # 7 images in 3 rows: 3 columns, the last row holds one image and two blank cells.
  sheet = image_sheet(-np.ones((7, 4, 5, 3)), rows=3)
  assert sheet.shape == (3 * 4 + 4 * 2, 3 * 5 + 4 * 2, 3)
  np.testing.assert_array_equal(sheet[14:18, 2:7], 0)  # Image 6, row 2, column 0.
  np.testing.assert_array_equal(sheet[14:18, 9:21], 255)  # Columns 1 and 2 of row 2 are blank.
  # Few images: no empty rows (3 images, rows=8 -> 1 column of 3).
  assert image_sheet(np.zeros((3, 4, 4, 1))).shape == (3 * 4 + 4 * 2, 4 + 2 * 2)


@pytest.mark.parametrize("shape", [(8, 8, 1), (2, 8, 8, 2), (0, 8, 8, 1)])
def test_sheet_rejects_bad_shapes(shape):
  with pytest.raises(ValueError):
    image_sheet(np.zeros(shape))


@pytest.mark.parametrize("channels, mode", [(1, "L"), (3, "RGB")])
def test_save_image_sheet_writes_png(tmp_path, channels, mode):
  images = np.random.default_rng(1).uniform(-1, 1, size=(64, 28, 28, channels))
  path = tmp_path / "samples" / "step_100.png"
  sheet = save_image_sheet(path, images)
  with open(path, "rb") as f:
    assert f.read(8) == PNG_SIGNATURE
  with Image.open(path) as png:
    assert png.mode == mode
    np.testing.assert_array_equal(np.asarray(png), sheet)
  assert sheet.shape[:2] == (8 * 28 + 9 * 2, 8 * 28 + 9 * 2)
  assert os.listdir(path.parent) == ["step_100.png"]


def test_save_image_sheet_killed_midway_leaves_old_png(tmp_path, monkeypatch):
  path = tmp_path / "sheet.png"
  save_image_sheet(path, np.zeros((4, 8, 8, 1)))
  old_bytes = path.read_bytes()

  def dies_midway(fd):
    raise KeyboardInterrupt  # A kill after the bytes are written, before the rename.

  monkeypatch.setattr(os, "fsync", dies_midway)
  with pytest.raises(KeyboardInterrupt):
    save_image_sheet(path, np.ones((4, 8, 8, 1)))
  assert path.read_bytes() == old_bytes
  assert os.listdir(tmp_path) == ["sheet.png"]
