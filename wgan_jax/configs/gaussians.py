r"""The WGAN paper's Figure 2 made quantitative: GAN, WGAN, WGAN-GP and EBGAN on 2-D mixtures.

    python experiments/gaussians.py --workdir=runs/gaussians   # what `make reproduce-gaussians` runs
    python experiments/gaussians.py --config.schedule.num_steps=200 --config.run.seeds=1 \
        --config.sweep.datasets=ring8 --workdir=/tmp/quick
    python experiments/gaussians.py --config=wgan_jax/configs/gaussians.py:quick --workdir=/tmp/q

The ``paper`` variant (3 seeds) is the gaussians part of ``make reproduce-paper``.

A sweep: every method of ``sweep.runs`` on every mixture of ``sweep.datasets``, each run the
shared fields below with its method's section of ``variants`` merged in
(``experiment.sweep``), all seeds of a run trained at once with vmap. Change one method with
``--config.variants.wgan.critic_optimizer.clip=0.01``, all of them with
``--config.schedule.batch_size=128``.
"""

import ml_collections

from wgan_jax.configs import base
from wgan_jax.configs import toy
from wgan_jax.configs import validate
from wgan_jax.data import toy as toy_data


def _adam(learning_rate: float, b1: float = 0.5, b2: float = 0.999):
  return base.optimizer("adam", learning_rate, b1, b2)


def _variant(method: str, generator_optimizer, critic_optimizer, n_critic: int = 1,
             official_schedule: bool = False, critic: str = "toy_mlp"):
  for opt in (generator_optimizer, critic_optimizer):
    opt.decay = True
  return ml_collections.ConfigDict(dict(
      objective=dict(method=method), critic=dict(name=critic),
      generator_optimizer=generator_optimizer, critic_optimizer=critic_optimizer,
      schedule=dict(n_critic=n_critic, official_schedule=official_schedule)))


def get_config(variant: str = ""):
  base.check_variant(__file__, variant, "quick", "paper")
  c = base.get_config()
  c.sweep = ml_collections.ConfigDict(dict(
      datasets="ring8,grid25",  # comma-separated mixtures: ring8, grid25
      runs="gan,wgan,wgan-gp,ebgan",  # comma-separated methods, each with a section in variants
  ))
  # The mixtures divided by sqrt(2) (ring8) and 2 sqrt(2) (grid25), as the WGAN-GP toy script.
  c.data.update(dict(dataset="ring8", scale_data=True))  # each run's is one of sweep.datasets
  toy.toy_networks(c, 64)
  c.schedule.update(dict(num_steps=10_000, batch_size=256, steps_per_dispatch=100))
  # Shared by the methods that read them.
  c.objective.update(dict(gp_weight=0.1, margin=1.0))
  # Every learning rate decays linearly to 0 over the run, as in the WGAN-GP CIFAR-10 script.
  # WGAN: RMSProp 5e-4 (the paper: 5e-5) and clip 0.1 (the paper: 0.01, for critics 8 times
  # wider), with the official critic schedule. WGAN-GP: Adam 4e-3 (the toy script: 1e-4).
  c.variants = ml_collections.ConfigDict(dict(
      gan=_variant("gan", _adam(1e-3), _adam(1e-3)),
      wgan=_variant("wgan", base.optimizer("rmsprop", 5e-4),
                    base.optimizer("rmsprop", 5e-4, clip=0.1), n_critic=5,
                    official_schedule=True),
      wgan_gp=_variant("wgan-gp", _adam(4e-3, b2=0.9), _adam(4e-3, b2=0.9), n_critic=5),
      ebgan=_variant("ebgan", _adam(1e-3), _adam(1e-3), critic="toy_autoencoder"),
  ))
  c.run.seeds = 10  # seeds per run, trained at once with vmap (PacGAN's table: 10 trials)
  # Runs trained at once, each in a process of its own bound to its share of the cores (one core
  # each on two): one run's compilation and evaluation overlap another's training. Results do not
  # depend on it.
  c.run.jobs = 2
  c.eval = ml_collections.ConfigDict(dict(
      samples=2500,  # samples per seed for the final metrics (the protocol's)
      num_evals=20,  # points of training at which the exact W1 is measured
      curve_samples=1000,  # samples (seed 0) for the W1 along training
      snapshots=(0.05, 0.2, 0.5, 1.0),  # fractions of training shown in figure_2.png
  ))
  if variant == "paper":  # the gaussians part of make reproduce-paper: 3 seeds fit its hour
    c.run.seeds = 3
  if variant == "quick":
    c.schedule.update(dict(num_steps=40, batch_size=64, steps_per_dispatch=10))
    toy.toy_networks(c, 8)
    c.run.seeds = 1
    c.eval.update(dict(samples=300, num_evals=2, curve_samples=200, snapshots=(0.5, 1.0)))
  base.leave_to_variants(c)
  return c


def check(config) -> None:
  """ConfigError for a sweep this reproduction cannot measure (this config's and those of the
  parts built on it): no mixture in ``sweep.datasets`` or one without modes
  (``_check_datasets``), or an ``eval`` section of toy samples measured by the exact W1 that
  cannot work. Runs after checks.check_config has checked the names of the sweep."""
  if "sweep" in config:
    _check_datasets(config.sweep.datasets)
  evaluation = config.eval
  for name in ("samples", "curve_samples"):
    if name in evaluation:
      validate.check_count(f"--config.eval.{name}", evaluation[name], 1, lambda n: 8 * n * n,
                           "the exact W1's N x N cost matrix")
  if "num_evals" in evaluation:
    validate.check_count("--config.eval.num_evals", evaluation.num_evals)
  snapshots = evaluation.get("snapshots", (1.0,))
  if (not isinstance(snapshots, tuple) or not snapshots
      or not all(validate.is_number(f) and 0 < f <= 1 for f in snapshots)):
    raise validate.ConfigError(f"--config.eval.snapshots must be fractions in (0, 1], got "
                               f"{snapshots}")


def _check_datasets(datasets: str) -> None:
  """ConfigError unless ``datasets`` (``--config.sweep.datasets``, known names) lists at least
  one toy set and each is a 2-D Gaussian mixture: the reproduction counts modes and high-quality
  samples around their centres, which a swiss roll or a line does not have, and draws them in
  the plane."""
  centers = {name: make().centers for name, make in toy_data.DATASETS.items()}
  mixtures = [name for name, c in centers.items() if c is not None and c.shape[1] == 2]
  names = [name for name in datasets.split(",") if name]
  if not names:
    raise validate.ConfigError(f"--config.sweep.datasets is empty; name at least one of "
                               f"{', '.join(mixtures)}")
  for name in names:
    if name not in mixtures:
      raise validate.ConfigError(f"--config.sweep.datasets: {name} is no 2-D Gaussian mixture, "
                                 f"so its modes cannot be counted; choose from "
                                 f"{', '.join(mixtures)}")
