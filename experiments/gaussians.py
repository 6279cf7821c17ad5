r"""The paper's Figure 2 made quantitative: GAN, WGAN, WGAN-GP and EBGAN on 2-D Gaussian mixtures.

    python experiments/gaussians.py --workdir=runs/gaussians   # what `make reproduce-gaussians` runs
    python experiments/gaussians.py --iters=200 --seeds=1 --datasets=ring8 --workdir=/tmp/quick

Every field of ``wgan_jax.gaussians.GaussiansConfig`` is a flag (``--help`` lists them). Writes, in
the workdir: <dataset>/<method>/samples.npy (seed 0) and samples_seed<k>.npy, summary.json,
summary.md, figure_2.png and learning_curves.png.
"""


from absl import flags

from wgan_jax import config_flags
from wgan_jax import files
from wgan_jax import gaussians

_WORKDIR = flags.DEFINE_string("workdir", "runs/gaussians", "Where the results are written.")
config_flags.define_flags(gaussians.GaussiansConfig)


def main(argv):
  del argv  # parse_or_exit refuses positional arguments
  config_flags.quiet_logging()
  try:
    config = config_flags.config_from_flags(gaussians.GaussiansConfig)
    files.check_workdir(_WORKDIR.value)
  except ValueError as e:
    config_flags.fail(str(e))
  gaussians.run(config, _WORKDIR.value)


if __name__ == "__main__":
  config_flags.run(main)
