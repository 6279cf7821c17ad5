r"""The paper's Sections 4.2-4.4 at full scale: 64x64 LSUN bedrooms, WGAN or GAN, three generators.

    python experiments/train_images.py --config=wgan_jax/configs/lsun64.py:wgan-dcgan --workdir=runs/lsun_wgan_dcgan
    python experiments/train_images.py --config=wgan_jax/configs/lsun64.py:wgan-nobn --workdir=runs/lsun_wgan_nobn
    python experiments/train_images.py --config=wgan_jax/configs/lsun64.py:wgan-mlp --workdir=runs/lsun_wgan_mlp
    python experiments/train_images.py --config=wgan_jax/configs/lsun64.py:gan-dcgan --workdir=runs/lsun_gan_dcgan
    (and gan-nobn, gan-mlp), adding --config.data.dataset=folder:/data/lsun_bedroom for a folder of JPEGs.

The critic is always the DCGAN critic (BatchNorm), as in the paper. The 3 million bedrooms are
streamed from the host: every critic iteration reads a fresh batch, every epoch visiting each
image once (--config.data.stream=False holds the set on the accelerator instead, up to
--config.data.limit images of 12 KiB). Meant for an accelerator.
"""

from wgan_jax.configs import base

GENERATORS = {"dcgan": "dcgan", "nobn": "dcgan_nobn_constant", "mlp": "mlp"}


def get_config(variant: str = "wgan-dcgan"):
  method, _, generator = variant.partition("-")
  if method not in ("wgan", "gan") or generator not in GENERATORS:
    raise ValueError(f"unknown variant {variant!r} of lsun64.py: use <wgan|gan>-<dcgan|nobn|mlp>")
  c = base.get_config()
  c.data.update(dict(dataset="lsun/bedroom", image_size=64, channels=3))
  c.data.stream = True
  c.generator.name = GENERATORS[generator]
  c.objective.method = method
  if method == "gan":
    # The DCGAN baseline: Adam 2e-4, beta1 0.5, one discriminator step, no clipping.
    c.schedule.update(dict(n_critic=1, official_schedule=False))
    base.set_optimizers(c, "gan")
  c.schedule.num_steps = 100_000  # generator iterations (the paper's curves run to about 100k)
  c.schedule.steps_per_dispatch = 10
  c.run.checkpoint_every = 1000
  # FID and KID of 5,000 samples every 10k iterations, when Inception weights are named
  # (--config.image_metrics.inception_weights or $WGAN_JAX_INCEPTION_WEIGHTS; docs/metrics.md).
  c.image_metrics.eval_every = 10_000
  return c
