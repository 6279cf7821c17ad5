"""Figure 1 and Example 1 of the paper: two parallel lines, the distances between them, learned.

P0 = (0, Z) and P_θ = g_θ(Z) = (θ, Z) with Z ~ U[0, 1]. The exact distances have closed forms:
EM = |θ|; JS = log 2, KL = ∞ and TV = 1 for θ ≠ 0, all 0 at θ = 0. This part measures what the
learned networks make of them:

- at each θ of a grid, a clipped WGAN critic and a GAN discriminator (and, as a control, a
  critic with a gradient penalty) trained against the fixed g_θ (``steps.critic_step`` in a loop,
  vmapped over the grid, one initialisation for every θ so that the points differ by θ alone);
  the critic's EM estimate, fitted linearly against |θ| (R²), and the discriminator's JS
  estimate ½L + log 2, against log 2;
- θ learned from θ = 1 by a WGAN through ``train.train_seeds`` (θ after N generator iterations);
- the gradient on θ of the generator's loss, from ``generator_step``, as its critic trains at
  θ = 1: the GAN's (minimax and -log D) and the WGAN's.

Its config is wgan_jax/configs/lines.py: the networks and optimisers of the gaussians
reproduction.
"""

from __future__ import annotations

import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from wgan_jax import checks
from wgan_jax import experiment
from wgan_jax import files
from wgan_jax import plots
from wgan_jax import steps as steps_lib
from wgan_jax import train
from wgan_jax.configs import lines as lines_config
from wgan_jax.paper import Claim, PartResult

LOG_2 = math.log(2.0)


# Thresholds of the verdicts, fixed before the runs.
R2_TARGET = 0.99  # the critic's estimate is linear in |θ|
JS_TOLERANCE = 0.01  # the JS estimate within this of log 2 at every θ ≠ 0
THETA_TOLERANCE = 0.1  # the learned θ within this of 0
VANISHED_RATIO = 0.01  # the GAN's gradient fell by two orders of magnitude as D trained


# Closed forms ----------------------------------------------------------------------------------

def exact_distances(theta) -> dict[str, np.ndarray]:
  """EM, JS, KL and TV between P0 and P_θ, elementwise over ``theta``."""
  theta = np.asarray(theta, dtype=np.float64)
  apart = theta != 0
  return {"EM": np.abs(theta), "JS": np.where(apart, LOG_2, 0.0),
          "KL": np.where(apart, np.inf, 0.0), "TV": np.where(apart, 1.0, 0.0)}


def linear_fit(x, y) -> tuple[float, float, float]:
  """(slope, intercept, R²) of the least-squares line y ≈ slope x + intercept."""
  x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
  slope, intercept = np.polyfit(x, y, 1)
  residual = y - (slope * x + intercept)
  total = np.sum(np.square(y - y.mean()))
  r2 = 1.0 - float(np.sum(np.square(residual)) / total) if total > 0 else math.nan
  return float(slope), float(intercept), r2


# Networks ----------------------------------------------------------------------------------------

def _trainer(spec: steps_lib.GANSpec, fns: steps_lib.Steps, generator_steps: dict,
             at_one: int, n: int):
  """A jitted (states, key, num_steps, eval_key) -> (states, estimates_G, gradients).

  Runs num_steps critic steps against each θ (a while loop: every chunk of training shares one
  compilation), then measures each critic's estimate on n fresh samples and, at θ index
  ``at_one``, the ``generator_grad_norm`` of each of ``generator_steps`` (its new state dropped).
  One program for all of it, since on CPU compilation dominates a quick run.
  """
  critic_step_G = jax.vmap(fns.critic_step)

  def estimate(state, key):
    key_real, key_fake = jax.random.split(key)
    variables = {"params": state.critic_params, **state.critic_stats}
    real_B = spec.critic.apply(variables, spec.sample_real(key_real, n), train=False)
    fake_B = spec.critic.apply(variables, fns.generate(state, key_fake, n), train=False)
    return spec.objective.critic_loss(real_B, fake_B)[1]

  def run(states, key, num_steps, eval_key):
    grid = jax.tree.leaves(states)[0].shape[0]
    step = lambda i, s: critic_step_G(s, jax.random.split(jax.random.fold_in(key, i), grid))[0]
    states = jax.lax.fori_loop(0, num_steps, step, states)
    key_estimate, key_gradient = jax.random.split(eval_key)
    estimates_G = jax.vmap(estimate)(states, jax.random.split(key_estimate, grid))
    state_at_one = jax.tree.map(lambda x: x[at_one], states)
    gradients = {name: generator_step(state_at_one, key_gradient)[1]["generator_grad_norm"]
                 for name, generator_step in generator_steps.items()}
    return states, estimates_G, gradients

  return jax.jit(run)


def _states_at(fns: steps_lib.Steps, thetas_G: np.ndarray) -> steps_lib.GANState:
  """One state per θ, all with the same critic initialisation."""
  keys = jnp.stack([jax.random.key(0)] * len(thetas_G))
  states = jax.vmap(fns.init)(keys)
  return states._replace(generator_params={"theta": jnp.asarray(thetas_G, jnp.float32)})


# The generator losses whose gradient on θ is measured, for each method.
GRADIENT_LOSSES = {"wgan": {"wgan": "nonsaturating"}, "wgan-gp": {},
                   "gan": {"gan minimax": "minimax", "gan -log D": "nonsaturating"}}


def train_critics(config, method: str,
                  thetas_G: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """Critics trained for ``config.lines.critic_steps`` against each fixed g_θ of the grid.

  Returns the estimate of each (on ``config.lines.eval_samples`` fresh samples) and, for the
  critic at θ = 1, |∂(generator loss)/∂θ| after each of ``config.lines.gradient_checkpoints``
  critic steps, for each loss of ``GRADIENT_LOSSES[method]``: ``generator_step``'s
  ``generator_grad_norm`` on ``eval_samples`` noise samples, its new state dropped so that θ
  stays put.
  """
  lines = config.lines
  run = experiment.build(experiment.variant(config, method))
  generator_steps = {}
  for name, loss in GRADIENT_LOSSES[method].items():
    measuring = experiment.variant(config, method)
    measuring.schedule.batch_size = lines.eval_samples
    measuring.objective.gan_generator_loss = loss
    generator_steps[name] = experiment.build(measuring).steps.generator_step
  run_round = _trainer(run.spec, run.steps, generator_steps,
                       int(np.argmin(np.abs(thetas_G - 1.0))), lines.eval_samples)
  states = _states_at(run.steps, thetas_G)
  gradients = {name: [] for name in generator_steps}
  done = 0
  for i, stop in enumerate(sorted(set(lines.gradient_checkpoints) | {lines.critic_steps})):
    states, estimates_G, measured = run_round(states, jax.random.key(100 + i), stop - done,
                                              jax.random.key(2))
    done = stop
    if stop in lines.gradient_checkpoints:
      for name, value in measured.items():
        gradients[name].append(float(value))
  estimates_G = np.asarray(estimates_G, dtype=np.float64)
  return estimates_G, {name: np.asarray(g) for name, g in gradients.items()}


def learn_theta(config) -> tuple[np.ndarray, np.ndarray]:
  """The WGAN of the variant learn_theta, from θ = 1: (steps, θ at those steps)."""
  run_config = experiment.variant(config, "learn_theta")
  fns = experiment.build(run_config).steps
  every = config.lines.theta_eval_every
  eval_steps, thetas = [], []

  def evaluate(state, step):
    eval_steps.append(step)
    thetas.append(float(state.generator_params["theta"][0]))

  train.train_seeds(fns, [0], run_config.schedule.num_steps, eval_every=every, chunk=every,
                    evaluate=evaluate, label="lines/learn θ")
  return np.asarray(eval_steps), np.asarray(thetas)


# The part ----------------------------------------------------------------------------------------

def measure(config) -> dict:
  """Every number of the part, as plain Python values."""
  thetas_G = np.linspace(-1.0, 1.0, config.lines.grid)
  em_G, wgan_gradients = train_critics(config, "wgan", thetas_G)
  js_G, gan_gradients = train_critics(config, "gan", thetas_G)
  slope, intercept, r2 = linear_fit(np.abs(thetas_G), em_G)
  if config.lines.gp_control:
    gp_G, _ = train_critics(config, "wgan-gp", thetas_G)
    gp_slope, gp_intercept, gp_r2 = linear_fit(np.abs(thetas_G), gp_G)
  else:
    gp_G, gp_slope, gp_intercept, gp_r2 = np.full_like(em_G, np.nan), math.nan, math.nan, math.nan
  apart = thetas_G != 0
  theta_steps, theta_path = learn_theta(config)
  return {
      "thetas": thetas_G.tolist(), "em_estimate": em_G.tolist(), "js_estimate": js_G.tolist(),
      "em_fit": {"slope": slope, "intercept": intercept, "r2": r2},
      "gp_estimate": gp_G.tolist(),
      "gp_fit": {"slope": gp_slope, "intercept": gp_intercept, "r2": gp_r2},
      "em_spearman_abs_theta": float(scipy.stats.spearmanr(np.abs(thetas_G), em_G).statistic),
      "js_gap_max": float(np.max(LOG_2 - js_G[apart])),
      "js_gap_mean": float(np.mean(LOG_2 - js_G[apart])),
      "theta_steps": theta_steps.tolist(), "theta_path": theta_path.tolist(),
      "gradient_checkpoints": sorted(config.lines.gradient_checkpoints),
      "gradients": {name: g.tolist() for name, g in {**gan_gradients, **wgan_gradients}.items()},
  }


def _claims(m: dict) -> list[Claim]:
  fit = m["em_fit"]
  minimax = m["gradients"]["gan minimax"]
  ratio = minimax[-1] / minimax[0] if minimax[0] > 0 else math.nan
  final_theta = m["theta_path"][-1]
  return [
      Claim("Our test, not the paper's (its Figure 1 plots the exact distances): a clipped "
            "critic's EM estimate is linear in |θ|, as the exact EM distance is",
            f"R² of a linear fit of the critic's estimate against |θ| = {fit['r2']:.4f} "
            f"(target ≥ {R2_TARGET}; slope {fit['slope']:.3f}, intercept "
            f"{fit['intercept']:.3f}; Spearman against |θ| {m['em_spearman_abs_theta']:.3f}; "
            f"control, a gradient-penalty critic: R² {m['gp_fit']['r2']:.4f}, slope "
            f"{m['gp_fit']['slope']:.3f})",
            "holds" if fit["r2"] >= R2_TARGET else "does not hold"),
      Claim("JS is log 2 for every θ ≠ 0: a trained discriminator's JS estimate says nothing "
            "about how far apart the lines are",
            f"log 2 - JS estimate over θ ≠ 0: at most {m['js_gap_max']:.2e}, mean "
            f"{m['js_gap_mean']:.2e} (tolerance {JS_TOLERANCE})",
            "holds" if m["js_gap_max"] <= JS_TOLERANCE else "does not hold"),
      Claim("A WGAN learns θ: from θ = 1 it moves θ to 0",
            f"θ after {m['theta_steps'][-1]} generator iterations = {final_theta:.4f} "
            f"(within {THETA_TOLERANCE} of 0?)",
            "holds" if abs(final_theta) <= THETA_TOLERANCE else "does not hold"),
      Claim("A GAN's gradient on θ vanishes as its discriminator trains (minimax loss)",
            f"|∂/∂θ log(1 - D(g_θ(z)))| at θ = 1: {minimax[0]:.2e} after "
            f"{m['gradient_checkpoints'][0]} D steps, {minimax[-1]:.2e} after "
            f"{m['gradient_checkpoints'][-1]} (ratio {ratio:.1e}, vanished if ≤ "
            f"{VANISHED_RATIO}); the WGAN's stays {m['gradients']['wgan'][-1]:.2e}",
            "holds" if ratio <= VANISHED_RATIO else "does not hold"),
  ]


def _table(m: dict) -> str:
  rows = ["| θ | exact EM | clipped critic's EM estimate | gradient-penalty critic's EM estimate "
          "| exact JS | GAN's JS estimate |", "| --- | --- | --- | --- | --- | --- |"]
  exact = exact_distances(m["thetas"])
  for i, theta in enumerate(m["thetas"]):
    rows.append(f"| {theta:+.2f} | {exact['EM'][i]:.2f} | {m['em_estimate'][i]:.4f} | "
                f"{m['gp_estimate'][i]:.4f} | "
                f"{exact['JS'][i]:.4f} | {m['js_estimate'][i]:.4f} |")
  rows += ["", "| critic (discriminator) steps at θ = 1 | "
           + " | ".join(m["gradients"]) + " |",
           "| --- |" + " --- |" * len(m["gradients"])]
  for i, checkpoint in enumerate(m["gradient_checkpoints"]):
    rows.append(f"| {checkpoint} | "
                + " | ".join(f"{g[i]:.2e}" for g in m["gradients"].values()) + " |")
  return "\n".join(rows) + "\n"


def run(workdir: str, quick: bool = False, config=None) -> PartResult:
  """Measures, draws figure_1.png and theta.png, and writes result.json and numbers.json;
  ``config`` replaces wgan_jax/configs/lines.py's (its ``quick`` variant when ``quick``)."""
  start = time.perf_counter()
  config = config or lines_config.get_config("quick" if quick else "")
  checks.check(config)
  m = measure(config)
  os.makedirs(workdir, exist_ok=True)
  fine = np.linspace(-1.0, 1.0, 401)
  plots.parallel_lines(os.path.join(workdir, "figure_1.png"), fine, exact_distances(fine),
                       np.asarray(m["thetas"]), np.asarray(m["em_estimate"]),
                       np.asarray(m["js_estimate"]),
                       (m["em_fit"]["slope"], m["em_fit"]["intercept"]),
                       gp_estimate_G=np.asarray(m["gp_estimate"]) if config.lines.gp_control else None)
  plots.theta_learning(os.path.join(workdir, "theta.png"), np.asarray(m["theta_steps"]),
                       np.asarray(m["theta_path"]), np.asarray(m["gradient_checkpoints"]),
                       {name: np.asarray(g) for name, g in m["gradients"].items()})
  files.save_text(os.path.join(workdir, "numbers.json"),
                  json.dumps({"config": config.to_dict(), **m}, indent=2) + "\n")
  result = PartResult(
      title="Figure 1 and Example 1: parallel lines",
      figures=["figure_1.png", "theta.png"],
      table_md=_table(m),
      claims=_claims(m),
      wall_time_s=time.perf_counter() - start,
      how=_how(config),
  )
  result.save(workdir)
  return result



def _how(config) -> str:
  lines, v = config.lines, config.variants
  wgan, gan, theta = v.wgan.critic_optimizer, v.gan.critic_optimizer, v.learn_theta
  official = theta.schedule.get("official_schedule", config.schedule.official_schedule)
  return (f"{lines.grid} values of θ in [-1, 1]; at each, a critic (WGAN: RMSProp "
          f"{wgan.learning_rate}, clip {wgan.clip}) and a discriminator (GAN: Adam "
          f"{gan.learning_rate}, β1 {gan.b1}), MLPs of {config.critic.depth} x "
          f"{config.critic.hidden} ReLU units with one initialisation for every θ (and, as a "
          f"control, a critic with a gradient penalty, λ {config.objective.gp_weight}, Adam "
          f"{v.wgan_gp.critic_optimizer.learning_rate}), trained for {lines.critic_steps} steps "
          f"of batch {config.schedule.batch_size} against the fixed g_θ; estimates and gradients "
          f"on {lines.eval_samples} fresh samples. θ learned by a WGAN (RMSProp "
          f"{theta.generator_optimizer.learning_rate} on θ, {config.schedule.n_critic} critic "
          f"steps per generator step{', the official schedule' if official else ''}) for "
          f"{theta.schedule.num_steps} generator iterations.")
