r"""Trains a GAN from a config file: a thin launcher of wgan_jax.train.train_and_evaluate.

    python experiments/train_images.py --config=experiments/configs/mnist.py --workdir=runs/mnist

Running the same command on the same workdir resumes from its latest checkpoint.
"""

from absl import app
from absl import flags
from ml_collections import config_flags

from wgan_jax import config_flags as wgan_flags
from wgan_jax import train

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (experiments/configs/).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, logs and samples go.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  wgan_flags.quiet_logging()
  if len(argv) > 1:
    wgan_flags.fail(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except train.ConfigError as e:
    wgan_flags.fail(str(e))


if __name__ == "__main__":
  app.run(main, flags_parser=wgan_flags.parse_or_exit)
