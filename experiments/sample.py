r"""Writes samples of a trained generator from the latest checkpoint of a run.

    python experiments/sample.py --workdir=runs/mnist_wgan --num=256 --out=runs/mnist_wgan/sheets
    python experiments/sample.py --workdir=runs/mnist_wgan --num=1000 --format=npy --out=/tmp/s

PNG sheets of 64 samples (8x8), or one .npy array (N, H, W, C) float32 in [-1, 1].
"""

import os

from absl import flags

from wgan_jax import checkpoints
from wgan_jax import cli
from wgan_jax import files
from wgan_jax import writers

_WORKDIR = flags.DEFINE_string("workdir", None, "The run's workdir (holds checkpoints/).")
_OUT = flags.DEFINE_string("out", None, "Folder for the samples (default: <workdir>/generated).")
_NUM = flags.DEFINE_integer("num", 64, "Number of samples.")
_FORMAT = flags.DEFINE_enum("format", "png", ["png", "npy"], "PNG sheets of 64, or one .npy.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the noise.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv  # parse_or_exit refuses positional arguments
  cli.quiet_logging()
  out = _OUT.value or os.path.join(_WORKDIR.value, "generated")
  try:
    files.check_workdir(out, "--out")
    samples, step = checkpoints.sample_from_checkpoint(_WORKDIR.value, _NUM.value, _SEED.value)
  except ValueError as e:
    cli.fail(str(e))
  if _FORMAT.value == "png" and samples.ndim != 4:
    cli.fail(f"--format=png: the run in {_WORKDIR.value} generates points of shape "
             f"{samples.shape[1:]}, not images; use --format=npy")
  os.makedirs(out, exist_ok=True)
  if _FORMAT.value == "npy":
    path = os.path.join(out, f"samples_step{step}.npy")
    files.save_npy(path, samples)
  else:
    for i in range(0, len(samples), 64):
      path = os.path.join(out, f"samples_step{step}_{i // 64:03d}.png")
      writers.save_image_sheet(path, samples[i:i + 64])
  print(f"wrote {len(samples)} samples of step {step} to {out}")


if __name__ == "__main__":
  cli.run(main)
