r"""The MNIST reproduction: WGAN, WGAN-GP, and WGAN against GAN with an MLP generator.

    make reproduce-mnist
    python experiments/reproduce_mnist.py --workdir=runs/mnist
    python experiments/reproduce_mnist.py --config=wgan_jax/configs/mnist_reproduction.py:quick --workdir=/tmp/q
    python experiments/reproduce_mnist.py --workdir=runs/mnist_bf16 \
        --config.sweep.runs=wgan_gp_dcgan --config.run.dtype=bfloat16

Four runs on the 5,000 offline MNIST digits, one after the other, each through
``train.train_and_evaluate`` (so running the command again resumes every run):

  wgan_dcgan     WGAN, DCGAN generator and critic (BatchNorm), RMSProp 5e-5, clip 0.01;
  wgan_gp_dcgan  WGAN-GP, DCGAN generator, LayerNorm critic, Adam 4e-4 (0.5, 0.9), lambda 10;
  wgan_mlp       WGAN, the official MLP_G (3 hidden ReLU layers of 512) against the DCGAN critic;
  gan_mlp        GAN (-log D), the same MLP generator and critic, Adam 2e-4 (0.5, 0.999), 1 D step.

Two departures from the paper fit it in about 15 minutes on 2 CPU cores: the DCGAN networks are
narrower (16 filters instead of 64) and the official critic schedule is off (in runs of 400 to
1,000 iterations its 2,500 extra critic iterations would cost as much as 500 ordinary ones).
WGAN-GP runs at Adam 4e-4 instead of Gulrajani et al.'s 1e-4 (see docs/images.md).
"""

import ml_collections

from wgan_jax.configs import base
from wgan_jax.configs import mnist
from wgan_jax.configs import validate

RUNS = ("wgan_dcgan", "wgan_gp_dcgan", "wgan_mlp", "gan_mlp")
# The digits that eval.real draws from (wgan_jax/data/sources.py's mnist_offline).
MNIST_OFFLINE_DIGITS = 5000


def _steps(num_steps: int) -> dict:
  # Five sheets and checkpoints along the run: the learning curve marks four of them.
  return dict(schedule=dict(num_steps=num_steps),
              run=dict(checkpoint_every=max(1, num_steps // 5)))


def get_config(variant: str = ""):
  base.check_variant(__file__, variant, "quick")
  c = mnist.get_config()
  c.generator.features = c.critic.features = 16
  c.schedule.official_schedule = False
  c.sweep = ml_collections.ConfigDict(dict(datasets="", runs=",".join(RUNS)))
  gp = lambda: base.optimizer("adam", 4e-4, 0.5, 0.9)
  gan = lambda: base.optimizer("adam", 2e-4, 0.5, 0.999)
  c.variants = ml_collections.ConfigDict(dict(
      wgan_dcgan=_steps(400),
      # Gulrajani et al.: no BatchNorm in the critic (the penalty is per sample), Adam.
      wgan_gp_dcgan=dict(objective=dict(method="wgan-gp"), critic=dict(norm="layer"),
                         generator_optimizer=gp(), critic_optimizer=gp(), **_steps(1000)),
      wgan_mlp=dict(generator=dict(name="mlp"), **_steps(400)),
      gan_mlp=dict(objective=dict(method="gan"), generator=dict(name="mlp"),
                   schedule=dict(n_critic=1, num_steps=1000), run=dict(checkpoint_every=200),
                   generator_optimizer=gan(), critic_optimizer=gan()),
  ))
  c.eval = ml_collections.ConfigDict(dict(
      samples=1000,  # generated digits judged per run
      # A run that diverges stops the reproduction (exit status 1).
      judge_diverged=False,
      real=1000,  # random real digits for the Fréchet distance
      classifier_epochs=10,  # training of the digit classifier that judges the samples
  ))
  if variant == "quick":  # tiny networks, 4 iterations per run: compilation dominates
    c.generator.features = c.critic.features = 8
    c.generator.hidden = c.critic.hidden = 32
    c.schedule.batch_size = 16
    for run in c.variants.values():
      run.update(_steps(4))
    c.eval.update(dict(samples=100, real=100, classifier_epochs=1))
  base.leave_to_variants(c)
  return c


def check(config) -> None:
  """ConfigError for an ``eval`` section of digits judged by the digit classifier (this config's
  and those of the parts built on it) that cannot work."""
  evaluation = config.eval
  validate.check_count("--config.eval.real", evaluation.real, 2)
  if evaluation.real > MNIST_OFFLINE_DIGITS:
    raise validate.ConfigError(f"--config.eval.real must be at most {MNIST_OFFLINE_DIGITS} (the "
                               f"offline set), got {evaluation.real}")
  validate.check_count("--config.eval.samples", evaluation.samples, 2,
                       lambda n: n * 4 * 28 * 28, "the generated digits")
  if "classifier_epochs" in evaluation:
    validate.check_count("--config.eval.classifier_epochs", evaluation.classifier_epochs)
  if "judge_diverged" in evaluation:
    validate.boolean(evaluation, "eval", "judge_diverged")
