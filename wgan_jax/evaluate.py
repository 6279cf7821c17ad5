"""FID, KID, the Inception Score and precision/recall of a run's latest checkpoint against real
images of its dataset, for experiments/evaluate.py."""

from __future__ import annotations

import json
import os

from wgan_jax import checkpoints
from wgan_jax import checks
from wgan_jax import files
from wgan_jax.data import toy
from wgan_jax.metrics import evaluation
from wgan_jax.metrics import fid as fid_lib
from wgan_jax.metrics import inception as inception_lib

RESULT_FILE = "inception_metrics.json"


def evaluate_workdir(workdir: str, num: int, weights: str = "", *, seed: int = 0,
                     size: int = inception_lib.INPUT_SIZE, nearest_k: int = fid_lib.NEAREST_K
                     ) -> dict:
  """The metrics of ``num`` samples of the latest checkpoint of ``workdir`` against ``num`` real
  images of its dataset, written to ``workdir/inception_metrics.json`` and returned.

  ``weights`` is the Inception's weights file ("" = the run's config field
  image_metrics.inception_weights, then $WGAN_JAX_INCEPTION_WEIGHTS). ValueError in one line for
  missing weights, a workdir without a checkpoint that passes its check (see
  ``checkpoints.Checkpoints``), or a dataset that is not images.
  """
  config = checkpoints.load_config(workdir)
  configured = config.get("image_metrics", {}).get("inception_weights", "")
  path = inception_lib.weights_path(weights or configured)
  checks.check_count("--num", num, 2)
  if config.data.dataset in toy.DATASETS:
    raise ValueError(f"{workdir!r} trains on the 2-D set {config.data.dataset!r}, not images")
  net = inception_lib.load_weights(path, size=size)
  samples, step = checkpoints.sample_from_checkpoint(workdir, num, seed)
  real = evaluation.real_images(config, num, seed)
  out = {"step": step, **fid_lib.inception_metrics(
      net, samples, real, nearest_k=nearest_k if min(num, len(real)) > nearest_k else None,
      isc_splits=min(fid_lib.ISC_SPLITS, num))}
  files.save_text(os.path.join(workdir, RESULT_FILE), json.dumps(out, indent=2) + "\n")
  return out
