"""The Inception-v3 of FID (pytorch-fid's ``pt_inception-2015-12-05``) in Flax, with its weights
read from a local file.

The network is pytorch-fid's ``fid_inception_v3()``: torchvision's Inception-v3 with the FID
blocks (FIDInceptionA/C/E_1 average-pool without counting the padding, FIDInceptionE_2
max-pools), 1008 classes. Layers carry the names of its state dict (``Mixed_5b.branch1x1.conv``),
so that a state dict converts key by key. torch-fidelity's ``inception-v3-compat`` is the same
network with the same weights (``weights-inception-2015-12-05-6726825d.pth``); it differs only in
its input: uint8 images resized TensorFlow-1 style and scaled by (x - 128) / 128.

The input pipeline is pytorch-fid's: images in [0, 1], resized to 299x299 bilinearly with
half-pixel centres and no antialiasing (``F.interpolate(mode='bilinear', align_corners=False)``),
then scaled to 2x - 1 inside the network. Nothing is downloaded: the weights come from a file the
user names (``load_weights``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               "pt_inception-2015-12-05-6726825d.pth")
WEIGHTS_ENV = "WGAN_JAX_INCEPTION_WEIGHTS"  # the weights file, when the config names none
INPUT_SIZE = 299  # pytorch-fid resizes every image to 299x299
MIN_SIZE = 75  # the smallest input the stem and the stride-2 blocks accept
POOL_DIM = 2048  # pool3: the features of FID and KID
NUM_LOGITS = 1008  # the 2015 graph's classes (1000 and 8 unused); the Inception Score's logits
_BN_EPS = 1e-3
_EVAL_CHUNK = 50  # images per forward call; the last chunk is padded so nothing recompiles
# Full float32 convolutions and products: accelerators otherwise compute float32 with TF32 or
# bfloat16 passes, which moves the features and so the FID away from the CPU reference.
_HIGHEST = jax.lax.Precision.HIGHEST


def missing_weights_message(path: str | None) -> str:
  """The one-line error for a weights file that is not named or not there."""
  where = (f"{path!r} does not exist" if path else
           f"no Inception weights named (config image_metrics.inception_weights or ${WEIGHTS_ENV})")
  return (f"{where}: download {WEIGHTS_URL} once, convert it with `make inception-weights "
          f"PTH=<file.pth> NPZ=<file.npz>` and name the .npz in image_metrics.inception_weights "
          f"or ${WEIGHTS_ENV}")


def weights_path(configured: str = "") -> str:
  """The weights file: ``configured`` if not empty, else $WGAN_JAX_INCEPTION_WEIGHTS; ValueError
  (``missing_weights_message``) when neither names an existing file."""
  path = configured or os.environ.get(WEIGHTS_ENV, "")
  if not path or not os.path.isfile(path):
    raise ValueError(missing_weights_message(path or None))
  return path


class BasicConv2d(nn.Module):
  """conv (no bias) -> BatchNorm (eps 1e-3, running statistics) -> ReLU, torch's padding."""
  features: int
  kernel: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    pad = tuple((p, p) for p in self.padding)
    x = nn.Conv(self.features, self.kernel, self.strides, padding=pad, use_bias=False,
                precision=_HIGHEST, name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=_BN_EPS, name="bn")(x)
    return nn.relu(x)


def _avg_pool_3x3(x):
  # FIDInceptionA/C/E_1: F.avg_pool2d(3, 1, 1, count_include_pad=False).
  return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_s2(x):
  return nn.max_pool(x, (3, 3), (2, 2))


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(64, (1, 1), name="branch1x1")(x)
    b5 = BasicConv2d(48, (1, 1), name="branch5x5_1")(x)
    b5 = BasicConv2d(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
    b3 = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
    b3 = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
    bp = BasicConv2d(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(384, (3, 3), strides=(2, 2), name="branch3x3")(x)
    bd = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = BasicConv2d(96, (3, 3), strides=(2, 2), name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = BasicConv2d(192, (1, 1), name="branch1x1")(x)
    b7 = BasicConv2d(c7, (1, 1), name="branch7x7_1")(x)
    b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
    bd = BasicConv2d(c7, (1, 1), name="branch7x7dbl_1")(x)
    bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
    bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
    bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
    bd = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
    bp = BasicConv2d(192, (1, 1), name="branch_pool")(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(192, (1, 1), name="branch3x3_1")(x)
    b3 = BasicConv2d(320, (3, 3), strides=(2, 2), name="branch3x3_2")(b3)
    b7 = BasicConv2d(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = BasicConv2d(192, (3, 3), strides=(2, 2), name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
  max_pool: bool  # FIDInceptionE_2 (Mixed_7c) max-pools; FIDInceptionE_1 average-pools

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(320, (1, 1), name="branch1x1")(x)
    b3 = BasicConv2d(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate([
        BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
        BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], axis=-1)
    bd = BasicConv2d(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv2d(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([
        BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
        BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], axis=-1)
    if self.max_pool:
      pooled = nn.max_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)))
    else:
      pooled = _avg_pool_3x3(x)
    bp = BasicConv2d(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
  """(B, H, W, 3) in [-1, 1] -> (pool3 (B, 2048), unbiased logits (B, 1008)).

  The unbiased logits are pool3 times the fc kernel without its bias, the layer torch-fidelity
  computes the Inception Score from ('logits_unbiased').
  """

  @nn.compact
  def __call__(self, x):
    x = BasicConv2d(32, (3, 3), strides=(2, 2), name="Conv2d_1a_3x3")(x)
    x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)
    x = BasicConv2d(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
    x = _max_pool_3x3_s2(x)
    x = BasicConv2d(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)
    x = _max_pool_3x3_s2(x)
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160),
                     ("Mixed_6e", 192)):
      x = InceptionC(c7, name=name)(x)
    x = InceptionD(name="Mixed_7a")(x)
    x = InceptionE(False, name="Mixed_7b")(x)
    x = InceptionE(True, name="Mixed_7c")(x)
    pool_BxP = jnp.mean(x, axis=(1, 2))
    fc = nn.Dense(NUM_LOGITS, precision=_HIGHEST, name="fc")
    fc(pool_BxP)  # creates the fc parameters; the unbiased logits use the kernel alone
    logits_BxL = jnp.matmul(pool_BxP, fc.variables["params"]["kernel"], precision=_HIGHEST)
    return pool_BxP, logits_BxL


def resize_like_torch(images_BxHxWxC, size: int):
  """Bilinear resize to (size, size) as F.interpolate(mode='bilinear', align_corners=False):
  half-pixel centres, edges clamped, no antialiasing when shrinking."""
  images = jnp.asarray(images_BxHxWxC, jnp.float32)
  if images.shape[1:3] == (size, size):
    return images
  return jax.image.resize(images, (images.shape[0], size, size, images.shape[3]),
                          method="linear", antialias=False)


def preprocess(images_BxHxWxC, size: int = INPUT_SIZE):
  """Images in [-1, 1] with 1 or 3 channels -> (B, size, size, 3) network input, pytorch-fid's
  way: to [0, 1], gray repeated to RGB, resized (``resize_like_torch``), then 2x - 1."""
  images01 = (jnp.asarray(images_BxHxWxC, jnp.float32) + 1) / 2
  if images01.shape[-1] == 1:
    images01 = jnp.repeat(images01, 3, axis=-1)
  return 2 * resize_like_torch(images01, size) - 1


def variables_from_state_dict(state_dict: Mapping[str, Any]) -> dict:
  """pytorch-fid's state dict (names -> arrays, OIHW kernels) -> Flax variables of
  ``FIDInceptionV3``; ValueError naming the first key or shape that does not fit."""
  template = jax.eval_shape(FIDInceptionV3().init, jax.random.key(0),
                            np.zeros((1, MIN_SIZE, MIN_SIZE, 3), np.float32))
  params, stats = {}, {}
  expected = set()
  for path, leaf in jax.tree_util.tree_flatten_with_path(template)[0]:
    collection, *names = [p.key for p in path]
    *module, leaf_name = names
    key = ".".join(module)
    if collection == "batch_stats":
      torch_key = f"{key}.running_{leaf_name}"
    elif leaf_name == "kernel":
      torch_key = f"{key}.weight"
    else:  # BatchNorm's scale and bias, fc's bias
      torch_key = f"{key}.{'weight' if leaf_name == 'scale' else 'bias'}"
    expected.add(torch_key)
    if torch_key not in state_dict:
      raise ValueError(f"the weights have no {torch_key!r}")
    value = np.asarray(state_dict[torch_key], np.float32)
    if value.ndim == 4:
      value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    elif value.ndim == 2:
      value = value.T  # Linear (out, in) -> Dense (in, out)
    if value.shape != leaf.shape:
      raise ValueError(f"{torch_key!r} has shape {value.shape} here, expected {leaf.shape}")
    tree = stats if collection == "batch_stats" else params
    for name in names[:-1]:
      tree = tree.setdefault(name, {})
    tree[names[-1]] = value
  unknown = sorted(k for k in state_dict if k not in expected
                   and not k.endswith("num_batches_tracked"))
  if unknown:
    raise ValueError(f"the weights hold {len(unknown)} unknown keys, such as {unknown[0]!r}")
  return {"params": params, "batch_stats": stats}


@dataclasses.dataclass(frozen=True)
class Inception:
  """The FID Inception with its weights; ``outputs`` gives pool3 features and unbiased logits.

  ``size`` is the side images are resized to: 299, as pytorch-fid, for every reported figure;
  tests use smaller sides (at least MIN_SIZE) to run fast.
  """
  variables: Any
  size: int = INPUT_SIZE
  source: str = ""

  def outputs(self, images_NxHxWxC) -> tuple[np.ndarray, np.ndarray]:
    """float32 (N, 2048) pool3 features and (N, 1008) unbiased logits of images in [-1, 1]."""
    images = np.asarray(images_NxHxWxC, np.float32)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.shape[0] < 1:
      raise ValueError(f"expected images (N, H, W, 1 or 3) with N >= 1; got {images.shape}")
    forward = _forward_fn(self.size)
    pools, logits = [], []
    for start in range(0, images.shape[0], _EVAL_CHUNK):
      chunk = images[start:start + _EVAL_CHUNK]
      pad = _EVAL_CHUNK - chunk.shape[0] if images.shape[0] > _EVAL_CHUNK else 0
      if pad:
        chunk = np.concatenate([chunk, np.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
      pool_BxP, logits_BxL = forward(self.variables, chunk)
      pools.append(np.asarray(pool_BxP)[:chunk.shape[0] - pad])
      logits.append(np.asarray(logits_BxL)[:chunk.shape[0] - pad])
    return np.concatenate(pools), np.concatenate(logits)


@functools.lru_cache(maxsize=None)
def _forward_fn(size: int):
  """jit(variables, images) -> (pool3, unbiased logits) of images resized to ``size``; cached,
  so that every ``Inception.outputs`` call reuses the compilation."""
  model = FIDInceptionV3()

  @jax.jit
  def forward(variables, images_BxHxWxC):
    return model.apply(variables, preprocess(images_BxHxWxC, size))

  return forward


def load_weights(path, size: int = INPUT_SIZE) -> Inception:
  """The Inception with the weights of ``path``: an .npz of pytorch-fid's state dict (written by
  ``wgan_jax.metrics.convert_inception``). ValueError in one line when the file is missing or
  does not hold these weights."""
  if size < MIN_SIZE:
    raise ValueError(f"the Inception needs images of at least {MIN_SIZE}x{MIN_SIZE}; got {size}")
  path = pathlib.Path(path)
  if not path.is_file():
    raise ValueError(missing_weights_message(str(path)))
  if path.suffix == ".pth":
    raise ValueError(f"{path} is a PyTorch file; convert it once with `make inception-weights "
                     f"PTH={path} NPZ={path.with_suffix('.npz')}`")
  try:
    with np.load(path) as archive:
      state_dict = {k: archive[k] for k in archive.files}
    variables = variables_from_state_dict(state_dict)
  except Exception as error:
    raise ValueError(f"{path} does not hold the FID Inception's weights ({error})") from None
  return Inception(variables=variables, size=size, source=str(path))


__all__ = ["Inception", "FIDInceptionV3", "load_weights", "weights_path",
           "variables_from_state_dict", "preprocess", "resize_like_torch",
           "missing_weights_message", "WEIGHTS_URL", "WEIGHTS_ENV", "INPUT_SIZE", "POOL_DIM",
           "NUM_LOGITS"]
