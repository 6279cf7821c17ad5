r"""WGAN-GP on CIFAR-10 32x32 with the DCGAN networks, the settings of the WGAN-GP paper.

    python experiments/train_images.py --config=experiments/configs/cifar10_wgan_gp.py --workdir=runs/cifar10_wgan_gp

Adam lr 1e-4, beta1 0, beta2 0.9, lambda 10, n_critic 5, batch 64; the critic has LayerNorm
instead of BatchNorm, which would couple the samples of the per-sample gradient penalty. Meant
for an accelerator; on a CPU set --config.unroll=True --config.steps_per_dispatch=1.
"""

import os
import sys

# The launcher loads this file by path: mnist.py, beside it, is importable only from here.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist  # noqa: E402  (the shared fields and their comments live in mnist.py)


def get_config():
  c = mnist.get_config()
  c.method, c.dataset, c.image_size, c.channels = "wgan-gp", "cifar10", 32, 3
  c.critic_norm, c.gp_weight, c.n_critic, c.official_schedule = "layer", 10.0, 5, False
  for opt in (c.generator_optimizer, c.critic_optimizer):
    opt.update(name="adam", learning_rate=1e-4, b1=0.0, b2=0.9, clip=None)
  c.num_steps = 200_000  # ITERS of the WGAN-GP CIFAR-10 script
  c.steps_per_dispatch, c.unroll = 10, False
  c.checkpoint_every = 1000
  return c
