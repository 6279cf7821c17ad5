"""FID and KID during training (``TrainingMetrics``, for ``train.train_and_evaluate``), and the
real images of a run's dataset that image metrics compare with (``real_images``)."""

from __future__ import annotations

import os

import numpy as np

from wgan_jax.data import decode
from wgan_jax.data import sources
from wgan_jax.metrics import fid as fid_lib
from wgan_jax.metrics import inception as inception_lib

def real_images(config, num: int, seed: int = 0) -> np.ndarray:
  """``num`` images of the run's dataset, float32 in [-1, 1], drawn without replacement by a
  permutation seeded with ``seed`` (all of them, in order, when the set has at most ``num``)."""
  d = config.data
  image_set = sources.open_images(d.dataset, d.image_size, d.channels,
                                  data_dir=d.data_dir or None)
  try:
    total = len(image_set) if not d.limit else min(int(d.limit), len(image_set))
    if total <= num:
      indices = np.arange(total)
    else:
      indices = np.sort(np.random.default_rng(seed).permutation(total)[:num])
    pixels = image_set.read(indices)
  finally:
    image_set.close()
  return decode.to_float(pixels)


class TrainingMetrics:
  """FID and KID of the generator every ``image_metrics.eval_every`` steps of a run whose config
  names Inception weights (or finds them in $WGAN_JAX_INCEPTION_WEIGHTS).

  The real images' features are computed once; each evaluation generates
  ``image_metrics.num_samples`` images. ``row(generate, step)`` returns the metrics to log, or
  None when this step is not evaluated.
  """

  def __init__(self, config):
    m = config.image_metrics
    self.every = int(m.eval_every)
    self.num = int(m.num_samples)
    self.net = inception_lib.load_weights(inception_lib.weights_path(m.inception_weights),
                                          size=int(m.resize))
    self.kid_subset_size = int(m.kid_subset_size)
    real = real_images(config, self.num, config.run.seed)
    self.real_pool_MxP, _ = self.net.outputs(real)

  @staticmethod
  def wanted(config) -> bool:
    """Whether the config asks for FID and KID during training (eval_every > 0)."""
    m = config.get("image_metrics")
    return m is not None and int(m.eval_every) > 0

  @staticmethod
  def enabled(config) -> bool:
    """Whether they are computed: wanted, and weights named in the config or the environment
    (a named file that is missing is refused by checks.check_config)."""
    return TrainingMetrics.wanted(config) and bool(
        config.image_metrics.inception_weights or os.environ.get(inception_lib.WEIGHTS_ENV))

  def row(self, generate, step: int) -> dict | None:
    """{"fid", "kid", "fid_num_samples"} for the images ``generate(num)`` returns, at multiples
    of eval_every; None otherwise."""
    if step <= 0 or step % self.every:
      return None
    samples = np.asarray(generate(self.num))
    if not np.all(np.isfinite(samples)):
      return {"fid": float("nan"), "kid": float("nan"), "fid_num_samples": self.num}
    pool_NxP, _ = self.net.outputs(samples)
    subset = min(self.kid_subset_size, len(pool_NxP), len(self.real_pool_MxP))
    kid_mean, _ = fid_lib.kid(pool_NxP, self.real_pool_MxP, subset_size=subset)
    return {"fid": fid_lib.fid_from_features(pool_NxP, self.real_pool_MxP), "kid": kid_mean,
            "fid_num_samples": len(pool_NxP)}


__all__ = ["real_images", "TrainingMetrics"]
