r"""The configurations benchmarks/bench.py measures: <model>-<method>.

    .venv/bin/python benchmarks/bench.py --models=toy,dcgan32 --methods=wgan,wgan-gp

toy: the official WGAN-GP toy script's networks, 3 x 512 ReLU MLPs, batch 256, on ring8; toy64:
the gaussians reproduction's 3 x 64; dcgan32 and dcgan64: the DCGAN networks with 64 filters,
batch 64, on uniform noise images (a rate does not depend on what the images show). Every one
has n_critic 5, no critic warm-up and the paper's optimisers for its method; WGAN-GP's critic is
LayerNorm instead of BatchNorm.
"""

from wgan_jax.configs import base
from wgan_jax.configs import toy

MODELS = ("toy", "toy64", "dcgan32", "dcgan64")
METHODS = ("wgan", "wgan-gp")


def get_config(variant: str = "toy-wgan"):
  model, _, method = variant.partition("-")
  if model not in MODELS or method not in METHODS:
    raise ValueError(f"unknown variant {variant!r} of bench.py: use <{'|'.join(MODELS)}>-"
                     f"<{'|'.join(METHODS)}>")
  c = base.get_config()
  c.objective.method = method
  base.set_optimizers(c, method)
  c.schedule.update(dict(n_critic=5, official_schedule=False))
  if model.startswith("toy"):
    c.data.dataset = "ring8"
    toy.toy_networks(c, 64 if model == "toy64" else 512)
    c.schedule.batch_size = 256
  else:
    size = int(model[len("dcgan"):])
    c.data.update(dict(dataset="uniform_images", image_size=size, channels=3))
    c.critic.norm = "batch" if method == "wgan" else "layer"
    c.schedule.batch_size = 64
  return c
