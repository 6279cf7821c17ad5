r"""The one config schema: every run is this ConfigDict with some fields changed.

An experiment's module (beside this one) starts from ``get_config()`` and overrides what differs;
a launcher loads it with ``--config=wgan_jax/configs/<module>.py[:variant]`` and any field can be
set with ``--config.<section>.<field>=<value>``. ``wgan_jax/checks.py`` validates every field,
``wgan_jax/experiment.py`` turns the config into data, networks, optimisers and steps.
"""

import os

import ml_collections
from ml_collections import config_dict

from wgan_jax import optim


def optimizer(name: str = "rmsprop", learning_rate: float = 5e-5, b1: float = 0.5,
              b2: float = 0.999, clip: float | None = None) -> ml_collections.ConfigDict:
  """One network's optimiser section."""
  return ml_collections.ConfigDict(dict(
      name=name,  # rmsprop (PyTorch's, as the official WGAN code) | adam | frozen (no updates)
      learning_rate=learning_rate,
      b1=b1,  # Adam's beta1 (RMSProp ignores it)
      b2=b2,  # Adam's beta2
      # Clip every parameter to [-clip, clip] after each update (WGAN's Lipschitz constraint);
      # None: no clipping. A typed placeholder, so that --config.<...>.clip=0.1 can set it.
      clip=config_dict.placeholder(float) if clip is None else
      config_dict.FieldReference(clip, field_type=float),
      # Decay the learning rate linearly to 0 over the run (the WGAN-GP CIFAR-10 script does).
      decay=False,
  ), type_safe=False)


def set_optimizers(c: ml_collections.ConfigDict, method: str, **fields) -> None:
  """Both optimiser sections of ``c`` set to the paper's settings for ``method``
  (``optim.PAPER_OPTIMIZERS``), then to ``fields`` (learning_rate=4e-4, ...)."""
  for section, paper in zip((c.generator_optimizer, c.critic_optimizer),
                            optim.PAPER_OPTIMIZERS[method]):
    section.update({**dict(name=paper.name, learning_rate=paper.learning_rate, b1=paper.b1,
                           b2=paper.b2, clip=paper.clip), **fields})


def check_variant(module_file: str, variant: str, *known: str) -> None:
  """ValueError unless ``variant`` is "" or one of ``known``, the variants of the config module
  at ``module_file``."""
  if variant and variant not in known:
    raise ValueError(f"unknown variant {variant!r} of {os.path.basename(module_file)}; choose "
                     f"from {', '.join(known)}")


def variant_key(name: str) -> str:
  """The key of the run ``name`` (wgan-gp, adam_b1_0.5) in a config's ``variants``: field names
  hold no '-' or '.'."""
  return name.replace("-", "_").replace(".", "_")


def variant_field(config, key: str, section: str, field: str):
  """``section.field`` of the variant ``key`` of ``config.variants``: the variant's own value,
  else the shared one (as experiment.variant merges them)."""
  fields = config.variants[key].get(section, {})
  return fields[field] if field in fields else config[section][field]


def leave_to_variants(c: ml_collections.ConfigDict) -> None:
  """Removes from ``c``'s shared sections every field that each of its ``variants`` sets: an
  override there would be replaced in every run, so it must name the variant instead
  (``--config.variants.<run>.<section>.<field>``) and a shared one is refused as unknown."""
  variants = list(c.variants.values())
  for section in list(c.keys()):
    if section in ("variants", "sweep") or not all(section in v for v in variants):
      continue
    for field in set.intersection(*(set(v[section].keys()) for v in variants)):
      if field in c[section]:
        delattr(c[section], field)
    if not c[section].keys():
      delattr(c, section)


def get_config() -> ml_collections.ConfigDict:
  """WGAN on the offline MNIST digits with the paper's Algorithm 1; experiments override it."""
  c = ml_collections.ConfigDict()
  c.data = ml_collections.ConfigDict(dict(
      # A tfds name (cifar10, lsun/bedroom), folder:<path>, mnist_offline (installed with the
      # package), or a 2-D toy distribution (ring8, grid25, swissroll).
      dataset="mnist_offline",
      data_dir="",  # where tfds datasets are prepared ("" = the tfds default)
      limit=0,  # keep the first `limit` images (0 = all); the set is held in memory
      # False: the set is held on the device. True: streamed from the host (sets like LSUN),
      # the batches of each dispatch's critic iterations read and decoded as the run goes.
      # Either way critic iteration j takes batch j of shuffled epochs (no image repeats within
      # an epoch), in an order fixed by run.seed.
      stream=False,
      image_size=28,
      channels=1,
      # Toy mixtures: train on the data divided by wgan_jax.data.toy.DATA_SCALE (as the WGAN-GP
      # toy script does); samples and metrics stay in the original coordinates.
      scale_data=False,
  ))
  c.generator = ml_collections.ConfigDict(dict(
      name="dcgan",  # dcgan | dcgan_nobn_constant | mlp | toy_mlp | parallel_line
      features=64,  # DCGAN: filters at the widest end
      hidden=512,  # MLPs: units per hidden layer
      # MLPs: hidden layers. The official MLP_G and MLP_D have 3 of 512 before the output layer,
      # 4 Linear layers in all, which the paper's "4 layers of 512 units" counts.
      depth=3,
      noise_dim=100,  # dimension of the Gaussian noise
      theta=1.0,  # parallel_line: the initial offset θ of g_θ(z) = (θ, z)
  ))
  c.critic = ml_collections.ConfigDict(dict(
      name="dcgan",  # dcgan | mlp | dcgan_autoencoder | toy_mlp | toy_autoencoder (EBGAN)
      features=64,
      hidden=512,
      depth=3,
      norm="batch",  # DCGAN critic: batch | layer | none; WGAN-GP needs layer or none
  ))
  c.objective = ml_collections.ConfigDict(dict(
      method="wgan",  # wgan | wgan-gp | gan | ebgan
      gp_weight=10.0,  # WGAN-GP's lambda
      one_sided_gp=False,  # WGAN-GP: penalise only gradient norms above 1
      gan_generator_loss="nonsaturating",  # GAN: -log D (nonsaturating) or minimax
      margin=10.0,  # EBGAN's m
  ))
  # Algorithm 1: RMSProp lr 5e-5 for both networks, the critic clipped to [-0.01, 0.01].
  c.generator_optimizer = optimizer()
  c.critic_optimizer = optimizer(clip=0.01)
  c.schedule = ml_collections.ConfigDict(dict(
      num_steps=5000,  # generator iterations
      batch_size=64,  # real and fake samples per critic and generator step
      n_critic=5,  # critic iterations per generator iteration
      # The official WGAN code: 100 critic iterations for the first 25 generator iterations and
      # every 500th.
      official_schedule=True,
      steps_per_dispatch=1,  # training steps scanned per Python dispatch
      # Unroll the critic iterations and the dispatched steps instead of looping: compiles
      # longer, runs no faster with the layers of wgan_jax/models.py (see GANSpec.unroll).
      unroll=False,
  ))
  c.run = ml_collections.ConfigDict(dict(
      seed=0,
      # Compute dtype of the matmuls and convolutions: float32 | bfloat16 (parameters stay
      # float32). bfloat16 is for accelerators; XLA on CPU emulates it and runs slower.
      dtype="float32",
      # Split each batch over every device (of every host after jax.distributed.initialize());
      # the batch size must be a multiple of the device count. See wgan_jax/parallel.py.
      data_parallel=False,
      # One run over several processes (a TPU VM slice, a multi-node GPU job): JAX's runtime is
      # started with the coordinator detected (TPU VMs, SLURM) or named by the launcher's flags;
      # needs data_parallel. See docs/performance.md#many-devices-many-processes.
      distributed=False,
      checkpoint_every=250,  # checkpoint and sample sheet every this many steps
      keep_checkpoints=2,
      # Log cos(update, -gradient) of every critic update (the WGAN paper's Section 4.3).
      log_update_cosine=False,
      # The BatchNorm statistics samples are drawn with: batch (each batch of
      # schedule.batch_size normalised by its own, as the official code never leaves train
      # mode) | running (the averages kept during training).
      sample_statistics="batch",
  ))
  c.image_metrics = image_metrics()
  return c


def image_metrics(eval_every: int = 0) -> ml_collections.ConfigDict:
  """FID and KID during training on the FID Inception (wgan_jax/metrics/inception.py,
  docs/metrics.md); experiments/evaluate.py adds the Inception Score and precision/recall."""
  return ml_collections.ConfigDict(dict(
      # The Inception's weights: an .npz converted from pytorch-fid's
      # pt_inception-2015-12-05-6726825d.pth; "" = $WGAN_JAX_INCEPTION_WEIGHTS.
      inception_weights="",
      # FID and KID every this many generator iterations (a multiple of run.checkpoint_every);
      # 0: never. With no weights named the run trains without them and says so; a named file
      # that does not exist is refused.
      eval_every=eval_every,
      num_samples=5000,  # generated and real images per evaluation; FID depends on it
      kid_subset_size=1000,  # torch-fidelity's default (100 subsets)
      resize=299,  # side the images are resized to, bilinearly (299: pytorch-fid's)
  ))
