r"""The meaningful loss: WGAN, WGAN-GP and GAN of the gaussians reproduction, one seed each, with
the exact W1 between 2,000 generated and 2,000 real samples at 20 points of training.

    python experiments/reproduce_paper.py --parts=meaningful_loss --workdir=runs/paper
"""

from wgan_jax.configs import gaussians


def get_config(variant: str = ""):
  c = gaussians.get_config()
  c.sweep.runs = "wgan,wgan-gp,gan"
  c.run.seeds = 1
  c.eval.update(dict(num_evals=20, curve_samples=2000, samples=2000))
  if variant == "quick":
    c = gaussians.get_config("quick")
    c.sweep.runs = "wgan,wgan-gp,gan"
    c.schedule.batch_size = 32
    c.eval.update(dict(num_evals=4, curve_samples=100, samples=100, snapshots=(1.0,)))
  elif variant:
    raise ValueError(f"unknown variant {variant!r} of meaningful_loss.py; the one variant is "
                     f"'quick'")
  return c
