r"""The meaningful loss: WGAN, WGAN-GP and GAN of the gaussians reproduction, one seed each, with
the exact W1 between 2,000 generated and 2,000 real samples, measured twice on independent
samples, at 20 points of training spaced geometrically from iteration 50 to the last
(wgan_jax/paper/meaningful_loss.py).

    python experiments/reproduce_paper.py --parts=meaningful_loss --workdir=runs/paper
"""

from wgan_jax.configs import base
from wgan_jax.configs import gaussians


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
