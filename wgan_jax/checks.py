"""Up-front checks of a run's config (experiments/configs/): before anything is read or written.

``check_config(config)`` raises ``ConfigError`` with one line naming the first setting that cannot
work (a value out of range, an unknown name, a combination that is wrong) and returns one-line
warnings for combinations that are legal but known to train poorly. Heavier checks that need the
networks (an image size the DCGAN cannot produce) or the data (a missing folder) follow in
``experiment.build``, still before anything is written.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable

from wgan_jax import steps as steps_lib
from wgan_jax.data import toy

CRITIC_NORMS = ("batch", "layer", "none")
GAN_GENERATOR_LOSSES = ("nonsaturating", "minimax")
OPTIMIZERS = ("rmsprop", "adam")
TOY_NETWORKS = {"generator": ("toy_mlp",), "critic": ("toy_mlp", "toy_autoencoder")}
AUTOENCODER_CRITICS = ("dcgan_autoencoder", "toy_autoencoder")
DCGAN_NETWORKS = ("dcgan", "dcgan_nobn_constant", "dcgan_autoencoder")
DTYPES = ("float32", "bfloat16")
# Fields every run reads; a config file without one fails here, not deep inside the run.
REQUIRED = ("method", "dataset", "image_size", "channels", "generator", "critic", "critic_norm",
            "features", "nz", "mlp_hidden", "batch_size", "n_critic", "official_schedule",
            "gp_weight", "gan_generator_loss", "margin", "generator_optimizer",
            "critic_optimizer", "num_steps", "steps_per_dispatch", "unroll", "checkpoint_every",
            "keep_checkpoints", "seed")


# The step counter, the networks' shapes and the scanned loops' lengths are int32 (JAX without
# x64), so no count can exceed this; a larger one fails deep inside a trace.
MAX_COUNT = 2**31 - 1
# jax.random.key and numpy's generators take any 32-bit seed, and the runs derive a few more
# seeds by adding small offsets, which stay within int64.
MAX_SEED = 2**32 - 1


class ConfigError(ValueError):
  """A config or workdir that cannot run; nothing has been written."""


def memory_bytes() -> int:
  """Memory of the first device: what an accelerator reports, else the host's physical RAM."""
  import jax
  stats = jax.local_devices()[0].memory_stats() or {}
  if stats.get("bytes_limit"):
    return int(stats["bytes_limit"])
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _gib(n: int) -> str:
  return f"{n / 2**30:,.1f} GiB"


def check_count(name: str, value: Any, low: int = 1,
                bytes_of: Callable[[int], int] | None = None, what: str = "") -> None:
  """ConfigError unless ``value`` is an integer in [low, MAX_COUNT] and ``bytes_of(value)``
  bytes (``what`` says of what; growing with the value) fit in the memory of the device; the
  message names the largest value that does."""
  if not _is_int(value):
    raise ConfigError(f"{name} must be an integer, got {value!r}")
  if value < low:
    raise ConfigError(f"{name} must be at least {low}, got {value!r}")
  if value > MAX_COUNT:
    raise ConfigError(f"{name} must be at most {MAX_COUNT} (counts and shapes are 32-bit "
                      f"integers), got {value}")
  if bytes_of is not None:
    have = memory_bytes()
    if bytes_of(value) > have:
      fits, too_big = low - 1, value  # bisection: bytes_of(fits) <= have < bytes_of(too_big)
      while too_big - fits > 1:
        middle = (fits + too_big) // 2
        fits, too_big = (middle, too_big) if bytes_of(middle) <= have else (fits, middle)
      raise ConfigError(f"{name}={value} needs at least {_gib(bytes_of(value))} for {what}, "
                        f"more than the {_gib(have)} of memory here; use at most {fits}")


def check_state_fits(template, settings: str) -> None:
  """ConfigError when a run's state (``template``: its shapes, from ``jax.eval_shape``) cannot
  fit in the memory of the device; ``settings`` names what sets its size."""
  import jax
  import numpy as np
  need = sum(int(np.prod(leaf.shape, dtype=object)) * np.dtype(leaf.dtype).itemsize
             for leaf in jax.tree.leaves(template))
  have = memory_bytes()
  if need > have:
    raise ConfigError(f"the networks and optimiser states need {_gib(need)}, more than the "
                      f"{_gib(have)} of memory here; lower {settings}")


def check_seed(name: str, value: Any) -> None:
  """ConfigError unless ``value`` is a seed in [0, MAX_SEED]."""
  if not _is_int(value):
    raise ConfigError(f"{name} must be an integer, got {value!r}")
  if value < 0:
    raise ConfigError(f"{name} must be at least 0, got {value}")
  if value > MAX_SEED:
    raise ConfigError(f"{name} must be at most {MAX_SEED} (seeds are 32-bit), got {value}")


def example_bytes(config) -> int:
  """A lower bound on the memory one example of a batch takes in a run of ``config``: the real
  and the generated sample, its noise and the widest layer's activations, in float32."""
  if config.dataset in toy.DATASETS:
    sample = 2
  else:
    sample = config.image_size ** 2 * config.channels
  if config.generator in DCGAN_NETWORKS or config.critic in DCGAN_NETWORKS:
    width = config.features * (config.image_size // 2) ** 2  # the critic's first convolution
  else:
    width = config.mlp_hidden
  return 4 * (2 * sample + config.nz + width)


def _is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _at_least(config, name: str, low: int) -> None:
  check_count(f"--config.{name}", config[name], low)


def _one_of(config, name: str, choices, what: str | None = None) -> None:
  value = config[name]
  if value not in choices:
    raise ConfigError(f"--config.{name}: unknown {what or name} {value!r}; "
                      f"choose from {', '.join(choices)}")


def _positive(name: str, value: Any) -> None:
  if not _is_number(value) or not (math.isfinite(value) and value > 0):
    raise ConfigError(f"--config.{name} must be a finite number above 0, got {value!r}")


def _check_optimizer(config, which: str) -> None:
  opt = config[which]
  for field in ("name", "learning_rate", "b1", "b2"):
    if field not in opt:
      raise ConfigError(f"--config.{which} has no field {field!r}")
  if opt.name not in OPTIMIZERS:
    raise ConfigError(f"--config.{which}.name: unknown optimiser {opt.name!r}; "
                      f"choose from {', '.join(OPTIMIZERS)}")
  _positive(f"{which}.learning_rate", opt.learning_rate)
  for beta in ("b1", "b2"):
    value = opt[beta]
    if not _is_number(value) or not 0 <= value < 1:
      raise ConfigError(f"--config.{which}.{beta} must lie in [0, 1), got {value!r}")
  clip = opt.get("clip")
  if clip is not None:
    _positive(f"{which}.clip", clip)


def check_config(config) -> list[str]:
  """Raises ConfigError naming the first setting that cannot work; returns warnings."""
  for name in REQUIRED:
    if name not in config:
      raise ConfigError(f"the config has no field {name!r} (see experiments/configs/mnist.py)")
  _one_of(config, "method", steps_lib.METHODS, "method")
  if not isinstance(config.dataset, str) or not config.dataset.strip():
    raise ConfigError(f"--config.dataset must name a dataset, got {config.dataset!r}")
  for name in ("num_steps", "checkpoint_every", "steps_per_dispatch", "keep_checkpoints",
               "features", "nz", "mlp_hidden", "batch_size", "n_critic"):
    _at_least(config, name, 1)
  for name in ("data_limit", "stream_pool"):
    if name in config:
      _at_least(config, name, 0)
  check_seed("--config.seed", config.seed)
  if config.channels not in (1, 3) or isinstance(config.channels, bool):
    raise ConfigError(f"--config.channels must be 1 or 3, got {config.channels!r}")
  _one_of(config, "critic_norm", CRITIC_NORMS, "critic norm")
  _one_of(config, "gan_generator_loss", GAN_GENERATOR_LOSSES, "generator loss")
  for name in ("official_schedule", "unroll"):
    if not isinstance(config[name], bool):
      raise ConfigError(f"--config.{name} must be True or False, got {config[name]!r}")
  if not _is_number(config.gp_weight) or not (math.isfinite(config.gp_weight)
                                              and config.gp_weight >= 0):
    raise ConfigError(f"--config.gp_weight must be a finite number of at least 0, "
                      f"got {config.gp_weight!r}")
  _positive("margin", config.margin)
  for which in ("generator_optimizer", "critic_optimizer"):
    _check_optimizer(config, which)

  from wgan_jax import experiment  # its tables name the networks
  _one_of(config, "generator", tuple(experiment.GENERATORS), "generator")
  _one_of(config, "critic", tuple(experiment.CRITICS), "critic")
  from wgan_jax import models
  if config.generator in DCGAN_NETWORKS or config.critic in DCGAN_NETWORKS:
    try:
      models.dcgan_geometry(config.image_size)
    except ValueError as e:
      raise ConfigError(f"--config.image_size: {e}") from None
  check_count("--config.batch_size", config.batch_size, 1,
              lambda n: n * example_bytes(config), "one batch's samples and activations")
  if "dtype" in config and config.dtype not in DTYPES:
    raise ConfigError(f"--config.dtype: unknown dtype {config.dtype!r}; "
                      f"choose from {', '.join(DTYPES)}")
  if "data_parallel" in config:
    if not isinstance(config.data_parallel, bool):
      raise ConfigError(f"--config.data_parallel must be True or False, "
                        f"got {config.data_parallel!r}")
    import jax
    devices = jax.device_count()
    if config.data_parallel and config.batch_size % devices:
      raise ConfigError(f"--config.batch_size={config.batch_size} is not divisible by the "
                        f"{devices} devices that --config.data_parallel splits it over")
  is_toy = config.dataset in toy.DATASETS
  for role in ("generator", "critic"):
    toy_net = config[role] in TOY_NETWORKS[role]
    if is_toy and not toy_net:
      raise ConfigError(f"--config.{role}={config[role]!r} is an image network but "
                        f"--config.dataset={config.dataset!r} is 2-D: use "
                        f"{' or '.join(TOY_NETWORKS[role])}")
    if not is_toy and toy_net:
      raise ConfigError(f"--config.{role}={config[role]!r} is a 2-D network but "
                        f"--config.dataset={config.dataset!r} holds images")
  autoencoder = config.critic in AUTOENCODER_CRITICS
  if config.method == "ebgan" and not autoencoder:
    raise ConfigError(f"--config.method=ebgan needs an autoencoder critic "
                      f"({' or '.join(AUTOENCODER_CRITICS)}), got {config.critic!r}")
  if config.method != "ebgan" and autoencoder:
    raise ConfigError(f"--config.critic={config.critic!r} scores with an energy, which only "
                      f"--config.method=ebgan uses; got method {config.method!r}")
  if config.method == "wgan-gp" and config.critic == "dcgan" and config.critic_norm == "batch":
    raise ConfigError("--config.critic_norm=batch with --config.method=wgan-gp: the gradient "
                      "penalty needs a critic without BatchNorm (use layer or none)")
  return _warnings(config)


def _warnings(config) -> list[str]:
  warnings = []
  critic_opt = config.critic_optimizer
  clipped = critic_opt.get("clip") is not None
  if clipped and critic_opt.name == "adam":
    if critic_opt.b1 > 0:
      warnings.append(
          f"weight clipping with Adam and beta1={critic_opt.b1} (--config.critic_optimizer): "
          "the WGAN paper found momentum made a clipped critic's training unstable; it uses "
          "rmsprop")
    else:
      warnings.append(
          "weight clipping with Adam (--config.critic_optimizer): the WGAN paper trains a "
          "clipped critic with rmsprop, which it found more stable")
  if config.method == "wgan" and not clipped:
    warnings.append("--config.method=wgan without --config.critic_optimizer.clip: nothing keeps "
                    "the critic Lipschitz, so its estimate is no Wasserstein distance")
  if config.method != "wgan" and clipped:
    warnings.append(f"--config.critic_optimizer.clip with --config.method={config.method}: "
                    "weight clipping belongs to WGAN; it restricts this critic for no purpose")
  if config.generator_optimizer.get("clip") is not None:
    warnings.append("--config.generator_optimizer.clip: clipping the generator's weights is "
                    "part of no method and limits what it can generate")
  if config.method == "wgan-gp" and config.gp_weight == 0:
    warnings.append("--config.gp_weight=0 with --config.method=wgan-gp: without its penalty "
                    "the critic is unconstrained")
  dispatch = math.gcd(config.steps_per_dispatch, config.checkpoint_every, config.num_steps)
  if dispatch < config.steps_per_dispatch:
    warnings.append(f"--config.steps_per_dispatch={config.steps_per_dispatch} does not divide "
                    f"checkpoint_every={config.checkpoint_every} and num_steps="
                    f"{config.num_steps}: each dispatch runs {dispatch} steps instead")
  return warnings
