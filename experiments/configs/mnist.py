r"""WGAN on the offline MNIST digits (28x28), DCGAN generator and critic; the paper's settings.

    python experiments/train_images.py --config=experiments/configs/mnist.py --workdir=runs/mnist_wgan
    python experiments/train_images.py --config=experiments/configs/mnist.py:quick --workdir=/tmp/q

Any field can be overridden: --config.method=wgan-gp --config.critic_norm=layer
--config.generator=mlp --config.n_critic=5 ... The ``quick`` variant shrinks the run to a smoke test.
"""

import ml_collections
from ml_collections import config_dict


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.method = "wgan"  # wgan | wgan-gp | gan | ebgan
  c.dataset = "mnist_offline"  # a tfds name, folder:<path>, mnist_offline, or a toy name (ring8)
  c.data_dir = ""  # where tfds datasets are prepared ("" = the tfds default)
  c.data_limit = 0  # keep the first data_limit images (0 = all); the set is held in memory
  # 0: the set is held on the device. n > 0: streamed from the host instead, each generator
  # iteration drawing its real batches from a fresh pool of n images (for sets like LSUN).
  c.stream_pool = 0
  c.image_size = 28
  c.channels = 1
  c.generator = "dcgan"  # dcgan | dcgan_nobn_constant | mlp
  c.critic = "dcgan"  # dcgan | mlp | dcgan_autoencoder (EBGAN)
  c.critic_norm = "batch"  # batch | layer | none; WGAN-GP needs layer or none
  c.features = 64  # filters at the DCGAN networks' widest end
  c.nz = 100  # noise dimension
  c.mlp_hidden = 512  # units per layer of the MLP generator and critic
  c.batch_size = 64
  c.n_critic = 5
  c.official_schedule = True  # 100 critic iterations for the first 25 generator iterations
  c.gp_weight = 10.0  # WGAN-GP's lambda
  c.gan_generator_loss = "nonsaturating"  # GAN: -log D, or minimax
  c.margin = 10.0  # EBGAN's m
  # Algorithm 1: RMSProp lr 5e-5 for both networks, the critic clipped to [-0.01, 0.01].
  # clip is a typed reference, so that --config.<which>_optimizer.clip=0.1 can set it when None.
  c.generator_optimizer = ml_collections.ConfigDict(
      dict(name="rmsprop", learning_rate=5e-5, b1=0.5, b2=0.999,
           clip=config_dict.placeholder(float)), type_safe=False)
  c.critic_optimizer = ml_collections.ConfigDict(
      dict(name="rmsprop", learning_rate=5e-5, b1=0.5, b2=0.999,
           clip=config_dict.FieldReference(0.01, field_type=float)),
      type_safe=False)
  c.num_steps = 5000  # generator iterations
  c.steps_per_dispatch = 1  # training steps scanned per Python dispatch
  # Unroll the critic iterations and the dispatched steps instead of looping: compiles longer,
  # runs no faster with the DCGAN layers of wgan_jax/models.py (see GANSpec.unroll).
  c.unroll = False
  # Compute dtype of the networks' matmuls and convolutions: float32 | bfloat16 (parameters stay
  # float32). bfloat16 is for accelerators; XLA on CPU emulates it and runs slower.
  c.dtype = "float32"
  # Split each batch over every device (of every host after jax.distributed.initialize());
  # batch_size must be a multiple of the device count. See wgan_jax/parallel.py.
  c.data_parallel = False
  c.checkpoint_every = 250  # checkpoint and sample sheet every this many steps
  c.keep_checkpoints = 2
  c.seed = 0
  if variant == "quick":
    c.num_steps, c.checkpoint_every = 20, 10
    c.features, c.batch_size, c.mlp_hidden = 8, 16, 32
    c.official_schedule = False  # its 100-iteration critic warm-up is most of a short run
  elif variant:
    raise ValueError(f"unknown variant {variant!r} of mnist.py; the one variant is 'quick'")
  return c
