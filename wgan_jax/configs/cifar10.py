r"""WGAN-GP on CIFAR-10 32x32 with the DCGAN networks, the settings of the WGAN-GP paper.

    python experiments/train_images.py --config=wgan_jax/configs/cifar10.py --workdir=runs/cifar10_wgan_gp

Adam lr 1e-4, beta1 0, beta2 0.9, lambda 10, n_critic 5, batch 64; the critic has LayerNorm
instead of BatchNorm, which would couple the samples of the per-sample gradient penalty. Meant
for an accelerator.
"""

from wgan_jax.configs import base


def get_config():
  c = base.get_config()
  c.data.update(dict(dataset="cifar10", image_size=32, channels=3))
  c.critic.norm = "layer"
  c.objective.update(dict(method="wgan-gp", gp_weight=10.0))
  base.set_optimizers(c, "wgan-gp")
  c.schedule.update(dict(n_critic=5, official_schedule=False, steps_per_dispatch=10,
                         num_steps=200_000))  # ITERS of the WGAN-GP CIFAR-10 script
  c.run.checkpoint_every = 1000
  # FID and KID of 5,000 samples every 10k iterations, when Inception weights are named
  # (--config.image_metrics.inception_weights or $WGAN_JAX_INCEPTION_WEIGHTS; docs/metrics.md).
  c.image_metrics.eval_every = 10_000
  return c
