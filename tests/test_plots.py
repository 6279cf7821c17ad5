"""Tests for wgan_jax.plots: the figures written as complete PNGs with no temporary files left
behind, also when a save is killed midway."""

import os

import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np
import pytest

from PIL import Image

from wgan_jax.plots import _inset_lefts, image_learning_curve, learning_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
  with open(path, "rb") as f:
    head = f.read(8)
  assert head == PNG_SIGNATURE
  assert os.path.getsize(path) > 1000


# figures -----------------------------------------------------------------------------------------

def test_learning_curves_writes_png(tmp_path):
  rng = np.random.default_rng(1)
  steps_T = np.arange(1, 51)
  eval_steps_E = np.array([1, 25, 50])

  def curve(estimate_T, name):
    return {"steps": steps_T, "estimate": estimate_T, "estimate_name": name,
            "eval_steps": eval_steps_E, "w1": np.array([2.0, 0.6, 0.2])}

  curves = {
      "ring8": {"WGAN": curve(1.0 / steps_T + 0.05 * rng.standard_normal(50), "EM estimate"),
                "EBGAN": curve(np.full(50, np.nan), "")},
      "grid25": {"WGAN": curve(2.0 / steps_T + 0.05 * rng.standard_normal(50), "EM estimate"),
                 "GAN": curve(0.3 + 0.05 * rng.standard_normal(50), "JS estimate (½L + log 2)")},
  }
  path = tmp_path / "curves.png"
  learning_curves(path, curves)
  assert_png(path)
  assert os.listdir(tmp_path) == ["curves.png"]
  assert plt.get_fignums() == []


def test_save_killed_midway_leaves_old_png_and_no_temporary_file(tmp_path, monkeypatch):
  # A save that dies after writing part of the file (a kill, a full disk) must leave the previous
  # PNG intact and no temporary file behind.

  steps_T = np.arange(1, 11)
  curves = {"ring8": {"WGAN": {"steps": steps_T, "estimate": 1.0 / steps_T,
                               "estimate_name": "EM estimate", "eval_steps": np.array([1, 10]),
                               "w1": np.array([1.0, 0.1])}}}
  path = tmp_path / "curves.png"
  learning_curves(path, curves)
  old_bytes = path.read_bytes()

  def dies_midway(self, fname, **kwargs):
    fname.write(PNG_SIGNATURE)
    raise KeyboardInterrupt

  monkeypatch.setattr(matplotlib.figure.Figure, "savefig", dies_midway)
  with pytest.raises(KeyboardInterrupt):
    learning_curves(path, curves)
  assert path.read_bytes() == old_bytes
  assert os.listdir(tmp_path) == ["curves.png"]
  assert plt.get_fignums() == []


# image_learning_curve ----------------------------------------------------------------------------

def gray_sheet(rng, size=82):
  return rng.integers(0, 256, size=(size, size), dtype=np.uint8)


def png_height(path):
  with Image.open(path) as png:
    return png.size[1]


def test_image_learning_curve_writes_png_with_three_sheets(tmp_path):
  rng = np.random.default_rng(3)
  steps_T = np.arange(1, 301)
  estimate_T = 1.0 / np.sqrt(steps_T) + 0.05 * rng.standard_normal(300)
  sheets = [(1, gray_sheet(rng)), (150, gray_sheet(rng)), (300, gray_sheet(rng))]
  path = tmp_path / "learning_curve.png"
  image_learning_curve(path, steps_T, estimate_T, "EM estimate", sheets, title="WGAN / MNIST")
  assert_png(path)
  assert os.listdir(tmp_path) == ["learning_curve.png"]
  assert plt.get_fignums() == []

  # The sheets sit in a strip above the curve: without them the figure is shorter.
  bare = tmp_path / "bare.png"
  image_learning_curve(bare, steps_T, estimate_T, "EM estimate", [])
  assert png_height(bare) < png_height(path)


def test_image_learning_curve_all_nan_estimate(tmp_path):
  rng = np.random.default_rng(4)
  path = tmp_path / "ebgan.png"
  image_learning_curve(path, np.arange(300), np.full(300, np.nan), "energy",
                       [(0, gray_sheet(rng)), (299, gray_sheet(rng))])
  assert_png(path)
  assert plt.get_fignums() == []


def test_image_learning_curve_edge_cases(tmp_path):
  rng = np.random.default_rng(5)
  # Some non-finite estimates, RGB sheets crowded at nearly one step, more sheets than fit at
  # full size.
  estimate_T = np.linspace(2.0, 0.1, 40)
  estimate_T[[3, 17]] = [np.nan, np.inf]
  rgb = [(s, rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)) for s in [38, 39, 39] * 4]
  image_learning_curve(tmp_path / "a.png", np.arange(40), estimate_T, "JS estimate", rgb)
  # A single point, and no estimate at all.
  image_learning_curve(tmp_path / "b.png", [7], [0.3], "EM estimate", [(7, gray_sheet(rng))])
  image_learning_curve(tmp_path / "c.png", [], [], "EM estimate", [])
  for name in ("a.png", "b.png", "c.png"):
    assert_png(tmp_path / name)
  assert plt.get_fignums() == []


def test_image_learning_curve_rejects_mismatched_lengths(tmp_path):
  with pytest.raises(ValueError, match="one length"):
    image_learning_curve(tmp_path / "x.png", np.arange(5), np.zeros(4), "EM estimate", [])
  assert os.listdir(tmp_path) == []


def test_inset_lefts_by_hand():
  # Width 1, gap 0.5, inside [0, 10].
  np.testing.assert_allclose(_inset_lefts([5.0], 1.0, 0.5, 0.0, 10.0), [4.5])  # centred
  np.testing.assert_allclose(_inset_lefts([2.0, 8.0], 1.0, 0.5, 0.0, 10.0), [1.5, 7.5])
  # Crowded at the left edge: clipped to 0, then pushed right one width plus gap.
  np.testing.assert_allclose(_inset_lefts([0.1, 0.2], 1.0, 0.5, 0.0, 10.0), [0.0, 1.5])
  # Crowded at the right edge: pushed past 10, then pulled back from the right.
  np.testing.assert_allclose(_inset_lefts([9.9, 9.95], 1.0, 0.5, 0.0, 10.0), [7.5, 9.0])
  # Exactly full: 4 widths and 3 gaps fill [0, 5.5] whatever the centres.
  np.testing.assert_allclose(_inset_lefts([3.0] * 4, 1.0, 0.5, 0.0, 5.5), [0.0, 1.5, 3.0, 4.5])
