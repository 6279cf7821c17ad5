r"""The MNIST reproduction: WGAN, WGAN-GP, and WGAN against GAN with an MLP generator.

    make reproduce-mnist
    python experiments/reproduce_mnist.py --workdir=runs/mnist
    python experiments/reproduce_mnist.py --config=wgan_jax/configs/mnist_reproduction.py:quick --workdir=/tmp/q

The runs and their settings are wgan_jax/configs/mnist_reproduction.py (``--help`` lists its
fields). Writes, in the workdir, one folder per run and summary.json, summary.md and sheets.png.
Exit status: 0 done or preempted, 1 a failed write, 2 bad input with nothing written.
"""

import sys

from absl import flags
from ml_collections import config_flags

from wgan_jax import cli
from wgan_jax import checks
from wgan_jax import lock
from wgan_jax import mnist_reproduction
from wgan_jax import train
from wgan_jax.configs import mnist_reproduction as mnist_reproduction_config

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "A sweep config (default: wgan_jax/configs/mnist_reproduction.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where the runs, the summary and the sheets go.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv  # parse_or_exit refuses positional arguments
  cli.quiet_logging()
  try:
    mnist_reproduction.run(cli.config_or_exit(_CONFIG), _WORKDIR.value)
  except (checks.ConfigError, lock.LockRefused) as e:  # nothing written
    cli.fail(str(e))
  except train.RunStopped as e:  # a full disk: the last complete checkpoint is kept
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main, config=mnist_reproduction_config, default=True)
