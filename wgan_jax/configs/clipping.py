r"""WGAN-GP's case against weight clipping (Gulrajani et al. 2017, Section 3 and Figure 1).

    python experiments/reproduce_paper.py --parts=clipping --workdir=runs/paper

Critics trained against a fixed "generator", the real data plus unit-variance Gaussian noise
(the paper's Section 3; the official gan_toy.py's fixed generator adds the noise to the same real
batch). The toy sets are scaled down as in that script (``data.scale_data``).

- surfaces: the toy script's critic, 3 hidden ReLU layers of 512 units, on ring8, grid25 and
  swissroll, with weight clipping (WGAN: RMSProp 5e-5, c = 0.01) and with the gradient penalty
  (λ = 0.1, Adam 1e-4, β = (0.5, 0.9), all the toy script's), batch 256; each trained to
  optimality, as the paper's are: until it meets wgan_jax/paper/convergence.py's rule, checked
  every ``check_every`` steps (500), or reaches ``max_steps`` (10,000), as the lines part's
  critics (wgan_jax/configs/lines.py).
- deep: 12 hidden ReLU layers of 512 units without normalisation on swissroll, clipped at
  c = 0.1, 0.01 and 0.001 (RMSProp 5e-5) and penalised (as above), for ``deep_steps``.

The variants are those six critics; ``clipping`` holds what the part measures, and ``check``
checks it.
"""

import ml_collections

from wgan_jax.configs import base
from wgan_jax.configs import toy
from wgan_jax.configs import validate

CLIPS = (0.1, 0.01, 0.001)  # the deep critic's clip values (the paper's Figure 1b)
SURFACE_CLIP = 0.01  # the surfaces' clip value: WGAN's


def _clipped(clip: float, depth: int, batch: int) -> dict:
  return dict(objective=dict(method="wgan"), critic=dict(depth=depth),
              schedule=dict(batch_size=batch),
              critic_optimizer=base.optimizer("rmsprop", 5e-5, clip=clip))


def _penalised(depth: int, batch: int) -> dict:
  return dict(objective=dict(method="wgan-gp"), critic=dict(depth=depth),
              schedule=dict(batch_size=batch),
              critic_optimizer=base.optimizer("adam", 1e-4, 0.5, 0.9))


def deep_variant(clip: float | None) -> str:
  """The key in ``variants`` of the deep critic clipped at ``clip`` (None: penalised)."""
  return "deep_penalty" if clip is None else base.variant_key(f"deep_clip_{clip}")


def get_config(variant: str = ""):
  base.check_variant(__file__, variant, "quick")
  c = base.get_config()
  # The deep critics' set; the surfaces' are clipping.datasets. ring8 / √2 and grid25 / 2√2, as
  # the toy script trains on them.
  c.data.update(dict(dataset="swissroll", scale_data=True))
  toy.toy_networks(c, 512)  # the toy script's DIM = 512; depth set by each variant
  c.generator_optimizer.name = "frozen"  # the generator is not trained (nor used: see above)
  c.schedule.update(dict(n_critic=1, official_schedule=False))
  # λ = 0.1, the toy script's ("smaller lambda seems to help for toy tasks"; the paper's other
  # experiments use 10). With λ = 10 the two-sided penalty can hold a critic in the basin its
  # initialisation fell into: on swissroll from seed 0 it settles at a negative estimate (-0.4
  # for a W1 of 0.6), since turning its slope around costs more penalty than it gains.
  c.objective.gp_weight = 0.1
  # The surfaces' batch is the toy script's; the deep critics' is smaller, for time: a 12-layer
  # critic of 512 units costs about 8 times as much per sample.
  variants = dict(surface_clip=_clipped(SURFACE_CLIP, 3, 256),
                  surface_penalty=_penalised(3, 256))
  variants.update({deep_variant(clip): _clipped(clip, 12, 64) for clip in CLIPS})
  variants[deep_variant(None)] = _penalised(12, 64)
  c.variants = ml_collections.ConfigDict(variants)
  c.clipping = ml_collections.ConfigDict(dict(
      datasets="ring8,grid25,swissroll",  # the surfaces' toy sets, trained at once with vmap
      noise_std=1.0,  # σ of the fixed generator: fake = real + N(0, σ² I)
      # The surface critics train to convergence: the rule of wgan_jax/paper/convergence.py,
      # checked every check_every steps (even), at most max_steps (a multiple of it); the lines
      # part's values, smaller only in the quick variant.
      check_every=500,
      max_steps=10_000,
      eval_samples=2000,  # real and fake samples for the estimate, Lipschitz constant and W1
      grid=128,  # points per side of the value surface, over the box of the evaluation samples
      deep_steps=600,  # critic steps of each deep critic
      deep_checkpoints=8,  # evenly spaced points of training at which layer gradients are taken
      gradient_batch=256,  # real and fake samples for each measurement of the layer gradients
      seed=0,  # of the critics' initialisation (one for every dataset) and of their batches
  ))
  if variant == "quick":
    toy.toy_networks(c, 16)
    for key in c.variants:
      if key.startswith("deep"):
        c.variants[key].critic.depth = 4  # four hidden layers for the slope
    for run in c.variants.values():
      run.schedule.batch_size = 16
    c.clipping.update(dict(check_every=4, max_steps=8, eval_samples=100, grid=16,
                           deep_steps=4, deep_checkpoints=2, gradient_batch=32))
  base.leave_to_variants(c)
  return c


def check(config) -> None:
  """ConfigError naming the first setting of the ``clipping`` section, or the first deep
  critic's depth, that cannot work."""
  cl = config.clipping
  for name in ("check_every", "max_steps", "grid", "deep_steps", "deep_checkpoints",
               "gradient_batch"):
    validate.at_least(cl, "clipping", name, 1)
  if cl.check_every % 2 or cl.max_steps % cl.check_every:
    raise validate.ConfigError(f"--config.clipping.check_every ({cl.check_every}) must be even "
                               f"and divide --config.clipping.max_steps ({cl.max_steps})")
  validate.check_count("--config.clipping.eval_samples", cl.eval_samples, 2,
                       lambda n: 8 * n * n, "the exact W1's N x N cost matrix")
  validate.check_seed("--config.clipping.seed", cl.seed)
  validate.positive("clipping.noise_std", cl.noise_std)
  for dataset in cl.datasets.split(","):
    if dataset not in ("ring8", "grid25", "swissroll"):
      raise validate.ConfigError(f"--config.clipping.datasets: unknown toy set {dataset!r}; "
                                 f"choose from ring8, grid25, swissroll")
  for clip in (*CLIPS, None):
    if base.variant_field(config, deep_variant(clip), "critic", "depth") < 2:
      raise validate.ConfigError("the deep critics need at least 2 hidden layers: the trend is "
                                 "fitted over them")
