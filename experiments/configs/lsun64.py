r"""The paper's Sections 4.2-4.4 at full scale: 64x64 LSUN bedrooms, WGAN or GAN, three generators.

    python experiments/train_images.py --config=experiments/configs/lsun64.py:wgan-dcgan --workdir=runs/lsun_wgan_dcgan
    python experiments/train_images.py --config=experiments/configs/lsun64.py:wgan-nobn --workdir=runs/lsun_wgan_nobn
    python experiments/train_images.py --config=experiments/configs/lsun64.py:wgan-mlp --workdir=runs/lsun_wgan_mlp
    python experiments/train_images.py --config=experiments/configs/lsun64.py:gan-dcgan --workdir=runs/lsun_gan_dcgan
    (and gan-nobn, gan-mlp), adding --config.dataset=folder:/data/lsun_bedroom for a folder of JPEGs.

The critic is always the DCGAN critic (BatchNorm), as in the paper. The 3 million bedrooms are
streamed from the host: each generator iteration draws its real batches from a pool of
stream_pool images, every epoch visiting each image once (--config.stream_pool=0 holds the set on
the accelerator instead, up to --config.data_limit images of 12 KiB). Meant for an accelerator
(steps scanned 10 per dispatch, not unrolled); on a CPU set --config.unroll=True.
"""

import os
import sys

# The launcher loads this file by path: mnist.py, beside it, is importable only from here.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist  # noqa: E402  (the shared fields and their comments live in mnist.py)


def get_config(variant: str = "wgan-dcgan"):
  method, _, generator = variant.partition("-")
  generators = {"dcgan": "dcgan", "nobn": "dcgan_nobn_constant", "mlp": "mlp"}
  if method not in ("wgan", "gan") or generator not in generators:
    raise ValueError(f"unknown variant {variant!r} of lsun64.py: use <wgan|gan>-<dcgan|nobn|mlp>")
  c = mnist.get_config()
  c.dataset, c.image_size, c.channels = "lsun/bedroom", 64, 3
  c.stream_pool = c.batch_size * c.n_critic  # a fresh image for every real sample
  c.generator = generators[generator]
  c.method = method
  if method == "gan":
    # The DCGAN baseline: Adam 2e-4, beta1 0.5, one discriminator step, no clipping.
    c.n_critic, c.official_schedule = 1, False
    for opt in (c.generator_optimizer, c.critic_optimizer):
      opt.update(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999, clip=None)
  c.num_steps = 100_000  # generator iterations (the paper's curves run to about 100k)
  c.steps_per_dispatch, c.unroll = 10, False
  c.checkpoint_every = 1000
  return c
