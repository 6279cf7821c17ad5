"""Section 4.3: WGAN's critic with RMSProp against Adam, and the cosine of each step.

The paper's claim: with a momentum optimiser (Adam, β1 > 0) or a high learning rate the critic
becomes unstable at times, and when it does, the cosine between the optimiser's step and the
gradient turns negative; RMSProp avoids these episodes.

Each WGAN here is trained with the critic's and the generator's optimiser one of RUNS, on the toy
ring (ring8, the networks and data scaling of ``wgan_jax.gaussians``, several seeds at once) and
on the offline MNIST digits (DCGAN generator and critic of experiments/configs/mnist.py), through
``train.train_seeds``. The critic logs, at every update, cos(step, -gradient) of its optimiser's
step before clipping (``steps.GANSpec.log_update_cosine``): 1 for plain gradient descent,
negative when the step goes uphill. For RMSProp (and Adam with β1 = 0) it is positive by
construction: the step is the gradient scaled by positive per-coordinate factors. Only momentum
can turn it negative.

An unstable episode is found in the EM estimate alone (``unstable_episodes``), then compared with
the cosines.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import time

import numpy as np

from wgan_jax.paper import Claim, PartResult

TITLE = "Adam against RMSProp (Section 4.3): unstable critics and the cosine of the Adam step"


@dataclasses.dataclass(frozen=True)
class OptimizerRun:
  """One optimiser, for both networks; the learning rate is a multiple of the dataset's base."""

  name: str
  optimizer: str  # rmsprop (PyTorch's) | adam
  lr_factor: float = 1.0
  b1: float = 0.0  # Adam only
  b2: float = 0.999  # Adam only


RUNS = (
    OptimizerRun("rmsprop", "rmsprop"),
    OptimizerRun("rmsprop_lr_x10", "rmsprop", lr_factor=10.0),
    OptimizerRun("adam_b1_0.5", "adam", b1=0.5),
    OptimizerRun("adam_b1_0.9", "adam", b1=0.9),
    OptimizerRun("adam_b1_0.5_lr_x10", "adam", lr_factor=10.0, b1=0.5),
)
BASELINE = "rmsprop"
FIGURES = {"ring8": "ring8_estimate_cosine.png", "mnist": "mnist_estimate_cosine.png"}
SHEETS = "mnist_sheets.png"

# Unstable episodes, fixed before any run: the estimate leaves a band of EPISODE_K robust
# standard deviations (1.4826 x the median absolute deviation of the run's residuals) around its
# running median (window EPISODE_WINDOW), at EPISODE_MIN_POINTS or more iterations not more than
# EPISODE_GAP apart; a non-finite estimate is always outside. Gaussian noise leaves a 4-sigma band
# once in 16,000 iterations, so three such points close together are not noise.
EPISODE_WINDOW = 101
EPISODE_K = 4.0
# A nearly noise-free curve has a tiny band, and its smooth bends would leave it: a point also
# has to be EPISODE_MIN_JUMP x the typical size (median absolute value) of the running median
# away from it. Added after the shortened runs of 2026-11-23 flagged such bends, before the
# full run.
EPISODE_MIN_JUMP = 0.1
# The first and last half windows are never part of an episode: at the start the critic climbs
# from its initialisation, and at both ends the edge-padded running median lags the series.
EPISODE_SKIP = EPISODE_WINDOW // 2
EPISODE_GAP = 10
EPISODE_MIN_POINTS = 3
# A negative cosine "coincides" with an episode when it falls in the episode or in the
# COSINE_LEAD generator iterations before it (the step that destabilises comes first).
COSINE_LEAD = 5
# Claim 2 holds when negative cosines are at least this many times more frequent in episodes
# than outside them, and at least half of the episodes have one; it needs MIN_EPISODES episodes.
RATE_RATIO = 2.0
MIN_EPISODES = 3


@dataclasses.dataclass(frozen=True)
class Settings:
  runs: tuple[str, ...] = tuple(r.name for r in RUNS)  # on ring8
  mnist_runs: tuple[str, ...] = tuple(r.name for r in RUNS)
  # The toy ring: wgan_jax.gaussians' WGAN (64-unit networks, clip 0.1, batch 256, RMSProp 5e-4
  # as its base rate) without its learning-rate decay and critic warm-up, so that every critic
  # update is logged and nothing but the optimiser differs.
  toy_iters: int = 5000
  toy_seeds: int = 3
  toy_hidden: int = 64
  toy_lr: float = 5e-4
  toy_clip: float = 0.1
  toy_eval_samples: int = 2500
  # MNIST: the paper's RMSProp 5e-5 and c = 0.01 as the base, DCGAN networks at CPU width.
  mnist_steps: int = 300
  mnist_features: int = 16
  mnist_batch_size: int = 64
  mnist_lr: float = 5e-5
  mnist_unroll: bool = False
  num_samples: int = 1000  # digits judged per MNIST run
  num_real: int = 1000
  seed: int = 0


# A smoke test: two optimisers on the ring, one on MNIST, tiny networks, a few steps.
QUICK = Settings(runs=("rmsprop", "adam_b1_0.9"), mnist_runs=("rmsprop",), toy_iters=20,
                 toy_seeds=1, toy_hidden=8, toy_eval_samples=200, mnist_steps=2,
                 mnist_features=4, mnist_batch_size=8, num_samples=50,
                 num_real=50)


# Episodes and their cosines ----------------------------------------------------------------------

def unstable_episodes(estimate_T, window: int = EPISODE_WINDOW, k: float = EPISODE_K,
                      gap: int = EPISODE_GAP, min_points: int = EPISODE_MIN_POINTS,
                      skip: int = EPISODE_SKIP,
                      min_jump: float = EPISODE_MIN_JUMP) -> list[tuple[int, int]]:
  """(first, last) indices into estimate_T of each unstable episode (see EPISODE_* above).

  Points outside the band that lie at most ``gap`` indices apart form one group; a group of at
  least ``min_points`` such points is an episode, spanning its first to its last point. The
  first and last ``skip`` points are never outside (they still shape the median and the band).
  """
  from wgan_jax import plots

  estimate_T = np.asarray(estimate_T, np.float64)
  finite_T = np.isfinite(estimate_T)
  outside_T = ~finite_T
  if finite_T.sum() >= 2:
    values_F = estimate_T[finite_T]
    median_F = plots.running_median(values_F, min(window, _odd(len(values_F))))
    residual_F = values_F - median_F
    sigma = 1.4826 * float(np.median(np.abs(residual_F)))
    floor = min_jump * float(np.median(np.abs(median_F)))
    # A flat series has sigma 0: then only a real departure from the median counts.
    outside_T[finite_T] = np.abs(residual_F) > max(k * sigma, floor, 1e-12)
  outside_T[:skip] = False
  outside_T[len(outside_T) - skip:] = False
  episodes, group = [], []
  for t in np.flatnonzero(outside_T):
    if group and t - group[-1] > gap:
      if len(group) >= min_points:
        episodes.append((int(group[0]), int(group[-1])))
      group = []
    group.append(int(t))
  if len(group) >= min_points:
    episodes.append((int(group[0]), int(group[-1])))
  return episodes


def _odd(n: int) -> int:
  return n if n % 2 else n - 1


def episode_mask(episodes: list[tuple[int, int]], length: int, lead: int = COSINE_LEAD
                 ) -> np.ndarray:
  """(length,) bool: the iterations of every episode and the ``lead`` iterations before each."""
  mask_T = np.zeros(length, bool)
  for first, last in episodes:
    mask_T[max(first - lead, 0):last + 1] = True
  return mask_T


def cosine_coincidence(episodes: list[tuple[int, int]], cosine_TxN: np.ndarray,
                       lead: int = COSINE_LEAD) -> dict:
  """How negative cosines (cosine_TxN: T generator iterations x N critic updates each) fall with
  respect to the episodes: episodes with a negative cosine (in them or ``lead`` iterations
  before), and the fraction of negative cosines among updates in and out of those windows."""
  cosine_TxN = np.asarray(cosine_TxN, np.float64)
  negative_TxN = cosine_TxN < 0
  in_T = episode_mask(episodes, cosine_TxN.shape[0], lead)
  with_negative = sum(bool(negative_TxN[max(a - lead, 0):b + 1].any()) for a, b in episodes)
  n_in, n_out = int(in_T.sum()) * cosine_TxN.shape[1], int((~in_T).sum()) * cosine_TxN.shape[1]
  return {
      "episodes": len(episodes),
      "episodes_with_negative": with_negative,
      "negative_in": int(negative_TxN[in_T].sum()), "updates_in": n_in,
      "negative_out": int(negative_TxN[~in_T].sum()), "updates_out": n_out,
      "negative_total": int(negative_TxN.sum()),
      "min_cosine": float(np.nanmin(cosine_TxN)) if cosine_TxN.size else math.nan,
  }


def pooled(stats: list[dict]) -> dict:
  """Sums of ``cosine_coincidence`` counts over runs or seeds, with the two rates."""
  keys = ("episodes", "episodes_with_negative", "negative_in", "updates_in", "negative_out",
          "updates_out", "negative_total")
  total = {k: sum(s[k] for s in stats) for k in keys}
  total["rate_in"] = total["negative_in"] / total["updates_in"] if total["updates_in"] else math.nan
  total["rate_out"] = (total["negative_out"] / total["updates_out"] if total["updates_out"]
                       else math.nan)
  return total


def judge_stability(episodes_by_run: dict[str, int]) -> str:
  """Claim 1 from the episode counts (summed over seeds) by run name.

  Holds when every other run has more episodes than BASELINE (RMSProp at the base rate); does
  not hold when they have, on average, no more than it; unclear in between.
  """
  base = episodes_by_run[BASELINE]
  others = [n for name, n in episodes_by_run.items() if name != BASELINE]
  if not others:
    return "unclear"
  if all(n > base for n in others):
    return "holds"
  if np.mean(others) <= base:
    return "does not hold"
  return "unclear"


def judge_coincidence(total: dict) -> str:
  """Claim 2 from ``pooled`` counts over every run of a dataset (see RATE_RATIO)."""
  if total["episodes"] < MIN_EPISODES:
    return "unclear"
  rate_in, rate_out = total["rate_in"], total["rate_out"]
  if rate_in <= rate_out or total["negative_in"] == 0:
    return "does not hold"
  if (rate_in >= RATE_RATIO * rate_out
      and total["episodes_with_negative"] >= 0.5 * total["episodes"]):
    return "holds"
  return "unclear"


# Training ----------------------------------------------------------------------------------------

def make_tx(run: OptimizerRun, lr: float, clip: float | None = None, record: bool = False):
  """The optax transform of ``run`` at base rate ``lr``: with_update_cosine inside the clipping."""
  import optax

  from wgan_jax import optim
  from wgan_jax import steps as steps_lib

  rate = lr * run.lr_factor
  if run.optimizer == "rmsprop":
    tx = optim.torch_rmsprop(rate)
  elif run.optimizer == "adam":
    tx = optax.adam(rate, b1=run.b1, b2=run.b2)
  else:
    raise ValueError(f"unknown optimiser {run.optimizer!r}")
  if record:
    tx = steps_lib.with_update_cosine(tx)
  return tx if clip is None else optax.chain(tx, optim.clip_params(clip))


def cosines_TxN(history: dict, n_critic: int, seed: int = 0) -> np.ndarray:
  """The per-update cosines of ``train_seeds``' history for one seed: (steps, n_critic)."""
  return np.stack([history[f"update_cosine_{i}"][:, seed] for i in range(n_critic)], axis=1)


def _series(name: str, estimate_T, cosine_TxN, episodes, estimate_name="EM estimate") -> dict:
  steps_T = np.arange(1, len(estimate_T) + 1)
  n = cosine_TxN.shape[1]
  # Update i of generator iteration t (1-based) is drawn at t - 1 + (i + 1) / n.
  cos_steps = (steps_T[:, None] - 1 + (np.arange(n)[None, :] + 1) / n).ravel()
  return {"name": name, "steps": steps_T, "estimate": estimate_T, "estimate_name": estimate_name,
          "cosine_steps": cos_steps, "cosine": cosine_TxN.ravel(),
          "episodes": [(a + 1, b + 1) for a, b in episodes]}


def train_ring(settings: Settings, run: OptimizerRun) -> dict:
  """WGAN on ring8 with ``run``'s optimiser, all seeds at once; series, episodes, final metrics."""
  import jax

  from wgan_jax import gaussians
  from wgan_jax import metrics as metrics_lib
  from wgan_jax import steps as steps_lib
  from wgan_jax import train
  from wgan_jax.data import toy

  config = gaussians.GaussiansConfig(
      methods=("wgan",), datasets=("ring8",), seeds=settings.toy_seeds, iters=settings.toy_iters,
      hidden=settings.toy_hidden, wgan_lr=settings.toy_lr, clip=settings.toy_clip,
      lr_decay=False, official_schedule=False)
  dataset = toy.get_dataset("ring8")
  scale = gaussians.DATA_SCALE["ring8"]
  spec = dataclasses.replace(
      gaussians.build_spec(config, "wgan", dataset, scale),
      generator_tx=make_tx(run, settings.toy_lr),
      critic_tx=make_tx(run, settings.toy_lr, settings.toy_clip, record=True),
      log_update_cosine=True)
  steps = steps_lib.make_steps(spec)
  start = time.perf_counter()
  state, history = train.train_seeds(
      steps, list(range(settings.seed, settings.seed + settings.toy_seeds)), settings.toy_iters,
      eval_every=settings.toy_iters, chunk=min(100, settings.toy_iters),
      label=f"ring8/{run.name}")
  generate = jax.jit(steps_lib.over_seeds(steps.generate, out_axes=0), static_argnums=2)
  keys = jax.random.split(jax.random.key(999), settings.toy_seeds)
  samples_SxNx2 = np.asarray(generate(state, keys, settings.toy_eval_samples)) * scale
  real_Nx2 = np.asarray(dataset.sample(jax.random.key(2017), settings.toy_eval_samples))
  final = []
  for samples_Nx2 in samples_SxNx2:
    if np.all(np.isfinite(samples_Nx2)):
      m = metrics_lib.mode_metrics(samples_Nx2, dataset.centers, dataset.std)
      final.append({"modes": m["modes"], "high_quality": m["high_quality"],
                    "w1": metrics_lib.exact_w1(samples_Nx2, real_Nx2)})
    else:
      final.append({"modes": 0, "high_quality": 0.0, "w1": math.nan})
  per_seed = []
  for s in range(settings.toy_seeds):
    estimate_T = history["estimate"][:, s].astype(np.float64)
    cos = cosines_TxN(history, spec.n_critic, s)
    episodes = unstable_episodes(estimate_T)
    per_seed.append({"spans": episodes, **cosine_coincidence(episodes, cos),
                     "series": _series(f"{run.name} (seed {settings.seed + s})", estimate_T, cos,
                                       episodes), **final[s]})
  return {"per_seed": per_seed, "wall_time_s": time.perf_counter() - start}


def mnist_spec(settings: Settings, run: OptimizerRun):
  """(GANSpec, dataset on the device) of WGAN on the offline digits with ``run``'s optimiser.

  The networks come from experiment.py's tables for experiments/configs/mnist.py; the spec is
  built here because the critic's optimiser must record the cosine inside its clipping.
  """
  from wgan_jax import experiment
  from wgan_jax import steps as steps_lib
  from wgan_jax.data import images as images_lib
  from wgan_jax.paper import architectures

  c = architectures.mnist_base_config()
  c.features, c.batch_size = settings.mnist_features, settings.mnist_batch_size
  clip = c.critic_optimizer.clip  # the paper's 0.01
  pixels = images_lib.load_images(c.dataset, c.image_size, c.channels, dtype=np.uint8)
  spec = steps_lib.GANSpec(
      generator=experiment.GENERATORS["dcgan"](c), critic=experiment.CRITICS["dcgan"](c),
      generator_tx=make_tx(run, settings.mnist_lr),
      critic_tx=make_tx(run, settings.mnist_lr, clip, record=True),
      objective=steps_lib.Objective("wgan"),
      sample_real=lambda key, n, images: images_lib.DeviceSampler.draw(images, key, n),
      noise_dim=c.nz, batch_size=c.batch_size, n_critic=5, official_schedule=False,
      unroll=settings.mnist_unroll, log_update_cosine=True)
  return spec, images_lib.device_sampler(pixels).images


def train_mnist(settings: Settings, run: OptimizerRun, classifier, real) -> dict:
  """WGAN on the offline digits with ``run``'s optimiser: series, episodes, digit metrics."""
  import jax

  from wgan_jax import metrics as metrics_lib
  from wgan_jax import steps as steps_lib
  from wgan_jax import train
  from wgan_jax import writers

  spec, data = mnist_spec(settings, run)
  steps = steps_lib.make_steps(spec)
  start = time.perf_counter()
  # One step per dispatch, as the CPU configs run (see experiments/configs/mnist.py).
  state, history = train.train_seeds(steps, [settings.seed], settings.mnist_steps,
                                     eval_every=settings.mnist_steps, chunk=1, data=data,
                                     label=f"mnist/{run.name}")
  generate = jax.jit(steps_lib.over_seeds(steps.generate, out_axes=0), static_argnums=2)
  keys = jax.random.split(jax.random.key(settings.seed + 1000), 1)
  samples = np.asarray(generate(state, keys, settings.num_samples)[0])
  if np.all(np.isfinite(samples)):
    digits = metrics_lib.digit_metrics(classifier, samples, real)
  else:
    digits = {"classes_covered": 0, "mean_top_prob": math.nan, "frechet": math.nan}
  estimate_T = history["estimate"][:, 0].astype(np.float64)
  cos = cosines_TxN(history, spec.n_critic)
  episodes = unstable_episodes(estimate_T)
  return {"per_seed": [{"spans": episodes, **cosine_coincidence(episodes, cos),
                        "series": _series(run.name, estimate_T, cos, episodes),
                        "classes_covered": digits["classes_covered"],
                        "mean_top_prob": digits["mean_top_prob"],
                        "frechet": digits.get("frechet", math.nan)}],
          "sheet": writers.image_sheet(np.nan_to_num(samples[:64])),
          "wall_time_s": time.perf_counter() - start}


# Report ------------------------------------------------------------------------------------------

def _when(per_seed: list[dict], limit: int = 4) -> str:
  spans = [f"{a + 1}-{b + 1}" + (f" (s{i})" if len(per_seed) > 1 else "")
           for i, s in enumerate(per_seed) for a, b in s["spans"]]
  if not spans:
    return "-"
  return ", ".join(spans[:limit]) + (f" and {len(spans) - limit} more" if len(spans) > limit
                                     else "")


def _rate(n: int, d: int) -> str:
  return f"{n}/{d} ({100 * n / d:.2f}%)" if d else "0/0"


def _fmt(x, spec: str) -> str:
  return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _table(dataset: str, results: dict[str, dict], lr: float) -> str:
  by_name = {r.name: r for r in RUNS}
  lines = []
  for name, result in results.items():
    run, per_seed = by_name[name], result["per_seed"]
    p = pooled(per_seed)
    lr_text = f"{lr * run.lr_factor:g}"
    beta = f"{run.b1:g}" if run.optimizer == "adam" else "-"
    if dataset == "ring8":
      quality = (f"{np.mean([s['modes'] for s in per_seed]):.1f} / "
                 f"{_fmt(float(np.mean([s['w1'] for s in per_seed])), '.3f')}")
    else:
      s = per_seed[0]
      quality = f"{s['classes_covered']} / {_fmt(s['mean_top_prob'], '.2f')}"
    lines.append(
        f"| {dataset} | {name} | {lr_text} | {beta} | "
        f"{' + '.join(str(s['episodes']) for s in per_seed)} | {_when(per_seed)} | "
        f"{p['episodes_with_negative']}/{p['episodes']} | "
        f"{_rate(p['negative_in'], p['updates_in'])} | {_rate(p['negative_out'], p['updates_out'])}"
        f" | {_fmt(min(s['min_cosine'] for s in per_seed), '.3f')} | {quality} |")
  return "\n".join(lines)


TABLE_HEADER = (
    "| data | optimiser | lr | β1 | unstable episodes (per seed) | when (generator iterations) "
    "| episodes with a negative cosine | negative cosines in episodes | negative cosines outside "
    "| min cosine | final: modes / W1 (ring8), classes / top-class prob (MNIST) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|\n")


def _claims(dataset: str, results: dict[str, dict]) -> list[Claim]:
  episodes = {name: pooled(r["per_seed"])["episodes"] for name, r in results.items()}
  negatives = {name: pooled(r["per_seed"])["negative_total"] for name, r in results.items()}
  total = pooled([s for r in results.values() for s in r["per_seed"]])
  label = {"ring8": "toy ring (ring8)", "mnist": "MNIST"}[dataset]
  stability = Claim(
      claim=f"{label}: with Adam (β1 > 0) or a high learning rate the WGAN critic has unstable "
            f"episodes; RMSProp avoids them",
      number="unstable episodes (all seeds): " + ", ".join(f"{n} {k}" for k, n in episodes.items())
             + "; negative cosines: " + ", ".join(f"{n} {k}" for k, n in negatives.items()),
      verdict=judge_stability(episodes) if BASELINE in episodes else "unclear")
  coincidence = Claim(
      claim=f"{label}: unstable episodes coincide with negative cosines between the optimiser's "
            f"step and the descent direction",
      number=f"{total['episodes_with_negative']} of {total['episodes']} episodes have a negative "
             f"cosine (in them or {COSINE_LEAD} iterations before); negative cosines in episode "
             f"windows {_fmt(100 * total['rate_in'], '.2f')} % of updates, outside "
             f"{_fmt(100 * total['rate_out'], '.2f')} %",
      verdict=judge_coincidence(total))
  return [stability, coincidence]


def run(workdir: str, quick: bool = False, settings: Settings | None = None) -> PartResult:
  """Trains every run on ring8 and MNIST, writes the figures, series.npz files and result.json."""
  from wgan_jax import files
  from wgan_jax import metrics
  from wgan_jax import mnist_reproduction as repro
  from wgan_jax import plots
  from wgan_jax.paper import architectures

  settings = settings or (QUICK if quick else Settings())
  by_name = {r.name: r for r in RUNS}
  for runs in (settings.runs, settings.mnist_runs):
    if any(name not in by_name for name in runs) or BASELINE not in runs:
      raise ValueError(f"runs must include {BASELINE} and be among {', '.join(by_name)}; "
                       f"got {', '.join(runs)}")
  start = time.perf_counter()
  os.makedirs(workdir, exist_ok=True)
  ring = {name: train_ring(settings, by_name[name]) for name in settings.runs}

  classifier = architectures.digit_classifier(workdir, settings.seed, quick)
  real = repro.real_reference(settings.num_real, settings.seed)
  mnist = {name: train_mnist(settings, by_name[name], classifier, real)
           for name in settings.mnist_runs}

  plots.estimate_and_cosine(
      os.path.join(workdir, FIGURES["ring8"]),
      [r["per_seed"][0]["series"] for r in ring.values()],
      title=f"WGAN on ring8 (seed {settings.seed}): EM estimate and cos(critic step, -gradient)")
  plots.estimate_and_cosine(
      os.path.join(workdir, FIGURES["mnist"]), [r["per_seed"][0]["series"] for r in mnist.values()],
      title="WGAN on MNIST (DCGAN): EM estimate and cos(critic step, -gradient)")
  plots.sheet_grid(os.path.join(workdir, SHEETS), [[r["sheet"] for r in mnist.values()]],
                   ["MNIST"], list(mnist), title=f"Final samples, {settings.mnist_steps} "
                                                 f"generator iterations")
  for dataset, results in (("ring8", ring), ("mnist", mnist)):
    arrays = {}
    for name, r in results.items():
      for s, seed_result in enumerate(r["per_seed"]):
        arrays[f"{name}/seed{s}/estimate"] = seed_result["series"]["estimate"]
        arrays[f"{name}/seed{s}/cosine"] = seed_result["series"]["cosine"]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    files.replace_atomically(os.path.join(workdir, f"{dataset}_series.npz"), buffer.getvalue())

  table = (TABLE_HEADER + _table("ring8", ring, settings.toy_lr) + "\n"
           + _table("mnist", mnist, settings.mnist_lr) + "\n")
  claims = _claims("ring8", ring) + _claims("mnist", mnist)
  how = (
      f"WGAN with the same optimiser for both networks. ring8: the networks of "
      f"wgan_jax/gaussians.py ({settings.toy_hidden} units x 3 layers, batch 256, clip "
      f"{settings.toy_clip}, 5 critic iterations, no learning-rate decay, no critic warm-up), "
      f"base lr {settings.toy_lr:g}, {settings.toy_iters} generator iterations, "
      f"{settings.toy_seeds} seeds; final modes and exact W1 on {settings.toy_eval_samples} "
      f"samples. MNIST: DCGAN generator and BatchNorm critic with {settings.mnist_features} "
      f"filters, batch {settings.mnist_batch_size}, clip 0.01, 5 critic iterations, no warm-up, "
      f"base lr {settings.mnist_lr:g} (the paper's), {settings.mnist_steps} generator "
      f"iterations, one seed; final digits judged by the classifier on {settings.num_samples} "
      f"samples. Adam's β2 is 0.999. The cosine is cos(step, -gradient) of the critic's "
      f"optimiser before clipping, at every critic update. An unstable episode: the EM estimate "
      f"outside {EPISODE_K:g} robust standard deviations (1.4826 x MAD of the residuals) of its "
      f"running median (window {EPISODE_WINDOW}), and by more than {EPISODE_MIN_JUMP:g} x the "
      f"running median's median absolute value, at >= {EPISODE_MIN_POINTS} iterations at most "
      f"{EPISODE_GAP} apart, leaving out the first and last {EPISODE_SKIP} iterations. "
      f"Claim 1 holds when "
      f"every other optimiser has more episodes than RMSProp at the base rate, and does not "
      f"when they have on average no more. Claim 2 holds when negative cosines are >= "
      f"{RATE_RATIO:g}x as frequent in episodes (and the {COSINE_LEAD} iterations before) as "
      f"outside and at least half the episodes have one; it does not when they are no more "
      f"frequent; it is unclear with fewer than "
      f"{MIN_EPISODES} episodes. RMSProp's cosine is positive by construction (a positive "
      f"diagonal rescaling of the gradient), so only momentum can give a negative one.")
  result = PartResult(title=TITLE, figures=[FIGURES["ring8"], FIGURES["mnist"], SHEETS],
                      table_md=table, claims=claims, wall_time_s=time.perf_counter() - start,
                      how=how)
  summary = {dataset: {name: [{k: v for k, v in s.items() if k != "series"}
                              for s in r["per_seed"]] for name, r in results.items()}
             for dataset, results in (("ring8", ring), ("mnist", mnist))}
  summary["settings"] = dataclasses.asdict(settings)
  repro.write_json(os.path.join(workdir, "runs.json"), summary)
  result.save(workdir)
  return result
