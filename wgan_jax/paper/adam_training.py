"""The adam part's training: each run of wgan_jax/configs/adam.py's two sweeps, with the critic's
cos(step, -gradient) logged at every update (``steps.GANSpec.log_update_cosine``), and what is
measured on it.

``train_ring``: WGAN on the toy ring (ring8), every seed at once through ``loop.train_seeds``,
the exact W1 every ``eval.w1_every`` iterations (solved on a thread while training goes on) and
its unstable episodes (``adam_episodes.w1_episodes``). ``train_mnist``: WGAN on the offline
digits, one seed, the episodes of its EM estimate (``adam_episodes.unstable_episodes``) and the
final samples judged by the digit classifier.
"""

from __future__ import annotations

import concurrent.futures
import math
import time

import jax
import numpy as np

from wgan_jax import experiment
from wgan_jax import loop
from wgan_jax import steps as steps_lib
from wgan_jax import writers
from wgan_jax.data import toy
from wgan_jax.metrics import digits
from wgan_jax.metrics import mixtures
from wgan_jax.paper.adam_episodes import (cosine_coincidence, run_coincides, unstable_episodes,
                                          w1_episodes)


def cosines_TxN(history: dict, n_critic: int, seed: int = 0) -> np.ndarray:
  """The per-update cosines of ``loop.train_seeds``' history for one seed: (steps, n_critic)."""
  return np.stack([history[f"update_cosine_{i}"][:, seed] for i in range(n_critic)], axis=1)


def _series(name: str, estimate_T, cosine_TxN, episodes, estimate_name="EM estimate",
            w1_steps=None, w1=None) -> dict:
  steps_T = np.arange(1, len(estimate_T) + 1)
  n = cosine_TxN.shape[1]
  # Update i of generator iteration t (1-based) is drawn at t - 1 + (i + 1) / n.
  cos_steps = (steps_T[:, None] - 1 + (np.arange(n)[None, :] + 1) / n).ravel()
  result = {"name": name, "steps": steps_T, "estimate": estimate_T,
            "estimate_name": estimate_name, "cosine_steps": cos_steps,
            "cosine": cosine_TxN.ravel(), "episodes": [(a + 1, b + 1) for a, b in episodes]}
  if w1 is not None:
    result.update(w1_steps=np.asarray(w1_steps), w1=np.asarray(w1, np.float64))
  return result


def train_ring(config, name: str, pool: concurrent.futures.Executor) -> dict:
  """WGAN on ring8 with the optimiser of run ``config``, all seeds at once: the exact W1 every
  ``eval.w1_every`` iterations on ``eval.curve_samples`` samples (solved on ``pool`` while
  training goes on), its episodes, the cosines, final metrics on ``eval.samples`` samples."""
  run = experiment.build(config)
  seeds, seed, iters = config.run.seeds, config.run.seed, config.schedule.num_steps
  every, trace_samples = config.eval.w1_every, config.eval.curve_samples
  dataset = toy.get_dataset(config.data.dataset)
  generate = steps_lib.generate_over_seeds(run.steps)
  # The same noise and real samples at every point, so that the trace moves with the generator
  # and not with the draw.
  trace_keys = jax.random.split(jax.random.key(4321), seeds)
  trace_real_Nx2 = np.asarray(dataset.sample(jax.random.key(2018), trace_samples))
  w1_steps, w1_futures = [], []

  def evaluate(state, step):
    if step % every:  # the last step, when the run is not a multiple of w1_every
      return
    samples_SxNx2 = np.asarray(generate(state, trace_keys, trace_samples)) * run.scale
    w1_steps.append(step)
    w1_futures.append([pool.submit(mixtures.exact_w1_or_nan, samples_Nx2, trace_real_Nx2)
                       for samples_Nx2 in samples_SxNx2])

  start = time.perf_counter()
  state, history = loop.train_seeds(
      run.steps, list(range(seed, seed + seeds)), iters, eval_every=every,
      chunk=config.schedule.steps_per_dispatch, evaluate=evaluate, label=f"ring8/{name}")
  eval_samples = config.eval.samples
  samples_SxNx2 = np.asarray(generate(state, jax.random.split(jax.random.key(999), seeds),
                                      eval_samples)) * run.scale
  real_Nx2 = np.asarray(dataset.sample(jax.random.key(2017), eval_samples))
  final = []
  for samples_Nx2 in samples_SxNx2:
    m = mixtures.mode_metrics(samples_Nx2, dataset.centers, dataset.std)
    final.append({"modes": m["modes"], "high_quality": m["high_quality"],
                  "w1": mixtures.exact_w1_or_nan(samples_Nx2, real_Nx2)})
  w1_ExS = np.asarray([[f.result() for f in row] for row in w1_futures], np.float64)
  per_seed = []
  for s in range(seeds):
    estimate_T = history["estimate"][:, s].astype(np.float64)
    cos = cosines_TxN(history, run.spec.n_critic, s)
    episodes = w1_episodes(w1_ExS[:, s], w1_steps)
    stats = cosine_coincidence(episodes, cos, lead=0)
    per_seed.append({"spans": episodes, **stats, "coincides": run_coincides(stats),
                     "w1_steps": list(w1_steps), "w1_trace": w1_ExS[:, s].tolist(),
                     "series": _series(f"{name} (seed {seed + s})", estimate_T, cos, episodes,
                                       w1_steps=w1_steps, w1=w1_ExS[:, s]),
                     **final[s]})
  return {"per_seed": per_seed, "wall_time_s": time.perf_counter() - start}


def train_mnist(config, name: str, classifier, real, num_samples: int) -> dict:
  """WGAN on the offline digits with the optimiser of run ``config``: series, episodes, digit
  metrics of ``num_samples`` samples."""
  run = experiment.build(config)
  seed = config.run.seed
  start = time.perf_counter()
  state, history = loop.train_seeds(run.steps, [seed], config.schedule.num_steps,
                                    eval_every=config.schedule.num_steps,
                                    chunk=config.schedule.steps_per_dispatch, data=run.data,
                                    label=f"mnist/{name}")
  generate = steps_lib.generate_over_seeds(run.steps)
  keys = jax.random.split(jax.random.key(seed + 1000), 1)
  samples = np.asarray(generate(state, keys, num_samples)[0])
  judged = digits.digit_metrics_or_nan(classifier, samples, real)
  estimate_T = history["estimate"][:, 0].astype(np.float64)
  cos = cosines_TxN(history, run.spec.n_critic)
  episodes = unstable_episodes(estimate_T)
  return {"per_seed": [{"spans": episodes, **cosine_coincidence(episodes, cos),
                        "series": _series(name, estimate_T, cos, episodes),
                        "classes_covered": judged["classes_covered"],
                        "mean_top_prob": judged["mean_top_prob"],
                        "frechet": judged.get("frechet", math.nan)}],
          "sheet": writers.image_sheet(np.nan_to_num(samples[:64])),
          "wall_time_s": time.perf_counter() - start}
