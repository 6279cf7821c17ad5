r"""The meaningful loss: WGAN, WGAN-GP and GAN of the gaussians reproduction, one seed each, with
the exact W1 between 2,000 generated and 2,000 real samples, measured twice on independent
samples, at 20 points of training spaced geometrically from iteration 50 to the last
(``evaluation_points``; wgan_jax/paper/meaningful_loss.py).

    python experiments/reproduce_paper.py --parts=meaningful_loss --workdir=runs/paper

``check`` holds the part's own rule of the config: its points exist.
"""

import numpy as np

from wgan_jax.configs import base
from wgan_jax.configs import gaussians
from wgan_jax.configs import validate

# The evaluation points run geometrically from iteration FIRST_POINT to the last, fixed before
# the runs.
FIRST_POINT = 50


def get_config(variant: str = ""):
  base.check_variant(__file__, variant, "quick")
  c = gaussians.get_config(variant)
  c.sweep.runs = "wgan,wgan-gp,gan"
  c.run.seeds = 1
  if variant == "quick":  # one mixture, a critic and a discriminator; the points start at 50
    c.sweep.update(dict(datasets="ring8", runs="wgan,gan"))
    c.schedule.update(dict(num_steps=60, batch_size=32))
    c.eval.update(dict(num_evals=4, curve_samples=100, samples=100, snapshots=(1.0,)))
  else:
    c.eval.update(dict(num_evals=20, curve_samples=2000, samples=2000))
  return c


def evaluation_points(num_steps: int, count: int, first: int = FIRST_POINT) -> np.ndarray:
  """(count,) int: iterations spaced geometrically from ``first`` to ``num_steps``, rounded to
  integers; ValueError when the run is shorter than ``first`` or rounding merges points."""
  if num_steps < first:
    raise ValueError(f"the evaluation points start at iteration {first}; the run has "
                     f"{num_steps}")
  points_E = np.unique(np.rint(np.geomspace(first, num_steps, count)).astype(int))
  if len(points_E) < count:
    raise ValueError(f"{count} points from {first} to {num_steps} are not distinct integers")
  return points_E


def check(config) -> None:
  """ConfigError for the gaussians reproduction's ``eval`` section, or unless ``eval.num_evals``
  distinct evaluation points fit in the run."""
  gaussians.check(config)
  iters, count = config.schedule.num_steps, config.eval.num_evals
  try:
    evaluation_points(iters, count)
  except ValueError as e:
    raise validate.ConfigError(f"--config.schedule.num_steps={iters}, --config.eval.num_evals="
                               f"{count}: {e}") from None
