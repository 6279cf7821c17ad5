r"""The WGAN paper's Figures 6-8: WGAN and GAN with three generators against the DCGAN critic.

    python experiments/reproduce_paper.py --parts=architectures --workdir=runs/paper

Six runs on the offline digits: {wgan, gan} x {dcgan, dcgan_nobn_constant, mlp} generator, the
DCGAN critic with BatchNorm. WGAN: Algorithm 1's RMSProp 5e-5 for both
networks, the critic clipped to [-0.01, 0.01], 5 critic iterations and the official schedule
(100 critic iterations for the first 25 and every 500th generator iteration). GAN: the -log D
loss, one discriminator iteration, no clipping, and the optimiser of the DCGAN baseline the paper
compares with (Radford et al.: Adam 2e-4, β1 0.5; the paper names no other). At the scale that
fits `make reproduce-paper` on 2 CPU cores: the paper's 64 filters and 2,000 generator iterations
for every run (the paper's runs are about 10^5). A checkpoint every 200 iterations, all kept: the
image_curves part judges each. ``check`` holds the part's own rule of the config.
"""

import ml_collections

from wgan_jax.configs import base
from wgan_jax.configs import mnist
from wgan_jax.configs import mnist_reproduction
from wgan_jax.configs import validate

METHODS = ("wgan", "gan")
GENERATORS = ("dcgan", "dcgan_nobn_constant", "mlp")


def _variant(method: str, generator: str) -> dict:
  v = ml_collections.ConfigDict(dict(objective=dict(method=method),
                                     generator=dict(name=generator),
                                     schedule=dict(n_critic=5 if method == "wgan" else 1,
                                                   official_schedule=method == "wgan")))
  v.generator_optimizer, v.critic_optimizer = base.optimizer(), base.optimizer()
  base.set_optimizers(v, method)  # WGAN: RMSProp 5e-5, clip 0.01; GAN: DCGAN's Adam 2e-4
  return v.to_dict()


def get_config(variant: str = ""):
  base.check_variant(__file__, variant, "quick")
  c = mnist.get_config()
  c.critic.update(dict(name="dcgan", norm="batch"))
  c.objective.gan_generator_loss = "nonsaturating"
  c.generator.features = c.critic.features = 64
  c.generator.hidden = c.critic.hidden = 512
  c.schedule.update(dict(num_steps=2000, batch_size=64, official_schedule=False,
                         steps_per_dispatch=1))
  c.run.update(dict(checkpoint_every=200, keep_checkpoints=11))
  c.sweep = ml_collections.ConfigDict(dict(
      datasets="", runs=",".join(f"{m}_{g}" for m in METHODS for g in GENERATORS)))
  c.variants = ml_collections.ConfigDict(
      {f"{m}_{g}": _variant(m, g) for m in METHODS for g in GENERATORS})
  c.eval = ml_collections.ConfigDict(dict(
      samples=1000,  # generated digits judged per run
      # A run that diverges is a result: judged from its last finite checkpoint.
      judge_diverged=True,
      real=1000,  # random real digits they are compared with
      classifier_epochs=10,  # training of the digit classifier that judges the samples
  ))
  if variant == "quick":  # tiny networks, one generator (two runs)
    c.generator.features = c.critic.features = 4
    c.generator.hidden = c.critic.hidden = 16
    c.schedule.update(dict(num_steps=1, batch_size=8))
    c.run.update(dict(checkpoint_every=1, keep_checkpoints=2))
    c.sweep.runs = "wgan_dcgan,gan_dcgan"
    c.eval.update(dict(samples=50, real=50, classifier_epochs=1))
  base.leave_to_variants(c)
  return c


def check(config) -> None:
  """ConfigError unless the runs pair every generator they use with both METHODS, in the order
  the verdict compares them (wgan_<generator>, then gan_<generator>), and name no dataset.
  Every run must name a variant: checks.check_config checks that first. The ``eval`` section is
  the MNIST reproduction's."""
  mnist_reproduction.check(config)
  runs = [name for name in config.sweep.runs.split(",") if name]
  generators = list(dict.fromkeys(
      base.variant_field(config, base.variant_key(name), "generator", "name") for name in runs))
  expected = [f"{m}_{g}" for m in METHODS for g in generators]
  # A dataset would prefix every run's name (experiment.sweep): no order of runs then fits.
  if any(config.sweep.datasets.split(",")) or runs != expected:
    raise validate.ConfigError(f"--config.sweep.runs must pair every generator with both "
                               f"methods, in the order {','.join(expected)}; got "
                               f"{config.sweep.runs}")
