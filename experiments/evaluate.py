r"""Writes FID, KID, the Inception Score and precision/recall/density/coverage of a run's latest
checkpoint against real images of its dataset to <workdir>/inception_metrics.json.

    python experiments/evaluate.py --workdir=runs/cifar10_wgan_gp --num=10000 --weights=inception_fid.npz
    WGAN_JAX_INCEPTION_WEIGHTS=inception_fid.npz python experiments/evaluate.py --workdir=runs/mnist_wgan --num=5000

The weights: pytorch-fid's pt_inception-2015-12-05-6726825d.pth, downloaded once and converted to
.npz (docs/metrics.md). Every figure depends on --num; the file records it with the resizing.
"""

import json

from absl import flags

from wgan_jax import cli
from wgan_jax import evaluate
from wgan_jax.metrics import inception

_WORKDIR = flags.DEFINE_string("workdir", None, "The run's workdir (holds checkpoints/).")
_NUM = flags.DEFINE_integer("num", 5000, "Generated and real images (FID depends on it).")
_WEIGHTS = flags.DEFINE_string(
    "weights", "", "The Inception's weights (.npz); default: the run's "
    f"image_metrics.inception_weights, then ${inception.WEIGHTS_ENV}.")
_RESIZE = flags.DEFINE_integer("resize", inception.INPUT_SIZE,
                               "Side images are resized to (299: pytorch-fid's; less is faster "
                               "and not comparable).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the noise and of the real images drawn.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv  # parse_or_exit refuses positional arguments
  cli.quiet_logging()
  try:
    out = evaluate.evaluate_workdir(_WORKDIR.value, _NUM.value, _WEIGHTS.value,
                                      seed=_SEED.value, size=_RESIZE.value)
  except ValueError as e:
    cli.fail(str(e))
  print(json.dumps({k: out[k] for k in ("step", "fid", "kid_mean", "is_mean", "precision",
                                        "recall", "num_generated") if k in out}))


if __name__ == "__main__":
  cli.run(main)
