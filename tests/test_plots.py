"""Tests for wgan_jax.plots: the running median against a plain loop, the density against scipy,
and both figures written as complete PNGs with no temporary files left behind."""

import os

import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.stats

from PIL import Image

from wgan_jax.plots import (_inset_lefts, figure_2, image_learning_curve, learning_curves,
                            mixture_log_density)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def ring(k=8, radius=2.0):
  angles_K = 2 * np.pi * np.arange(k) / k
  return radius * np.stack([np.cos(angles_K), np.sin(angles_K)], axis=1)


def grid():
  return np.array([(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)], dtype=float)


def mixture_samples(rng, centers_Kx2, std, n, keep_K=None):
  """n samples from the equal-weight mixture, optionally over only the modes in keep_K."""
  keep_K = np.arange(len(centers_Kx2)) if keep_K is None else np.asarray(keep_K)
  modes_N = rng.choice(keep_K, size=n)
  return centers_Kx2[modes_N] + std * rng.standard_normal((n, 2))


def assert_png(path):
  with open(path, "rb") as f:
    head = f.read(8)
  assert head == PNG_SIGNATURE
  assert os.path.getsize(path) > 1000


# mixture_log_density -----------------------------------------------------------------------------

def test_mixture_log_density_matches_scipy():
  centers_Kx2, std = ring(), 0.3
  points_Px2 = np.random.default_rng(0).uniform(-3, 3, size=(50, 2))
  expected_P = np.log(np.mean(
      [scipy.stats.multivariate_normal(c, std**2 * np.eye(2)).pdf(points_Px2)
       for c in centers_Kx2], axis=0))
  np.testing.assert_allclose(mixture_log_density(points_Px2, centers_Kx2, std), expected_P,
                             rtol=1e-10)


def test_mixture_log_density_is_finite_far_from_every_centre():
  # exp(-(10/0.02)^2 / 2) underflows to 0; the log-sum-exp must not return -inf.
  value = mixture_log_density(np.array([[10.0, 10.0]]), ring(), 0.02)
  assert np.isfinite(value).all()


# figures -----------------------------------------------------------------------------------------

def synthetic_datasets(rng):
  return [
      {"name": "ring8", "centers": ring(), "std": 0.02,
       "real": mixture_samples(rng, ring(), 0.02, 300)},
      {"name": "grid25", "centers": grid(), "std": 0.05,
       "real": mixture_samples(rng, grid(), 0.05, 300)},
  ]


def test_figure_2_writes_png(tmp_path):
  rng = np.random.default_rng(0)
  datasets = synthetic_datasets(rng)
  panels = {}
  for d in datasets:
    k = len(d["centers"])
    panels[d["name"]] = {
        # GAN: a collapsing sampler, with a few far-off samples to exercise the off-panel note.
        "GAN": [(it, np.concatenate([mixture_samples(rng, d["centers"], d["std"], 290, [0, 1]),
                                     rng.normal(0, 20, size=(10, 2))]))
                for it in (250, 500, 1000)],
        "WGAN": [(it, mixture_samples(rng, d["centers"], 5 * d["std"], 300, range(k - 1)))
                 for it in (250, 500, 1000)],
    }
  path = tmp_path / "fig2.png"
  figure_2(path, datasets, panels)
  assert_png(path)
  assert os.listdir(tmp_path) == ["fig2.png"]
  assert plt.get_fignums() == []  # pyplot keeps open figures alive; a training loop would leak.


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

  rng = np.random.default_rng(2)
  datasets = synthetic_datasets(rng)[:1]
  panels = {"ring8": {"GAN": [(1, datasets[0]["real"])]}}
  path = tmp_path / "fig2.png"
  figure_2(path, datasets, panels)
  old_bytes = path.read_bytes()

  def dies_midway(self, fname, **kwargs):
    fname.write(PNG_SIGNATURE)
    raise KeyboardInterrupt

  monkeypatch.setattr(matplotlib.figure.Figure, "savefig", dies_midway)
  with pytest.raises(KeyboardInterrupt):
    figure_2(path, datasets, panels)
  assert path.read_bytes() == old_bytes
  assert os.listdir(tmp_path) == ["fig2.png"]
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
