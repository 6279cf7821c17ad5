"""One image in, uint8 out: the image pipeline every source shares, and the pixel conversions.

``fit_image`` takes any image Pillow opens to 8-bit L or RGB (16-bit scaled down, transparency
composited on white) and resizes the centred square of side min(H, W) to size x size (area
averaging when shrinking, bilinear when enlarging). ``decode_file`` is that pipeline for a JPEG
or PNG file, which it refuses undecoded when it is over Pillow's pixel limit. Pixels p become
floats p / 127.5 - 1 through one table, ``LEVELS_256``, on the host (``to_float``) and inside jit
(``as_float``), so the two agree bit for bit.
"""

from __future__ import annotations

from typing import BinaryIO
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageOps

# Pillow's modes for 16-bit (and 32-bit integer) grayscale, which is how it opens 16-bit PNGs.
_WIDE_GRAY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")

# p / 127.5 - 1 for every 8-bit value p, computed once. Host and device conversions both look
# values up here, so they agree bit for bit (XLA may turn a division into a multiplication).
LEVELS_256 = np.arange(256, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)
LEVELS_256.flags.writeable = False

# Why ``decode_file`` gives no pixels: words of the sources' warning line about skipped files.
UNDECODABLE = "that cannot be decoded"
TOO_LARGE = "over Pillow's limit of {limit} pixels"
_PILLOW_MODULES = r"PIL\."


class DataError(ValueError):
  """Bad data input. The message is one line that names the problem and, if known, the fix."""


def to_float(images_uint8: np.ndarray) -> np.ndarray:
  """8-bit pixels [0, 255] -> float32 [-1, 1]: 0 -> -1, 255 -> 1, 51 -> -0.6."""
  return LEVELS_256[np.asarray(images_uint8, dtype=np.uint8)]


def as_float(batch: jax.Array) -> jax.Array:
  """``to_float`` inside jit: uint8 pixels -> float32 [-1, 1] by the same table; floats as are."""
  if batch.dtype == jnp.uint8:
    return jnp.asarray(LEVELS_256)[batch]
  return batch


def to_uint8(images: np.ndarray) -> np.ndarray:
  """float [-1, 1] -> the nearest 8-bit pixels; the inverse of ``to_float`` on its outputs."""
  images = np.asarray(images, dtype=np.float32)
  return np.clip(np.rint((images + 1) * 127.5), 0, 255).astype(np.uint8)


def exact_uint8(images: np.ndarray) -> np.ndarray | None:
  """The 8-bit pixels of float images if ``to_float`` gives them back exactly, else None."""
  pixels = to_uint8(images)
  return pixels if np.array_equal(to_float(pixels), images) else None


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


def fit_array(pixels_HxWxC: np.ndarray, size: int, channels: int) -> np.ndarray:
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


def _hold_back_pillow_warnings() -> None:
  """Ignores warnings raised inside Pillow (oversize images, odd EXIF, ...) from now on.

  The sources count the files they concern themselves. A process-wide filter rather than
  ``warnings.catch_warnings``, whose swaps of the filter list race between decoding threads;
  moved back to the front whenever a filter added since would take precedence.
  """
  action, _, _, module, _ = warnings.filters[0] if warnings.filters else (None,) * 5
  if action != "ignore" or module is None or module.pattern != _PILLOW_MODULES:
    warnings.filterwarnings("ignore", module=_PILLOW_MODULES)  # removes an older copy


def decode_file(file: BinaryIO, size: int, channels: int) -> np.ndarray | str:
  """An open JPEG or PNG file fitted to uint8 (size, size, channels), or why not:
  ``UNDECODABLE`` or ``TOO_LARGE`` (then its pixels are never decoded)."""
  _hold_back_pillow_warnings()
  try:
    with Image.open(file, formats=("JPEG", "PNG")) as image:
      limit = Image.MAX_IMAGE_PIXELS  # read now: a caller may change it
      if limit is not None and max(1, image.width) * max(1, image.height) > limit:
        return TOO_LARGE  # before load(): the pixels are never decoded
      image.load()
      # Camera JPEGs store their rotation in EXIF rather than in the pixels.
      return fit_image(ImageOps.exif_transpose(image), size, channels)
  except Image.DecompressionBombError:  # twice the limit: Pillow refuses it in open()
    return TOO_LARGE
  except (OSError, SyntaxError, ValueError):
    return UNDECODABLE  # UnidentifiedImageError and truncated files are OSErrors
