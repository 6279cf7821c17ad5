r"""Trains a GAN from a config file: a thin launcher of wgan_jax.train.train_and_evaluate.

    python experiments/train_images.py --config=wgan_jax/configs/mnist.py --workdir=runs/mnist

Running the same command on the same workdir resumes from its latest checkpoint, after a crash,
a SIGKILL or a SIGTERM or Ctrl-C (which checkpoint and exit 0). Exit status: 0 done or
preempted, 1 a NaN or Inf in training or a failed write (the last complete checkpoint is kept),
2 bad input (the config, the data, the workdir or what it holds) with nothing written.
"""

import sys

from absl import flags
from ml_collections import config_flags

from wgan_jax import cli
from wgan_jax import checks
from wgan_jax import lock
from wgan_jax import train
from wgan_jax.configs import base

_CONFIG = config_flags.DEFINE_config_file("config", None,
                                          "A config file of wgan_jax/configs/[:variant].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, logs and samples go.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv  # parse_or_exit refuses positional arguments
  cli.quiet_logging()
  try:
    train.train_and_evaluate(cli.config_or_exit(_CONFIG), _WORKDIR.value)
  except (checks.ConfigError, lock.LockRefused) as e:
    cli.fail(str(e))
  except train.RunStopped as e:  # a NaN, a full disk: the last complete checkpoint is kept
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  except train.Preempted:
    sys.exit(0)  # checkpointed; the message is on stderr


if __name__ == "__main__":
  cli.run(main, config=base)
