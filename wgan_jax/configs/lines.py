r"""The WGAN paper's Figure 1 and Example 1: g_θ(z) = (θ, z) against P0 = (0, z), measured.

    python experiments/reproduce_paper.py --parts=lines --workdir=runs/paper   # make reproduce-lines

The networks and optimisers of the gaussians reproduction (wgan_jax/configs/gaussians.py): 3
hidden layers of 64 units; WGAN RMSProp 5e-4 with c = 0.1, GAN Adam 1e-3 (β1 0.5). The variants
are the critics trained against each fixed g_θ (the generator frozen) and the WGAN that learns θ.
The clipped critics train until their estimates converge (wgan_jax/paper/convergence.py's rule,
checked every 500 steps, at most 10,000); the discriminators and the gradient-penalty control
for 3,000 steps. ``check`` checks the ``lines`` section.
"""

import ml_collections

from wgan_jax.configs import base
from wgan_jax.configs import toy
from wgan_jax.configs import validate


def get_config(variant: str = ""):
  base.check_variant(__file__, variant, "quick")
  c = base.get_config()
  c.data.dataset = "parallel_lines"
  toy.toy_networks(c, 64)
  c.generator.update(dict(name="parallel_line", theta=1.0, noise_dim=1))
  c.generator_optimizer.name = "frozen"  # g_θ stays fixed while its critic trains
  c.schedule.update(dict(batch_size=64, n_critic=5, official_schedule=False))  # the paper's m
  # The control's λ: the WGAN-GP paper's.
  c.objective.gp_weight = 10.0
  c.variants = ml_collections.ConfigDict(dict(
      wgan=dict(objective=dict(method="wgan"),
                critic_optimizer=base.optimizer("rmsprop", 5e-4, clip=0.1)),
      gan=dict(objective=dict(method="gan"),
               critic_optimizer=base.optimizer("adam", 1e-3, 0.5, 0.999)),
      # A control, not in the paper: a critic kept 1-Lipschitz by a gradient penalty instead of
      # clipping (Adam at the GAN's rate, the gaussians reproduction's betas).
      wgan_gp=dict(objective=dict(method="wgan-gp"),
                   critic_optimizer=base.optimizer("adam", 1e-3, 0.5, 0.9)),
      # The WGAN that learns θ from 1: RMSProp at the critic's rate on θ, the official schedule.
      learn_theta=dict(objective=dict(method="wgan"),
                       critic_optimizer=base.optimizer("rmsprop", 5e-4, clip=0.1),
                       generator_optimizer=base.optimizer("rmsprop", 5e-4),
                       schedule=dict(num_steps=4000, official_schedule=True)),
  ))
  c.lines = ml_collections.ConfigDict(dict(
      grid=21,  # θ values, evenly spaced in [-1, 1] (odd, so that θ = 0 is one of them)
      critic_steps=3000,  # discriminator (and control) steps per θ, and at θ = 1 for the
      # gradient traces
      # The clipped critics train to convergence: the rule of wgan_jax/paper/convergence.py,
      # checked every check_every steps (even), at most max_steps (a multiple of it).
      check_every=500,
      max_steps=10_000,
      eval_samples=8192,  # real and fake samples for each estimate and each gradient
      theta_eval_every=50,  # generator iterations between the recorded values of θ
      # Critic (discriminator) steps at θ = 1 after which the gradient on θ is measured.
      gradient_checkpoints=(10, 30, 100, 300, 1000, 3000),
      gp_control=True,  # train the gradient-penalty control
  ))
  if variant == "quick":
    toy.toy_networks(c, 8, depth=2)
    c.generator.update(dict(name="parallel_line", noise_dim=1))
    c.variants.learn_theta.schedule.update(dict(num_steps=20, official_schedule=False))
    c.lines.update(dict(grid=5, critic_steps=10, check_every=10, max_steps=20, eval_samples=256,
                        theta_eval_every=10, gradient_checkpoints=(2, 10), gp_control=False))
  base.leave_to_variants(c)
  return c


def check(config) -> None:
  """ConfigError naming the first setting of the ``lines`` section that cannot work."""
  lines = config.lines
  if not validate.is_int(lines.grid) or lines.grid < 3 or lines.grid % 2 == 0:
    raise validate.ConfigError(f"--config.lines.grid must be odd and at least 3, got "
                               f"{lines.grid!r}")
  for name in ("critic_steps", "eval_samples", "theta_eval_every", "check_every", "max_steps"):
    validate.at_least(lines, "lines", name, 1)
  if lines.check_every % 2 or lines.max_steps % lines.check_every:
    raise validate.ConfigError(f"--config.lines.check_every ({lines.check_every}) must be even "
                               f"and divide --config.lines.max_steps ({lines.max_steps})")
  marks = lines.gradient_checkpoints
  if (not isinstance(marks, tuple) or not marks or not all(validate.is_int(m) for m in marks)
      or min(marks) < 1 or max(marks) > lines.critic_steps):
    raise validate.ConfigError(f"--config.lines.gradient_checkpoints must lie in [1, "
                               f"critic_steps = {lines.critic_steps}], got {marks}")
