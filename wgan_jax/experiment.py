"""From a config (wgan_jax/configs/) to the parts of a run: data, networks, optimisers, steps.

``build(config)`` is the one place where a ``GANSpec`` is made; every experiment, paper part and
benchmark goes through it. Names in the config are looked up in the tables below, so that a typo
is an error that lists the choices rather than an AttributeError deep inside a run.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from wgan_jax import models
from wgan_jax import optim
from wgan_jax import parallel
from wgan_jax import steps as steps_lib
from wgan_jax.configs import base
from wgan_jax.data import device as device_lib
from wgan_jax.data import sources
from wgan_jax.data import stream
from wgan_jax.data import toy

# The compute dtype of the networks' matmuls and convolutions (config.run.dtype); parameters stay
# float32 (see wgan_jax/models.py).
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class Network:
  """A network by name: how it is built, and the traits that ``checks`` reads.

  ``build(section, data, dtype)`` makes the Flax module from the network's config section, the
  data section and the compute dtype. ``toy``: it draws or scores samples of a toy distribution
  (else images); ``dims``: a toy generator's sample dimension; ``autoencoder``: it scores with a
  reconstruction energy (EBGAN's critic); ``dcgan``: strided convolutions, so the image size must
  suit ``models.dcgan_geometry``.
  """
  build: Callable[[Any, Any, Any], nn.Module]
  toy: bool = False
  dims: int | None = None
  autoencoder: bool = False
  dcgan: bool = False


GENERATORS = {
    "dcgan": Network(lambda g, data, dtype: models.DCGANGenerator(
        data.image_size, data.channels, noise_dim=g.noise_dim, features=g.features, dtype=dtype),
        dcgan=True),
    # The WGAN paper's Figure 7: no BatchNorm and the same number of filters in every layer.
    "dcgan_nobn_constant": Network(lambda g, data, dtype: models.DCGANGenerator(
        data.image_size, data.channels, noise_dim=g.noise_dim, features=g.features,
        batch_norm=False, constant_features=True, dtype=dtype), dcgan=True),
    "mlp": Network(lambda g, data, dtype: models.MLPGenerator(
        data.image_size, data.channels, hidden=g.hidden, layers=g.depth, dtype=dtype)),
    "toy_mlp": Network(lambda g, data, dtype: models.MLP((g.hidden,) * g.depth, 2, dtype=dtype),
                       toy=True, dims=2),
    "parallel_line": Network(lambda g, data, dtype: models.ParallelLine(g.theta), toy=True,
                             dims=2),
    # The paper's Figure 3: gaussian_1d shifted by θ (generator.theta).
    "shifted_gaussian": Network(lambda g, data, dtype: models.ShiftedGaussian(
        g.theta, toy.GAUSSIAN_1D_STD), toy=True, dims=1),
}
CRITICS = {
    "dcgan": Network(lambda c, data, dtype: models.DCGANCritic(
        data.image_size, data.channels, features=c.features, norm=c.norm, dtype=dtype),
        dcgan=True),
    "mlp": Network(lambda c, data, dtype: models.MLPCritic(hidden=c.hidden, layers=c.depth,
                                                           dtype=dtype)),
    "dcgan_autoencoder": Network(lambda c, data, dtype: models.DCGANAutoencoder(
        data.image_size, data.channels, features=c.features), autoencoder=True, dcgan=True),
    "toy_mlp": Network(lambda c, data, dtype: models.MLP((c.hidden,) * c.depth, 1, dtype=dtype),
                       toy=True),
    # An encoder and a decoder of one layer less than the toy MLPs, the code in the middle.
    "toy_autoencoder": Network(lambda c, data, dtype: models.MLPAutoencoder(
        (c.hidden,) * max(c.depth - 1, 1)), toy=True, autoencoder=True),
}
# Image datasets beyond tfds and folders: uniform noise in [-1, 1], for throughput measurements
# whose rate does not depend on what the images show.
UNIFORM_IMAGES = "uniform_images"


@dataclasses.dataclass(frozen=True)
class Run:
  spec: steps_lib.GANSpec
  steps: steps_lib.Steps
  data: Any  # the in-memory dataset passed to the steps, or None for a toy distribution
  estimate_name: str
  scale: float  # the toy data was divided by this for training; samples are multiplied back
  mesh: Any = None  # the devices of a data-parallel run (wgan_jax.parallel), else None


def _choose(table: dict, name: str, what: str):
  if name not in table:
    raise ValueError(f"unknown {what} {name!r}; choose from {', '.join(table)}")
  return table[name]


def _optimizer(opt, updates: int, record_cosine: bool = False) -> optax.GradientTransformation:
  """The optax transform of an optimiser section over a run of ``updates`` updates.

  ``record_cosine`` records cos(update, -gradient) inside the clipping (see
  ``optim.with_update_cosine``).
  """
  lr = optax.linear_schedule(opt.learning_rate, 0.0, updates) if opt.decay else None
  return optim.make_optimizer(
      optim.OptimizerConfig(opt.name, opt.learning_rate, opt.b1, opt.b2, opt.get("clip")), lr,
      record_cosine=record_cosine)


def _data(config, with_data: bool, mesh):
  """(sample_real, data, scale) of the run's dataset; ``mesh`` splits a streamed batch."""
  d = config.data
  if d.dataset in toy.DATASETS:
    dataset = toy.get_dataset(d.dataset)
    scale = toy.DATA_SCALE.get(d.dataset, 1.0) if d.scale_data else 1.0
    if scale == 1.0:
      return dataset.sample, None, scale
    return (lambda key, n: dataset.sample(key, n) / scale), None, scale
  if d.dataset == UNIFORM_IMAGES:
    shape = (d.image_size, d.image_size, d.channels)
    return (lambda key, n: jax.random.uniform(key, (n, *shape), minval=-1.0)), None, 1.0
  if not with_data:
    return None, None, 1.0
  # Either way critic iteration j reads batch j of the run's epoch order (config.run.seed).
  seed, s = config.run.seed, config.schedule
  if d.stream:
    # Too big for the device: each dispatch's batches read from the host, each process reading
    # the rows of each batch that its devices hold.
    image_set = sources.open_images(d.dataset, d.image_size, d.channels,
                                    data_dir=d.data_dir or None)
    sharding = None if mesh is None else parallel.stream_sharding(mesh)
    critic_iters = lambda steps: np.asarray(steps_lib.critic_iterations_of(
        s.n_critic, s.official_schedule, steps))
    data = stream.StreamFeed(image_set, s.batch_size, seed, critic_iters, sharding)
    return ((lambda critic_iter, n, fed: stream.StreamFeed.draw(fed, critic_iter, n)), data, 1.0)
  pixels = sources.load_images(d.dataset, d.image_size, d.channels, data_dir=d.data_dir or None,
                               limit=d.limit or None, dtype=np.uint8)
  if mesh is None:
    data = device_lib.device_sampler(pixels, seed=seed).images
  else:
    # A copy on every device, from each process's own host copy: each device reads its rows of
    # a batch from its copy inside the step.
    data = parallel.replicate(pixels, mesh)
  return ((lambda critic_iter, n, images: device_lib.DeviceSampler.draw(images, critic_iter, n,
                                                                        seed)), data, 1.0)


def build(config, with_data: bool = True) -> Run:
  """The run ``config`` describes; ValueError names a setting that cannot work.

  ``with_data=False`` skips loading an image dataset, for a run that only generates.
  """
  # The batch split over every device (of every process).
  mesh = parallel.data_mesh() if config.run.data_parallel else None
  sample_real, data, scale = _data(config, with_data, mesh)
  dtype = DTYPES[config.run.dtype]
  s = config.schedule
  critic_updates = 0
  if config.critic_optimizer.decay:
    # Learning-rate schedules count optimiser updates: the critic makes several per generator
    # iteration.
    critic_updates = int(jnp.sum(steps_lib.critic_iterations_of(
        s.n_critic, s.official_schedule, jnp.arange(s.num_steps))))
  o = config.objective
  spec = steps_lib.GANSpec(
      generator=_choose(GENERATORS, config.generator.name, "generator").build(
          config.generator, config.data, dtype),
      critic=_choose(CRITICS, config.critic.name, "critic").build(config.critic, config.data,
                                                                  dtype),
      generator_tx=_optimizer(config.generator_optimizer, s.num_steps),
      critic_tx=_optimizer(config.critic_optimizer, critic_updates,
                          record_cosine=config.run.log_update_cosine),
      objective=steps_lib.Objective(o.method, gp_weight=o.gp_weight, one_sided_gp=o.one_sided_gp,
                                    gan_generator_loss=o.gan_generator_loss, margin=o.margin),
      sample_real=sample_real, noise_dim=config.generator.noise_dim, batch_size=s.batch_size,
      n_critic=s.n_critic, official_schedule=s.official_schedule, unroll=s.unroll,
      log_update_cosine=config.run.log_update_cosine,
      sample_statistics=config.run.sample_statistics)
  if mesh is not None:
    spec = parallel.data_parallel_spec(spec, mesh)
  return Run(spec, steps_lib.make_steps(spec), data, steps_lib.ESTIMATE_NAMES[o.method], scale,
             mesh)


def variant(config, name: str) -> ml_collections.ConfigDict:
  """The run ``name`` of a config with ``variants``: ``config`` without its ``sweep`` and
  ``variants`` sections, with ``config.variants.<configs.base.variant_key(name)>`` merged in,
  section by section."""
  run = ml_collections.ConfigDict(
      {k: v for k, v in config.to_dict().items() if k not in ("sweep", "variants")})
  for section, fields in config.variants[base.variant_key(name)].items():
    if section in run:
      run[section].update(fields)
    else:  # a section left to the variants (configs.base.leave_to_variants), copied
      run[section] = ml_collections.ConfigDict(fields.to_dict())
  return run


def sweep(config) -> dict[str, ml_collections.ConfigDict]:
  """The runs of a sweep config, by name: ``<dataset>/<run>`` for each of
  ``config.sweep.datasets`` (or ``<run>`` when it is empty) and each ``variant`` of
  ``config.sweep.runs``."""
  runs = {}
  for dataset in [d for d in config.sweep.datasets.split(",") if d] or [None]:
    for name in [r for r in config.sweep.runs.split(",") if r]:
      run = variant(config, name)
      if dataset is not None:
        run.data.dataset = dataset
      runs[name if dataset is None else f"{dataset}/{name}"] = run
  return runs
