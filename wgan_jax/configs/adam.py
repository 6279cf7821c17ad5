r"""The WGAN paper's Section 4.3: WGAN with RMSProp against Adam, and the cosine of each step.

    python experiments/reproduce_paper.py --parts=adam --workdir=runs/paper

Two sweeps over the same optimisers, each used for both networks. ring8: the WGAN of the
gaussians reproduction (64-unit networks, clip 0.1, batch 256, RMSProp 5e-4 as its base rate)
without its learning-rate decay and critic warm-up, so that every critic update is logged and
nothing but the optimiser differs; its unstable episodes are found in the exact W1 on 1,000
samples every 50 iterations (``eval.curve_samples``, ``eval.w1_every``). mnist: the paper's
RMSProp 5e-5 and c = 0.01 as the base, DCGAN networks at CPU width. Adam's beta2 is 0.999.
``check`` holds the part's own rules of the config.
"""

import ml_collections

from wgan_jax.configs import base
from wgan_jax.configs import gaussians
from wgan_jax.configs import mnist
from wgan_jax.configs import mnist_reproduction
from wgan_jax.configs import toy
from wgan_jax.configs import validate

# (name, optimiser, factor on the base learning rate, beta1), fixed before any run.
OPTIMIZERS = (
    ("rmsprop", "rmsprop", 1.0, 0.0),
    ("rmsprop_lr_x10", "rmsprop", 10.0, 0.0),
    ("adam_b1_0.5", "adam", 1.0, 0.5),
    ("adam_b1_0.9", "adam", 1.0, 0.9),
    ("adam_b1_0.5_lr_x10", "adam", 10.0, 0.5),
)
BASELINE = "rmsprop"


def _variants(lr: float, clip: float) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      base.variant_key(name): dict(
          generator_optimizer=base.optimizer(optimizer, lr * factor, b1, 0.999),
          critic_optimizer=base.optimizer(optimizer, lr * factor, b1, 0.999, clip=clip))
      for name, optimizer, factor, b1 in OPTIMIZERS})


def _sweep(c, datasets: str, lr: float, clip: float) -> None:
  c.sweep = ml_collections.ConfigDict(dict(
      datasets=datasets, runs=",".join(name for name, *_ in OPTIMIZERS)))
  c.variants = _variants(lr, clip)
  c.objective.method = "wgan"
  c.schedule.update(dict(n_critic=5, official_schedule=False))
  c.run.log_update_cosine = True
  base.leave_to_variants(c)


def get_config(variant: str = ""):
  base.check_variant(__file__, variant, "quick")
  ring = gaussians.get_config()
  ring.critic.name = "toy_mlp"
  _sweep(ring, "ring8", 5e-4, 0.1)
  ring.run.seeds = 3
  ring.schedule.num_steps = 5000
  ring.eval.curve_samples = 1000  # generated and real samples of each W1 along training
  ring.eval.w1_every = 50  # iterations between two W1 measurements, from 0
  digits = mnist.get_config()
  _sweep(digits, "", 5e-5, 0.01)
  digits.generator.features = digits.critic.features = 16
  digits.schedule.update(dict(num_steps=300, batch_size=64))
  digits.run.seeds = 1
  digits.eval = ml_collections.ConfigDict(dict(
      samples=1000,  # digits judged per run
      real=1000,  # random real digits they are compared with
      classifier_epochs=10,  # training of the digit classifier that judges the samples
  ))
  if variant == "quick":  # two optimisers on the ring, one on MNIST, tiny networks
    ring.sweep.runs = "rmsprop,adam_b1_0.9"
    toy.toy_networks(ring, 8)
    ring.run.seeds = 1
    ring.schedule.update(dict(num_steps=20, steps_per_dispatch=20))
    ring.eval.update(dict(samples=200, curve_samples=100, w1_every=10))
    digits.sweep.runs = "rmsprop"
    digits.generator.features = digits.critic.features = 4
    digits.schedule.update(dict(num_steps=2, batch_size=8))
    digits.eval.update(dict(samples=50, real=50, classifier_epochs=1))
  return ml_collections.ConfigDict(dict(sweeps=dict(ring8=ring, mnist=digits)))


def check(config) -> None:
  """ConfigError unless both sweeps run BASELINE (the claims compare every optimiser with it)
  and ring8's W1 is measured every so many iterations, at least 1: the part's own rules, beside
  the runs' that checks.check_config applies; and each sweep's ``eval`` section, ring8's as the
  gaussians reproduction's, mnist's as the MNIST reproduction's."""
  for name, check_eval in (("ring8", gaussians.check), ("mnist", mnist_reproduction.check)):
    try:
      check_eval(config.sweeps[name])
    except validate.ConfigError as e:
      raise validate.ConfigError(f"{name}: {e}") from None
  for sweep in (config.sweeps.ring8, config.sweeps.mnist):
    if BASELINE not in sweep.sweep.runs.split(","):
      raise validate.ConfigError(f"--config.sweeps.<ring8|mnist>.sweep.runs must include "
                                 f"{BASELINE}; got {sweep.sweep.runs}")
  validate.check_count("--config.sweeps.ring8.eval.w1_every", config.sweeps.ring8.eval.w1_every)
