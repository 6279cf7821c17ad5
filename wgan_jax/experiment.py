"""From a config (experiments/configs/) to the parts of a run: data, networks, optimisers, steps.

Names in the config are looked up in the tables below, so that a typo is an error that lists the
choices rather than an AttributeError deep inside a run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np

from wgan_jax import models
from wgan_jax import optim
from wgan_jax import parallel
from wgan_jax import steps as steps_lib
from wgan_jax.data import images as images_lib
from wgan_jax.data import toy

# The compute dtype of the networks' matmuls and convolutions (config.dtype); parameters stay
# float32 (see wgan_jax/models.py).
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _dtype(c):
  return _choose(DTYPES, c.get("dtype", "float32"), "dtype")


GENERATORS = {
    "dcgan": lambda c: models.DCGANGenerator(c.image_size, c.channels, nz=c.nz,
                                             features=c.features, dtype=_dtype(c)),
    # The paper's Figure 7: no BatchNorm and the same number of filters in every layer.
    "dcgan_nobn_constant": lambda c: models.DCGANGenerator(
        c.image_size, c.channels, nz=c.nz, features=c.features, batch_norm=False,
        constant_features=True, dtype=_dtype(c)),
    "mlp": lambda c: models.MLPGenerator(c.image_size, c.channels, hidden=c.mlp_hidden, layers=4,
                                         dtype=_dtype(c)),
    "toy_mlp": lambda c: models.MLP((c.mlp_hidden,) * 3, 2, dtype=_dtype(c)),
}
CRITICS = {
    "dcgan": lambda c: models.DCGANCritic(c.image_size, c.channels, features=c.features,
                                          norm=c.critic_norm, dtype=_dtype(c)),
    "mlp": lambda c: models.MLPCritic(hidden=c.mlp_hidden, layers=4, dtype=_dtype(c)),
    "dcgan_autoencoder": lambda c: models.DCGANAutoencoder(c.image_size, c.channels,
                                                           features=c.features),
    "toy_mlp": lambda c: models.MLP((c.mlp_hidden,) * 3, 1, dtype=_dtype(c)),
    "toy_autoencoder": lambda c: models.MLPAutoencoder((c.mlp_hidden,) * 2),
}


@dataclasses.dataclass(frozen=True)
class Run:
  steps: steps_lib.Steps
  data: Any  # the in-memory dataset passed to the steps, or None for a toy distribution
  estimate_name: str


def _choose(table: dict, name: str, what: str):
  if name not in table:
    raise ValueError(f"unknown {what} {name!r}; choose from {', '.join(table)}")
  return table[name]


def _optimizer(c) -> optim.OptimizerConfig:
  return optim.OptimizerConfig(c.name, c.learning_rate, c.b1, c.b2, c.get("clip"))


def build(config, with_data: bool = True) -> Run:
  """The run ``config`` describes; ValueError names a setting that cannot work.

  ``with_data=False`` skips loading the dataset, for a run that only generates.
  """
  if config.dataset in toy.DATASETS:
    sample_real, data = toy.get_dataset(config.dataset).sample, None
  elif not with_data:
    sample_real, data = None, None
  elif config.get("stream_pool", 0):
    # Too big for the device: pools of images read from the host for every step (HostFeed).
    image_set = images_lib.open_images(config.dataset, config.image_size, config.channels,
                                       data_dir=config.get("data_dir") or None)
    device = (parallel.replicated(parallel.data_mesh()) if config.get("data_parallel", False)
              else None)
    data = images_lib.HostFeed(image_set, config.stream_pool, config.seed, device=device)
    sample_real = lambda key, n, pool: images_lib.DeviceSampler.draw(pool, key, n)
  else:
    pixels = images_lib.load_images(config.dataset, config.image_size, config.channels,
                                    data_dir=config.get("data_dir") or None,
                                    limit=config.get("data_limit") or None, dtype=np.uint8)
    data = images_lib.device_sampler(pixels).images
    sample_real = lambda key, n, images: images_lib.DeviceSampler.draw(images, key, n)
  generator = _choose(GENERATORS, config.generator, "generator")(config)
  critic = _choose(CRITICS, config.critic, "critic")(config)
  spec = steps_lib.GANSpec(
      generator=generator, critic=critic,
      generator_tx=optim.make_optimizer(_optimizer(config.generator_optimizer)),
      critic_tx=optim.make_optimizer(_optimizer(config.critic_optimizer)),
      objective=steps_lib.Objective(config.method, gp_weight=config.gp_weight,
                                    gan_generator_loss=config.gan_generator_loss,
                                    margin=config.margin),
      sample_real=sample_real, noise_dim=config.nz, batch_size=config.batch_size,
      n_critic=config.n_critic, official_schedule=config.official_schedule,
      unroll=config.unroll, data_per_step=isinstance(data, images_lib.HostFeed))
  if config.get("data_parallel", False):
    # The batch split over every device (of every host); the dataset copied to each.
    mesh = parallel.data_mesh()
    spec = parallel.data_parallel_spec(spec, mesh)
    if not isinstance(data, images_lib.HostFeed):  # a HostFeed puts its pools on every device
      data = parallel.replicate(data, mesh)
  return Run(steps_lib.make_steps(spec), data, steps_lib.ESTIMATE_NAMES[config.method])

