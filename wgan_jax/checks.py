"""The one validation of a config (wgan_jax/configs/): before anything is read or written.

``check_config(config)`` raises ``ConfigError`` with one line naming the first setting that cannot
work (a value out of range, an unknown name, a combination that is wrong) and returns one-line
warnings for combinations that are legal but known to train poorly; a sweep config (with a
``sweep`` section) is checked run by run. Heavier checks that need the networks or the data (a
missing folder) follow in ``experiment.build``, still before anything is written.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any, Callable

import jax
import numpy as np

from wgan_jax import experiment
from wgan_jax import models
from wgan_jax import optim
from wgan_jax import steps as steps_lib
from wgan_jax.configs import base
from wgan_jax.configs import validate
# ConfigError and the count and seed checks, which the launchers use through this module.
from wgan_jax.configs.validate import ConfigError, check_count, check_seed  # noqa
from wgan_jax.data import toy
from wgan_jax.metrics import inception

CRITIC_NORMS = ("batch", "layer", "none")
GAN_GENERATOR_LOSSES = ("nonsaturating", "minimax")
# The sections and fields every run reads (wgan_jax/configs/base.py); a config without one fails
# here, not deep inside the run.
REQUIRED = {
    "data": ("dataset", "data_dir", "limit", "stream", "image_size", "channels",
             "scale_data"),
    "generator": ("name", "features", "hidden", "depth", "noise_dim", "theta"),
    "critic": ("name", "features", "hidden", "depth", "norm"),
    "objective": ("method", "gp_weight", "one_sided_gp", "gan_generator_loss", "margin"),
    "generator_optimizer": ("name", "learning_rate", "b1", "b2", "clip", "decay"),
    "critic_optimizer": ("name", "learning_rate", "b1", "b2", "clip", "decay"),
    "schedule": ("num_steps", "batch_size", "n_critic", "official_schedule",
                 "steps_per_dispatch", "unroll"),
    "run": ("seed", "dtype", "data_parallel", "checkpoint_every", "keep_checkpoints",
            "log_update_cosine", "sample_statistics"),
}


def check_state_fits(template, settings: str) -> None:
  """ConfigError when a run's state (``template``: its shapes, from ``jax.eval_shape``) cannot
  fit in the memory of the device; ``settings`` names what sets its size."""
  need = sum(int(np.prod(leaf.shape, dtype=object)) * np.dtype(leaf.dtype).itemsize
             for leaf in jax.tree.leaves(template))
  have = validate.memory_bytes()
  if need > have:
    raise ConfigError(f"the networks and optimiser states need {validate.gib(need)}, more than the "
                      f"{validate.gib(have)} of memory here; lower {settings}")


def example_bytes(config) -> int:
  """A lower bound on the memory one example of a batch takes in a run of ``config``: the real
  and the generated sample, its noise and the widest layer's activations, in float32."""
  d, g, c = config.data, config.generator, config.critic
  sample = 2 if d.dataset in toy.DATASETS else d.image_size ** 2 * d.channels
  if _dcgan(config):
    width = max(g.features, c.features) * (d.image_size // 2) ** 2  # the first convolution
  else:
    width = max(g.hidden, c.hidden)
  return 4 * (2 * sample + g.noise_dim + width)


def _dcgan(config) -> bool:
  """Whether either network of a run is a DCGAN one (``experiment.Network.dcgan``)."""
  networks = (experiment.GENERATORS.get(config.generator.name),
              experiment.CRITICS.get(config.critic.name))
  return any(net is not None and net.dcgan for net in networks)


def _check_optimizer(config, which: str) -> None:
  opt = config[which]
  validate.one_of(opt, which, "name", optim.OPTIMIZERS, "optimiser")
  validate.positive(f"{which}.learning_rate", opt.learning_rate)
  for beta in ("b1", "b2"):
    value = opt[beta]
    if not validate.is_number(value) or not 0 <= value < 1:
      raise ConfigError(f"--config.{which}.{beta} must lie in [0, 1), got {value!r}")
  if opt.clip is not None:
    validate.positive(f"{which}.clip", opt.clip)
  validate.boolean(opt, which, "decay")


def _check_sections(config, required: dict) -> None:
  for section, fields in required.items():
    if section not in config or not hasattr(config[section], "keys"):
      raise ConfigError(f"the config has no section {section!r} (see wgan_jax/configs/base.py)")
    for field in fields:
      if field not in config[section]:
        raise ConfigError(f"the config has no field {section}.{field} (see "
                          f"wgan_jax/configs/base.py)")


def check(config, part: Callable[[Any], None] | None = None) -> None:
  """``check_config``, its warnings printed to stderr, one line each."""
  for warning in check_config(config, part):
    print(f"warning: {warning}", file=sys.stderr)


def check_config(config, part: Callable[[Any], None] | None = None) -> list[str]:
  """Raises ConfigError naming the first setting that cannot work; returns warnings.

  A config with ``variants`` is checked variant by variant, and a sweep (with a ``sweep``
  section) as a whole, then run by run; a run's error is prefixed with its name. ``part`` is the
  check of the sections a reproduction or paper part adds to the schema (``check`` of its config
  module, wgan_jax/configs/<part>.py), called once the config's shape is known to be sound.
  """
  if "variants" in config and "sweep" not in config:
    runs = {name: experiment.variant(config, name) for name in config.variants}
    if part:
      part(config)
    return _check_runs(runs, config.get("run", {}).get("seeds", 1))
  if "sweeps" in config:  # a part made of several sweeps (wgan_jax/configs/adam.py)
    warnings = []
    for name, sweep in config.sweeps.items():
      try:
        warnings += [f"{name}: {w}" for w in check_config(sweep)]
      except ConfigError as e:
        raise ConfigError(f"{name}: {e}") from None
    if part:
      part(config)
    return warnings
  if "sweep" not in config:
    warnings = _check_run(config)
    if part:
      part(config)
    return warnings
  _check_sections(config, {"sweep": ("datasets", "runs"), "variants": ()})
  seeds = config.run.get("seeds", 1)
  validate.check_count("--config.run.seeds", seeds)
  validate.check_count("--config.run.jobs", config.run.get("jobs", 1))
  datasets = config.sweep.datasets.split(",") if config.sweep.datasets else []
  runs = config.sweep.runs.split(",")
  known_runs = [name for name in runs if base.variant_key(name) in config.variants]
  for field, values, known in (("datasets", datasets, toy.DATASETS), ("runs", runs, known_runs)):
    if not all(values) or (field == "runs" and not values):
      raise ConfigError(f"--config.sweep.{field} is empty or has an empty name")
    for value in values:
      if value not in known:
        choices = ", ".join(known if field == "datasets" else config.variants)
        raise ConfigError(f"--config.sweep.{field}: unknown name {value!r}; choose from "
                          f"{choices}")
    if len({base.variant_key(v) for v in values}) != len(values):
      raise ConfigError(f"--config.sweep.{field} lists a name twice: {','.join(values)}")
  if part:
    part(config)
  return _check_runs(experiment.sweep(config), seeds)


def _check_runs(runs: dict, seeds: int) -> list[str]:
  warnings = []
  for name, run in runs.items():
    try:
      warnings += [f"{name}: {w}" for w in _check_run(run, seeds, sweep=True)]
    except ConfigError as e:
      raise ConfigError(f"{name}: {e}") from None
  return warnings


def _check_image_metrics(config) -> None:
  """The image_metrics section (configs/base.py): FID and KID during training need image data,
  Inception weights that exist, and evaluations at checkpoints."""
  m = config.image_metrics
  for name in ("eval_every", "num_samples", "kid_subset_size", "resize"):
    validate.at_least(m, "image_metrics", name, 0 if name == "eval_every" else 1)
  if m.resize < inception.MIN_SIZE:
    raise ConfigError(f"--config.image_metrics.resize must be at least {inception.MIN_SIZE} "
                      f"(the Inception's smallest input), got {m.resize}")
  if not isinstance(m.inception_weights, str):
    raise ConfigError(f"--config.image_metrics.inception_weights must be a path, got "
                      f"{m.inception_weights!r}")
  if not m.eval_every:
    return
  if config.data.dataset in toy.DATASETS:
    raise ConfigError(f"--config.image_metrics.eval_every: {config.data.dataset!r} is a 2-D set, "
                      f"not images; set it to 0")
  if m.eval_every % config.run.checkpoint_every:
    raise ConfigError(f"--config.image_metrics.eval_every ({m.eval_every}) must be a multiple of "
                      f"--config.run.checkpoint_every ({config.run.checkpoint_every})")
  if m.num_samples < 2:
    raise ConfigError(f"--config.image_metrics.num_samples must be at least 2, got "
                      f"{m.num_samples}")
  # A weights file named (in the config or the environment) must exist; with none named the
  # metrics are off, which train_and_evaluate says when it starts.
  if m.inception_weights or os.environ.get(inception.WEIGHTS_ENV):
    try:
      inception.weights_path(m.inception_weights)
    except ValueError as e:
      raise ConfigError(f"--config.image_metrics.eval_every={m.eval_every}: {e}") from None


def _check_run(config, seeds: int = 1, sweep: bool = False) -> list[str]:
  _check_sections(config, REQUIRED)
  d, g, c, o, s, r = (config.data, config.generator, config.critic, config.objective,
                      config.schedule, config.run)
  validate.one_of(o, "objective", "method", steps_lib.METHODS, "method")
  if not isinstance(d.dataset, str) or not d.dataset.strip():
    raise ConfigError(f"--config.data.dataset must name a dataset, got {d.dataset!r}")
  for name in ("num_steps", "steps_per_dispatch", "batch_size", "n_critic"):
    validate.at_least(s, "schedule", name, 1)
  for section, path in ((g, "generator"), (c, "critic")):
    for name in ("features", "hidden", "depth"):
      validate.at_least(section, path, name, 1)
  validate.at_least(g, "generator", "noise_dim", 1)
  for name in ("checkpoint_every", "keep_checkpoints"):
    validate.at_least(r, "run", name, 1)
  validate.at_least(d, "data", "limit", 0)
  validate.check_seed("--config.run.seed", r.seed)
  if d.channels not in (1, 3) or isinstance(d.channels, bool):
    raise ConfigError(f"--config.data.channels must be 1 or 3, got {d.channels!r}")
  validate.one_of(c, "critic", "norm", CRITIC_NORMS, "critic norm")
  validate.one_of(o, "objective", "gan_generator_loss", GAN_GENERATOR_LOSSES, "generator loss")
  for section, path, name in ((s, "schedule", "official_schedule"), (s, "schedule", "unroll"),
                              (d, "data", "scale_data"), (d, "data", "stream"),
                              (o, "objective", "one_sided_gp"),
                              (r, "run", "data_parallel"), (r, "run", "log_update_cosine")):
    validate.boolean(section, path, name)
  if not validate.is_number(o.gp_weight) or not (math.isfinite(o.gp_weight) and o.gp_weight >= 0):
    raise ConfigError(f"--config.objective.gp_weight must be a finite number of at least 0, "
                      f"got {o.gp_weight!r}")
  validate.positive("objective.margin", o.margin)
  if not validate.is_number(g.theta) or not math.isfinite(g.theta):
    raise ConfigError(f"--config.generator.theta must be a finite number, got {g.theta!r}")
  for which in ("generator_optimizer", "critic_optimizer"):
    _check_optimizer(config, which)
  if not optim.OPTIMIZERS[config.critic_optimizer.name].trains:
    raise ConfigError(f"--config.critic_optimizer.name={config.critic_optimizer.name}: every "
                      f"method trains its critic")
  if "image_metrics" in config:
    _check_image_metrics(config)

  validate.one_of(g, "generator", "name", experiment.GENERATORS, "generator")
  validate.one_of(c, "critic", "name", experiment.CRITICS, "critic")
  validate.one_of(r, "run", "dtype", tuple(experiment.DTYPES), "dtype")
  validate.one_of(r, "run", "sample_statistics", steps_lib.SAMPLE_STATISTICS, "sample statistics")
  generator, critic = experiment.GENERATORS[g.name], experiment.CRITICS[c.name]
  if generator.dcgan or critic.dcgan:
    try:
      models.dcgan_geometry(d.image_size)
    except ValueError as e:
      raise ConfigError(f"--config.data.image_size: {e}") from None
  seeds_text = f" of {seeds} seeds" if seeds > 1 else ""
  validate.check_count("--config.schedule.batch_size", s.batch_size, 1,
              lambda n: n * seeds * example_bytes(config),
              f"one batch's samples and activations{seeds_text}")
  if d.dataset in toy.DATASETS:
    for section, path in ((g, "generator"), (c, "critic")):
      validate.check_count(f"--config.{path}.hidden", section.hidden, 1,
                  lambda n: 4 * seeds * (section.depth - 1) * n * n,
                  f"the {path}'s hidden-to-hidden weights{seeds_text}")
  if r.get("distributed", False):
    validate.boolean(r, "run", "distributed")
    if not r.data_parallel:
      raise ConfigError("--config.run.distributed=True needs --config.run.data_parallel=True: "
                        "the processes train one run by splitting its batch over their devices")
  if r.data_parallel:
    devices = jax.device_count()
    if s.batch_size % devices:
      raise ConfigError(f"--config.schedule.batch_size={s.batch_size} is not divisible by the "
                        f"{devices} devices that --config.run.data_parallel splits it over")
  is_toy = d.dataset in toy.DATASETS
  tables = {"generator": experiment.GENERATORS, "critic": experiment.CRITICS}
  for role, net in (("generator", g), ("critic", c)):
    toy_nets = [name for name, network in tables[role].items() if network.toy]
    if is_toy and not tables[role][net.name].toy:
      raise ConfigError(f"--config.{role}.name={net.name!r} is an image network but "
                        f"--config.data.dataset={d.dataset!r} is 2-D: use "
                        f"{' or '.join(toy_nets)}")
    if not is_toy and tables[role][net.name].toy:
      raise ConfigError(f"--config.{role}.name={net.name!r} is a 2-D network but "
                        f"--config.data.dataset={d.dataset!r} holds images")
  dims = 1 if d.dataset in toy.ONE_D_DATASETS else 2
  if is_toy and generator.dims != dims:
    fitting = [name for name, network in experiment.GENERATORS.items() if network.dims == dims]
    raise ConfigError(f"--config.generator.name={g.name!r} draws samples of another dimension "
                      f"than --config.data.dataset={d.dataset!r} ({dims}-D): use "
                      f"{' or '.join(fitting)}")
  autoencoders = [name for name, network in experiment.CRITICS.items() if network.autoencoder]
  if o.method == "ebgan" and not critic.autoencoder:
    raise ConfigError(f"--config.objective.method=ebgan needs an autoencoder critic "
                      f"({' or '.join(autoencoders)}), got {c.name!r}")
  if o.method != "ebgan" and critic.autoencoder:
    raise ConfigError(f"--config.critic.name={c.name!r} scores with an energy, which only "
                      f"--config.objective.method=ebgan uses; got method {o.method!r}")
  if o.method == "wgan-gp" and c.name == "dcgan" and c.norm == "batch":
    raise ConfigError("--config.critic.norm=batch with --config.objective.method=wgan-gp: the "
                      "gradient penalty needs a critic without BatchNorm (use layer or none)")
  return _warnings(config, sweep)


def _warnings(config, sweep: bool) -> list[str]:
  warnings = []
  critic_opt, method = config.critic_optimizer, config.objective.method
  clipped = critic_opt.clip is not None
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
  if method == "wgan" and not clipped:
    warnings.append("--config.objective.method=wgan without --config.critic_optimizer.clip: "
                    "nothing keeps the critic Lipschitz, so its estimate is no Wasserstein "
                    "distance")
  if method != "wgan" and clipped:
    warnings.append(f"--config.critic_optimizer.clip with --config.objective.method={method}: "
                    "weight clipping belongs to WGAN; it restricts this critic for no purpose")
  if config.generator_optimizer.clip is not None:
    warnings.append("--config.generator_optimizer.clip: clipping the generator's weights is "
                    "part of no method and limits what it can generate")
  if method == "wgan-gp" and config.objective.gp_weight == 0:
    warnings.append("--config.objective.gp_weight=0 with --config.objective.method=wgan-gp: "
                    "without its penalty the critic is unconstrained")
  s, every = config.schedule, config.run.checkpoint_every
  dispatch = math.gcd(s.steps_per_dispatch, every, s.num_steps)
  if dispatch < s.steps_per_dispatch and not sweep:  # a sweep checkpoints nothing
    warnings.append(f"--config.schedule.steps_per_dispatch={s.steps_per_dispatch} does not "
                    f"divide run.checkpoint_every={every} and schedule.num_steps={s.num_steps}: "
                    f"each dispatch runs {dispatch} steps instead")
  return warnings
