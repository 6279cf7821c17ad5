r"""WGAN-GP on a 2-D toy distribution (ring8) through the image runs' loop, with checkpoints.

    python experiments/train_images.py --config=wgan_jax/configs/toy.py --workdir=runs/toy_ring8
    python experiments/train_images.py --config=wgan_jax/configs/toy.py:tiny --workdir=/tmp/t

The Gaussian-mixture reproduction (wgan_jax/configs/gaussians.py) trains many seeds at once
without checkpoints; this config is one seed, checkpointed and resumable, for long toy runs
(``tiny``: 16-unit networks, 80 steps). Sample "sheets" are the 64 points of a fixed noise batch,
saved as samples/step_<n>.npy. Settings of the WGAN-GP toy script: Adam 1e-4, beta1 0.5,
beta2 0.9, lambda 0.1, 5 critic iterations, 3 hidden layers.
"""

from wgan_jax.configs import base


def toy_networks(c, hidden: int, depth: int = 3) -> None:
  """``c``'s networks set to the toy MLPs (``hidden`` units x ``depth`` layers) on 2-D noise."""
  c.generator.update(dict(name="toy_mlp", hidden=hidden, depth=depth, noise_dim=2))
  c.critic.update(dict(name="toy_mlp", hidden=hidden, depth=depth, norm="none"))


def get_config(variant: str = ""):
  base.check_variant(__file__, variant, "tiny")
  c = base.get_config()
  c.data.dataset = "ring8"
  toy_networks(c, 64)
  c.objective.update(dict(method="wgan-gp", gp_weight=0.1))
  base.set_optimizers(c, "wgan-gp", learning_rate=1e-4, b1=0.5, b2=0.9)
  c.schedule.update(dict(num_steps=10_000, batch_size=256, n_critic=5, official_schedule=False,
                         steps_per_dispatch=10))
  c.run.checkpoint_every = 500
  if variant == "tiny":
    toy_networks(c, 16)
    c.schedule.update(dict(batch_size=32, num_steps=80, steps_per_dispatch=1))
    c.run.checkpoint_every = 10
  return c
