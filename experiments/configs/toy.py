r"""WGAN-GP on a 2-D toy distribution (ring8) through the image runs' loop, with checkpoints.

    python experiments/train_images.py --config=experiments/configs/toy.py --workdir=runs/toy_ring8
    python experiments/train_images.py --config=experiments/configs/toy.py:tiny --workdir=/tmp/t

The Gaussian-mixture reproduction (experiments/gaussians.py) trains many seeds at once without
checkpoints; this config is one seed, checkpointed and resumable, for long toy runs and for the
reliability tests (``tiny``: 16-unit networks, 80 steps). Sample "sheets" are the 64 points of a
fixed noise batch, saved as samples/step_<n>.npy. Settings of the WGAN-GP toy script: Adam 1e-4,
beta1 0.5, beta2 0.9, lambda 0.1, 5 critic iterations, 3 hidden layers.
"""

import os
import sys

# The launcher loads this file by path: mnist.py, beside it, is importable only from here.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist  # noqa: E402  (the shared fields and their comments live in mnist.py)


def get_config(variant: str = ""):
  c = mnist.get_config()
  c.method, c.dataset = "wgan-gp", "ring8"
  c.generator = c.critic = "toy_mlp"
  c.critic_norm = "none"
  c.nz, c.mlp_hidden = 2, 64
  c.batch_size, c.n_critic, c.official_schedule, c.gp_weight = 256, 5, False, 0.1
  for opt in (c.generator_optimizer, c.critic_optimizer):
    opt.update(name="adam", learning_rate=1e-4, b1=0.5, b2=0.9, clip=None)
  c.num_steps, c.checkpoint_every = 10_000, 500
  # A small MLP: a loop compiles faster than an unrolled one and runs as fast.
  c.steps_per_dispatch, c.unroll = 10, False
  if variant == "tiny":
    c.mlp_hidden, c.batch_size = 16, 32
    c.num_steps, c.checkpoint_every, c.steps_per_dispatch = 80, 10, 1
  elif variant:
    raise ValueError(f"unknown variant {variant!r} of toy.py; the one variant is 'tiny'")
  return c
