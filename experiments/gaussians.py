r"""The paper's Figure 2 made quantitative: GAN, WGAN, WGAN-GP and EBGAN on 2-D Gaussian mixtures.

    python experiments/gaussians.py --workdir=runs/gaussians   # what `make reproduce-gaussians` runs
    python experiments/gaussians.py --config.schedule.num_steps=200 --config.run.seeds=1 \
        --config.sweep.datasets=ring8 --workdir=/tmp/quick

The config is wgan_jax/configs/gaussians.py (``--help`` lists its fields). Writes, in the
workdir: <dataset>/<method>/samples.npy (seed 0) and samples_seed<k>.npy, summary.json,
summary.md, figure_2.png and learning_curves.png.
"""

from absl import flags
from ml_collections import config_flags

from wgan_jax import checks
from wgan_jax import cli
from wgan_jax import files
from wgan_jax import gaussians
from wgan_jax.configs import gaussians as gaussians_config

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "A sweep config (default: wgan_jax/configs/gaussians.py).")
_WORKDIR = flags.DEFINE_string("workdir", "runs/gaussians", "Where the results are written.")


def main(argv):
  del argv  # parse_or_exit refuses positional arguments
  cli.quiet_logging()
  config = cli.config_or_exit(_CONFIG)
  try:
    files.check_workdir(_WORKDIR.value)
    checks.check(config, gaussians_config.check)
  except ValueError as e:
    cli.fail(str(e))
  gaussians.run(config, _WORKDIR.value)


if __name__ == "__main__":
  cli.run(main, config=gaussians_config, default=True)
