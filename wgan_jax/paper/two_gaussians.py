"""Figure 3 of the paper: the optimal discriminator and the optimal critic between two Gaussians.

The real distribution is N(0, σ²) and the fake one the same Gaussian shifted by θ, N(θ, σ²), with
σ = 0.5 and θ = 4 (eight standard deviations: the two barely overlap, as in the paper's figure);
the fake is drawn by a generator g_θ(z) = θ + σz whose optimiser is frozen. Against it a GAN
discriminator (Adam) and a clipped WGAN critic (RMSProp, c = 0.1), MLPs of the toy experiments
with one initialisation, are trained to optimality with ``steps.critic_step``. Over the line:

- the gradient that reaches the generator, ∂ℓ/∂x at the fake samples x, for the losses
  ℓ(x) = log(1 - D(x)) (minimax), -log D(x) (the -log D trick) and -f(x) (WGAN): its mean
  magnitude on ``eval_samples`` fake samples, and that mean divided by the largest magnitude of
  the same gradient over the support, which makes the three comparable (a clipped critic's
  values, and so its gradients, scale with c; a discriminator's do not). ``generator_step``'s
  |∂L/∂θ| on as many samples is reported beside it: with g_θ(z) = θ + σz, ∂L/∂θ is the mean of
  ∂ℓ/∂x over the fake samples, in which terms of opposite signs cancel;
- whether the discriminator saturates: mean D on the fake and on the real samples;
- how linear the critic is: its slope f'(x) on the grid over the support (from ``support_stds``
  stds left of the leftmost mean to as many right of the rightmost), its sign, its smallest over
  its largest magnitude between the two means and over the whole support, and its coefficient
  of variation over the support.

The closed-form optimal discriminator D*(x) = p_r(x) / (p_r(x) + p_g(x)) is drawn beside the
trained one. Its config is wgan_jax/configs/two_gaussians.py.
"""

from __future__ import annotations

import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
import scipy.stats

from wgan_jax import checks
from wgan_jax import experiment
from wgan_jax import files
from wgan_jax import plots
from wgan_jax import steps as steps_lib
from wgan_jax.configs import two_gaussians as two_gaussians_config
from wgan_jax.data import toy
from wgan_jax.paper import Claim, PartResult

REAL_MEAN = 0.0  # data/toy.py's gaussian_1d
STD = toy.GAUSSIAN_1D_STD  # of both Gaussians

# Thresholds of the verdicts, fixed before the runs.
# The discriminator saturates: it tells the fake samples from the real ones with certainty.
SATURATED_FAKE = 0.01  # mean D(fake) below this
SATURATED_REAL = 0.99  # and mean D(real) above this
# The minimax gradient vanishes: at the fake samples it is below 1% of its own maximum over the
# support, relative to the same measure of the critic's gradient. Each gradient is divided by its
# own maximum because a clipped critic's slope is set by c, not by the data; the ratio of the two
# scale-free numbers asks whether the fake samples sit where the function is flat.
VANISHED_RATIO = 0.01
# The critic gives clean gradients: its slope keeps one sign over the whole support, the sign that
# moves the fake samples towards the real ones, and between the two means its smallest magnitude
# is at least half its largest (a function that is linear there up to a factor of 2).
CLEAN_SLOPE_RATIO = 0.5

# The generator losses ℓ(x) whose gradient ∂ℓ/∂x is measured: (method, gan_generator_loss).
LOSSES = {"gan minimax": ("gan", "minimax"), "gan -log D": ("gan", "nonsaturating"),
          "wgan": ("wgan", "nonsaturating")}
LABELS = {"gan minimax": "GAN, log(1 - D(x)) (minimax)", "gan -log D": "GAN, -log D(x)",
          "wgan": "WGAN, -f(x) (clipped critic)"}


# Closed forms --------------------------------------------------------------------------------

def optimal_discriminator(x, real_mean: float, fake_mean: float, std: float) -> np.ndarray:
  """D*(x) = p_r(x) / (p_r(x) + p_g(x)) for p_r = N(real_mean, std²), p_g = N(fake_mean, std²),
  as the sigmoid of its logit log p_r - log p_g, which is linear in x."""
  x = np.asarray(x, dtype=np.float64)
  logit = ((x - fake_mean) ** 2 - (x - real_mean) ** 2) / (2 * std ** 2)
  return scipy.special.expit(logit)


def support(config) -> tuple[float, float]:
  """(left, right) end of the support: ``support_stds`` stds beyond the two means."""
  return _span(config, config.two_gaussians.support_stds)


def _span(config, stds: float) -> tuple[float, float]:
  means = (REAL_MEAN, float(config.generator.theta))
  return min(means) - stds * STD, max(means) + stds * STD


# Verdicts ------------------------------------------------------------------------------------

def saturates(d_fake: float, d_real: float) -> bool:
  """Whether the discriminator tells fake from real with certainty (SATURATED_*)."""
  return d_fake < SATURATED_FAKE and d_real > SATURATED_REAL


def vanishes(ratio: float) -> bool:
  """Whether a gradient, normalised by its maximum over the support, vanished relative to the
  critic's (VANISHED_RATIO)."""
  return ratio < VANISHED_RATIO


def clean(same_sign: bool, towards_real: bool, between_ratio: float) -> bool:
  """Whether the critic's slope is of one sign, pushes the fake towards the real samples and is
  nearly constant between the means (CLEAN_SLOPE_RATIO)."""
  return same_sign and towards_real and between_ratio >= CLEAN_SLOPE_RATIO


# Networks ------------------------------------------------------------------------------------

def train_network(config, method: str) -> tuple[experiment.Run, steps_lib.GANState]:
  """The run of variant ``method`` and its state after ``two_gaussians.critic_steps`` critic
  steps against the fixed fake, from the initialisation of ``run.seed``."""
  run = experiment.build(experiment.variant(config, method))
  critic_step = run.steps.critic_step

  @jax.jit  # the initialisation inside: one compilation, which dominates a quick run
  def train(key_init, key):
    step = lambda i, s: critic_step(s, jax.random.fold_in(key, i))[0]
    return jax.lax.fori_loop(0, config.two_gaussians.critic_steps, step,
                             run.steps.init(key_init))

  return run, train(jax.random.key(config.run.seed), jax.random.key(config.run.seed + 1))


def score_fn(run: experiment.Run, state: steps_lib.GANState):
  """x_N -> scores_N: the trained critic's value (WGAN) or logit (GAN) at each point."""
  variables = {"params": state.critic_params, **state.critic_stats}
  return lambda x_N: run.spec.critic.apply(variables, x_N[:, None], train=False)


def evaluate_fn(run: experiment.Run, state: steps_lib.GANState, losses: tuple[str, ...]):
  """A jitted x_N -> (scores_N, {loss: ∂ℓ/∂x at each point}) for each ``gan_generator_loss`` of
  ``losses``, ℓ(x) the generator's loss on a batch of the one sample x (WGAN: one loss, -f)."""
  score = score_fn(run, state)

  def gradient_N(loss, x_N):
    objective = steps_lib.Objective(run.spec.objective.method, gan_generator_loss=loss)
    return jax.vmap(jax.grad(lambda x: objective.generator_loss(score(x[None]))))(x_N)

  return jax.jit(lambda x_N: (score(x_N), {loss: gradient_N(loss, x_N) for loss in losses}))


def theta_gradient(config, method: str, gan_generator_loss: str, state: steps_lib.GANState,
                   key: jax.Array) -> float:
  """|∂L/∂θ| from ``generator_step`` on ``eval_samples`` noise samples, its new state dropped."""
  measuring = experiment.variant(config, method)
  measuring.schedule.batch_size = config.two_gaussians.eval_samples
  measuring.objective.gan_generator_loss = gan_generator_loss
  _, metrics = experiment.build(measuring).steps.generator_step(state, key)
  return float(metrics["generator_grad_norm"])


# The part ------------------------------------------------------------------------------------

def measure(config) -> dict:
  """Every number of the part and the curves of its figure, as plain Python values."""
  part = config.two_gaussians
  n, grid = part.eval_samples, part.grid
  theta = float(config.generator.theta)
  key_real, key_fake, key_theta = jax.random.split(jax.random.key(config.run.seed + 2), 3)
  trained = {method: train_network(config, method) for method in ("gan", "wgan")}
  real_N = toy.gaussian_1d_sample(key_real, n)[:, 0]
  fake_N = trained["gan"][0].steps.generate(trained["gan"][1], key_fake, n)[:, 0]
  left, right = support(config)
  support_S = np.linspace(left, right, grid)
  line_F = np.linspace(*_span(config, part.plot_stds), grid)
  # Every point in one call: each network's evaluation compiles once.
  points = jnp.concatenate([real_N, fake_N, jnp.asarray(support_S, jnp.float32),
                            jnp.asarray(line_F, jnp.float32)])
  split = lambda values: np.split(np.asarray(values, np.float64), [n, 2 * n, 2 * n + grid])
  scores, gradients = {}, {}
  for method in ("gan", "wgan"):
    losses = tuple(loss for m, loss in LOSSES.values() if m == method)
    scores[method], gradients[method] = evaluate_fn(*trained[method], losses)(points)

  numbers, curves = {}, {}
  for name, (method, loss) in LOSSES.items():
    _, at_fake_N, on_support_S, on_line_F = split(gradients[method][loss])
    at_fake, peak = float(np.mean(np.abs(at_fake_N))), float(np.max(np.abs(on_support_S)))
    numbers[name] = {
        "at_fake": at_fake, "support_max": peak,
        "normalised": at_fake / peak if peak > 0 else math.nan,
        "theta": theta_gradient(config, method, loss, trained[method][1], key_theta)}
    curves[name] = on_line_F.tolist()
  for name in LOSSES:
    numbers[name]["ratio_to_wgan"] = numbers[name]["normalised"] / numbers["wgan"]["normalised"]

  logit_real_N, logit_fake_N, _, logit_F = split(scores["gan"])
  critic_real_N, critic_fake_N, _, critic_F = split(scores["wgan"])
  # ℓ = -f, so f'(x) = -∂ℓ/∂x.
  slope_S = -split(gradients["wgan"]["nonsaturating"])[2]
  magnitude_S, sign_S = np.abs(slope_S), np.sign(slope_S)
  between_S = (support_S >= min(REAL_MEAN, theta)) & (support_S <= max(REAL_MEAN, theta))
  em_estimate = float(critic_real_N.mean() - critic_fake_N.mean())
  wrong_S = sign_S != np.sign(REAL_MEAN - theta)
  wrong = ([float(support_S[wrong_S].min()), float(support_S[wrong_S].max())] if wrong_S.any()
           else [])
  return {
      "real_mean": REAL_MEAN, "fake_mean": theta, "std": STD, "support": [left, right],
      "d_fake": float(scipy.special.expit(logit_fake_N).mean()),
      "d_real": float(scipy.special.expit(logit_real_N).mean()),
      "gradients": numbers,
      "critic": {
          "slope_min": float(slope_S.min()), "slope_max": float(slope_S.max()),
          "same_sign": bool(np.all(sign_S == sign_S[0]) and sign_S[0] != 0),
          # Descent on ℓ = -f moves x along f'(x): towards the real mean when their signs agree.
          "towards_real": not wrong_S.any(),
          # The span of the support's points whose slope pushes away from the real samples.
          "wrong_way": wrong, "wrong_way_fraction": float(wrong_S.mean()),
          "between_ratio": float(magnitude_S[between_S].min() / magnitude_S[between_S].max()),
          "support_ratio": float(magnitude_S.min() / magnitude_S.max()),
          "support_cv": float(magnitude_S.std() / magnitude_S.mean()),
          "em_estimate": em_estimate,
          # A K-Lipschitz critic's estimate over K bounds W1 = |θ| from below.
          "em_over_slope": em_estimate / float(magnitude_S.max()),
      },
      "curves": {"x": line_F.tolist(), "discriminator": scipy.special.expit(logit_F).tolist(),
                 "critic": critic_F.tolist(), "gradients": curves},
  }


def _claims(m: dict) -> list[Claim]:
  g, c = m["gradients"], m["critic"]
  minimax, nonsat, wgan = g["gan minimax"], g["gan -log D"], g["wgan"]
  return [
      Claim("A discriminator trained to optimality between two far-apart Gaussians saturates",
            f"mean D(x) = {m['d_fake']:.2e} on the fake samples (below {SATURATED_FAKE}?) and "
            f"{m['d_real']:.6f} on the real ones (above {SATURATED_REAL}?)",
            "holds" if saturates(m["d_fake"], m["d_real"]) else "does not hold"),
      Claim("Its gradient vanishes: the minimax loss log(1 - D) gives the generator nothing",
            f"mean |∂ log(1 - D(x))/∂x| at the fake samples {minimax['at_fake']:.2e}, "
            f"{minimax['normalised']:.2e} of its maximum over the support; the critic's "
            f"{wgan['normalised']:.3f} of its own; ratio {minimax['ratio_to_wgan']:.2e} "
            f"(vanished if below {VANISHED_RATIO}); -log D's {nonsat['normalised']:.2e} of "
            f"its maximum (ratio {nonsat['ratio_to_wgan']:.2e})",
            "holds" if vanishes(minimax["ratio_to_wgan"]) else "does not hold"),
      Claim("The clipped critic grows linearly and gives clean gradients everywhere",
            f"f'(x) over the support in [{c['slope_min']:.3g}, {c['slope_max']:.3g}] "
            f"(one sign: {c['same_sign']}, towards the real samples: {c['towards_real']}"
            + (f"; away from them on {100 * c['wrong_way_fraction']:.1f}% of it, within "
               f"[{c['wrong_way'][0]:.2f}, {c['wrong_way'][1]:.2f}]" if c["wrong_way"] else "")
            + "); "
            f"smallest over largest |f'| between the means {c['between_ratio']:.3f} (clean if "
            f"≥ {CLEAN_SLOPE_RATIO}), over the support {c['support_ratio']:.3f}",
            "holds" if clean(c["same_sign"], c["towards_real"], c["between_ratio"])
            else "does not hold"),
  ]


def _table(m: dict) -> str:
  rows = ["| generator loss ℓ(x) | mean \\|∂ℓ/∂x\\| at the fake samples | max \\|∂ℓ/∂x\\| over the "
          "support | at the fake / max | relative to the critic's | \\|∂L/∂θ\\| "
          "(generator_step) |", "| --- | --- | --- | --- | --- | --- |"]
  for name, g in m["gradients"].items():
    rows.append(f"| {LABELS[name]} | {g['at_fake']:.3e} | {g['support_max']:.3e} | "
                f"{g['normalised']:.3e} | {g['ratio_to_wgan']:.3e} | {g['theta']:.3e} |")
  c = m["critic"]
  rows += ["", "| network | measure | value |", "| --- | --- | --- |",
           f"| discriminator | mean D(x), fake samples | {m['d_fake']:.3e} |",
           f"| discriminator | mean D(x), real samples | {m['d_real']:.6f} |",
           f"| critic | f'(x) over the support, min / max | {c['slope_min']:.4g} / "
           f"{c['slope_max']:.4g} |",
           f"| critic | min / max of \\|f'\\| between the means | {c['between_ratio']:.3f} |",
           f"| critic | min / max of \\|f'\\| over the support | {c['support_ratio']:.3f} |",
           f"| critic | coefficient of variation of \\|f'\\| over the support | "
           f"{c['support_cv']:.3f} |",
           f"| critic | EM estimate / max \\|f'\\| (exact W1 = {abs(m['fake_mean']):g}) | "
           f"{c['em_over_slope']:.3f} |"]
  return "\n".join(rows) + "\n"


def draw(path: str, m: dict) -> None:
  """Figure 3 from the numbers of ``measure``: the densities, D, D* and the rescaled critic,
  and the gradients over their maxima."""
  curves = m["curves"]
  x_F = np.asarray(curves["x"])
  critic_F = np.asarray(curves["critic"])
  span = critic_F.max() - critic_F.min()
  plots.two_gaussians(
      path, x_F,
      densities={"real": scipy.stats.norm.pdf(x_F, m["real_mean"], STD),
                 "fake": scipy.stats.norm.pdf(x_F, m["fake_mean"], STD)},
      functions={"GAN discriminator D(x)": np.asarray(curves["discriminator"]),
                 "optimal D*(x) = p_r / (p_r + p_g)": optimal_discriminator(
                     x_F, m["real_mean"], m["fake_mean"], STD),
                 "WGAN critic f(x), rescaled to [0, 1]":
                     (critic_F - critic_F.min()) / span if span > 0 else critic_F * 0},
      gradients={LABELS[name]: np.abs(np.asarray(g)) / m["gradients"][name]["support_max"]
                 for name, g in curves["gradients"].items()},
      support=tuple(m["support"]))


def run(workdir: str, quick: bool = False, config=None) -> PartResult:
  """Measures, draws figure_3.png, and writes result.json and numbers.json; ``config`` replaces
  wgan_jax/configs/two_gaussians.py's (its ``quick`` variant when ``quick``)."""
  start = time.perf_counter()
  config = config or two_gaussians_config.get_config("quick" if quick else "")
  checks.check(config)
  m = measure(config)
  os.makedirs(workdir, exist_ok=True)
  draw(os.path.join(workdir, "figure_3.png"), m)
  files.save_text(os.path.join(workdir, "numbers.json"),
                  json.dumps({"config": config.to_dict(), **m}, indent=2) + "\n")
  result = PartResult(
      title="Figure 3: the optimal discriminator and critic between two Gaussians",
      figures=["figure_3.png"],
      table_md=_table(m),
      claims=_claims(m),
      wall_time_s=time.perf_counter() - start,
      how=_how(config),
  )
  result.save(workdir)
  return result


def _how(config) -> str:
  part, v = config.two_gaussians, config.variants
  wgan, gan = v.wgan.critic_optimizer, v.gan.critic_optimizer
  left, right = support(config)
  return (f"Real N({REAL_MEAN:g}, {STD:g}²), fake N({config.generator.theta:g}, {STD:g}²) from "
          f"a generator θ + {STD:g}z with a frozen optimiser. A discriminator (GAN: Adam "
          f"{gan.learning_rate}, β1 {gan.b1}) and a critic (WGAN: RMSProp {wgan.learning_rate}, "
          f"clip {wgan.clip}), MLPs of {config.critic.depth} x {config.critic.hidden} ReLU "
          f"units from one initialisation (seed {config.run.seed}), each trained for "
          f"{part.critic_steps} steps of batch {config.schedule.batch_size} against the fixed "
          f"fake. Gradients ∂ℓ/∂x of the generator's loss by jax.grad at {part.eval_samples} "
          f"fake samples, D at as many real and fake ones; maxima and the critic's slope on "
          f"{part.grid} points of the support [{left:g}, {right:g}] ({part.support_stds:g} "
          f"stds beyond each mean). Each gradient at the fake samples is divided by its own "
          f"maximum over the support, since a clipped critic's slope scales with c; the "
          f"figure draws the line [{_span(config, part.plot_stds)[0]:g}, "
          f"{_span(config, part.plot_stds)[1]:g}].")
