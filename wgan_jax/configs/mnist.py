r"""WGAN on the offline MNIST digits (28x28), DCGAN generator and critic; the paper's settings.

    python experiments/train_images.py --config=wgan_jax/configs/mnist.py --workdir=runs/mnist_wgan
    python experiments/train_images.py --config=wgan_jax/configs/mnist.py:quick --workdir=/tmp/q

Any field can be overridden: --config.objective.method=wgan-gp --config.critic.norm=layer
--config.generator.name=mlp --config.schedule.n_critic=5 ... ``quick`` shrinks the run to a
smoke test; ``gp`` is WGAN-GP with its paper's settings, ``quick_gp`` both.
"""

from wgan_jax.configs import base


def get_config(variant: str = ""):
  base.check_variant(__file__, variant, "quick", "gp", "quick_gp")
  c = base.get_config()
  if variant in ("gp", "quick_gp"):
    # WGAN-GP (Gulrajani et al.): a LayerNorm critic, no clipping, the paper's Adam, lambda 10.
    c.objective.method, c.critic.norm = "wgan-gp", "layer"
    base.set_optimizers(c, "wgan-gp")
  if variant in ("quick", "quick_gp"):
    c.schedule.num_steps, c.run.checkpoint_every = 20, 10
    c.generator.features = c.critic.features = 8
    c.generator.hidden = c.critic.hidden = 32
    c.schedule.batch_size = 16
    c.schedule.official_schedule = False  # its 100-iteration critic warm-up is most of a short run
  return c
