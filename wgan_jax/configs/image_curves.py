r"""The WGAN paper's Figures 4, 5 and 9: the critic's estimate against sample quality on MNIST.

    python experiments/reproduce_paper.py --parts=image_curves --workdir=runs/paper

The runs of the architectures part (wgan_jax/configs/architectures.py) that the figures show:
WGAN with the DCGAN and the MLP generator against the DCGAN critic (Figure 4, left and middle),
GAN with the same two generators (Figures 5 and 9); and one run of Figure 4's right: an MLP
generator and an MLP critic, WGAN with a learning rate ten times Algorithm 1's (5e-4 for both
networks, as the adam part's "lr x10") and the official critic schedule, which the paper reports
to fail; the architectures part's 2,000 generator iterations. Every run keeps its ten
checkpoints (one every 200 iterations), each judged by the digit classifier.
"""

import re

from wgan_jax.configs import architectures
from wgan_jax.configs import base
from wgan_jax.configs import mnist_reproduction
from wgan_jax.configs import validate

HIGH_LR = "wgan_mlp_mlp_high_lr"
RUNS = ("wgan_dcgan", "wgan_mlp", HIGH_LR, "gan_dcgan", "gan_mlp")


def get_config(variant: str = ""):
  base.check_variant(__file__, variant, "quick")
  c = architectures.get_config(variant)
  c.variants[HIGH_LR] = dict(
      objective=dict(method="wgan"), generator=dict(name="mlp"), critic=dict(name="mlp"),
      schedule=dict(n_critic=5, official_schedule=True),
      generator_optimizer=base.optimizer("rmsprop", 5e-4),
      critic_optimizer=base.optimizer("rmsprop", 5e-4, clip=0.01))
  c.sweep.runs = ",".join(RUNS)
  c.eval.update(dict(
      samples=500,  # generated digits judged at each checkpoint
      # The part whose runs (in the sibling folder <workdir>/../<reuse>) are used when they are
      # the same runs and finished; "" trains every run here.
      reuse="architectures",
  ))
  if variant == "quick":  # three checkpoints of tiny networks
    c.schedule.num_steps = 3
    c.run.update(dict(checkpoint_every=1, keep_checkpoints=4))
    c.sweep.runs = f"{HIGH_LR},gan_mlp"
    c.eval.update(dict(samples=50, reuse=""))
  return c


def check(config) -> None:
  """ConfigError for the MNIST reproduction's ``eval`` section, or for an ``eval.reuse`` that is
  not a part's name."""
  mnist_reproduction.check(config)
  reuse = config.eval.get("reuse", "")
  if not isinstance(reuse, str) or not re.fullmatch(r"[A-Za-z0-9_]*", reuse):
    raise validate.ConfigError(f"--config.eval.reuse must be a part's name (a folder beside this "
                               f"part's), got {reuse!r}")
