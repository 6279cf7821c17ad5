"""The Gaussian-mixture reproduction: every method on ring8 and grid25, several seeds, measured.

``run(config, workdir)`` trains each (dataset, method) for all seeds at once through
``train.train_seeds`` and writes samples, summary.json, summary.md, figure_2.png and
learning_curves.png. ``experiments/gaussians.py`` is its command line.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import math
import os
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from wgan_jax import checks
from wgan_jax import files
from wgan_jax import metrics as metrics_lib
from wgan_jax import models
from wgan_jax import optim
from wgan_jax import plots
from wgan_jax import steps as steps_lib
from wgan_jax import train
from wgan_jax.data import toy

METHODS = ("gan", "wgan", "wgan-gp", "ebgan")
# Relative training time of the methods (the README's table), to start the longest runs first.
METHOD_COST = {"wgan-gp": 4, "wgan": 3, "gan": 1, "ebgan": 1}
DATASETS = ("ring8", "grid25")
# The WGAN-GP toy script trains on the mixtures divided by these (its "dataset /= 1.414").
DATA_SCALE = {"ring8": math.sqrt(2), "grid25": 2 * math.sqrt(2)}


def _field(default, help_: str):
  return dataclasses.field(default=default, metadata={"help": help_})


@dataclasses.dataclass(frozen=True)
class GaussiansConfig:
  """Every hyperparameter of the reproduction; each field is a flag of experiments/gaussians.py."""

  datasets: tuple[str, ...] = _field(DATASETS, "Mixtures to train on: ring8, grid25.")
  methods: tuple[str, ...] = _field(METHODS, "Methods: gan (-log D), wgan, wgan-gp, ebgan.")
  seeds: int = _field(10, "Seeds per dataset and method, trained at once with vmap (PacGAN's "
                      "table: 10 trials).")
  iters: int = _field(10000, "Generator iterations per run.")
  # Networks and data, shared by every method.
  hidden: int = _field(64, "Width of the hidden ReLU layers of the generator and the critic.")
  depth: int = _field(3, "Hidden layers of the generator and of the critic.")
  noise_dim: int = _field(2, "Dimension of the generator's Gaussian noise.")
  batch_size: int = _field(256, "Real and fake samples per critic and generator step.")
  lr_decay: bool = _field(True, "Decay every learning rate linearly to 0 over the run, as the "
                          "WGAN-GP CIFAR-10 script does.")
  scale_data: bool = _field(True, "Train on the mixtures divided by sqrt(2) (ring8) or "
                            "2 sqrt(2) (grid25) as the WGAN-GP toy script does; samples and "
                            "metrics stay in the original coordinates.")
  # WGAN (Algorithm 1), and the critic iterations of WGAN-GP.
  n_critic: int = _field(5, "Critic iterations per generator iteration (WGAN, WGAN-GP).")
  wgan_lr: float = _field(5e-4, "WGAN: RMSProp learning rate of both networks (the paper: 5e-5).")
  clip: float = _field(0.1, "WGAN: the critic's weights are clipped to [-clip, clip] (the "
                      "paper: 0.01, for critics 8 times wider).")
  official_schedule: bool = _field(True, "WGAN: 100 critic iterations for the first 25 "
                                   "generator iterations and every 500th, as the official code.")
  # WGAN-GP.
  gp_lr: float = _field(4e-3, "WGAN-GP: Adam learning rate (the toy script: 1e-4).")
  gp_b1: float = _field(0.5, "WGAN-GP: Adam beta1 (0.5 in the toy script).")
  gp_b2: float = _field(0.9, "WGAN-GP: Adam beta2.")
  gp_weight: float = _field(0.1, "WGAN-GP: penalty weight lambda (0.1 in the toy script).")
  one_sided_gp: bool = _field(False, "WGAN-GP: penalise only gradient norms above 1.")
  # GAN.
  gan_lr: float = _field(1e-3, "GAN: Adam learning rate.")
  gan_b1: float = _field(0.5, "GAN: Adam beta1.")
  gan_k: int = _field(1, "GAN: discriminator steps per generator step.")
  gan_generator_loss: str = _field("nonsaturating", "GAN: generator loss, nonsaturating "
                                   "(-log D) or minimax (log(1 - D)).")
  # EBGAN.
  ebgan_lr: float = _field(1e-3, "EBGAN: Adam learning rate.")
  ebgan_b1: float = _field(0.5, "EBGAN: Adam beta1.")
  ebgan_k: int = _field(1, "EBGAN: discriminator steps per generator step.")
  margin: float = _field(1.0, "EBGAN: margin m of the hinge on the energies of fakes.")
  # Evaluation.
  eval_samples: int = _field(2500, "Samples per seed for the final metrics (the protocol's).")
  num_evals: int = _field(20, "Points of training at which the exact W1 is measured.")
  curve_samples: int = _field(1000, "Samples (seed 0) for the W1 measured along training.")
  snapshots: tuple[float, ...] = _field((0.05, 0.2, 0.5, 1.0),
                                        "Fractions of training shown in figure_2.png.")
  chunk: int = _field(100, "Training steps per dispatch.")
  jobs: int = _field(2, "(dataset, method) runs trained at once, each in a thread: one run's "
                     "compilation and evaluation overlap another's training, and two small "
                     "runs fill two cores that one cannot. Results do not depend on it.")
  dtype: str = _field("float32", "Compute dtype of the networks' matmuls: float32 or bfloat16 "
                      "(parameters stay float32).")

  def __post_init__(self):
    if self.dtype not in ("float32", "bfloat16"):
      raise ValueError(f"--dtype must be float32 or bfloat16, got {self.dtype!r}")
    for name in ("jobs", "seeds", "iters", "hidden", "depth", "noise_dim", "batch_size",
                 "n_critic", "gan_k", "ebgan_k", "eval_samples", "num_evals", "curve_samples",
                 "chunk"):
      checks.check_count(f"--{name}", getattr(self, name))
    # What each needs at least, in the bytes of its largest arrays: a batch's samples, noise and
    # one layer's activations for every seed; the exact W1's float64 cost matrix of N x N; the
    # networks' hidden-to-hidden kernels.
    checks.check_count("--batch_size", self.batch_size, 1,
                       lambda n: n * 4 * self.seeds * (2 * 2 + self.noise_dim + self.hidden),
                       f"one batch of {self.seeds} seeds")
    for name in ("eval_samples", "curve_samples"):
      checks.check_count(f"--{name}", getattr(self, name), 1, lambda n: 8 * n * n,
                         "the exact W1's N x N cost matrix")
    checks.check_count("--hidden", self.hidden, 1,
                       lambda n: 4 * self.seeds * 2 * (self.depth - 1) * n * n,
                       f"the hidden-to-hidden weights of {self.seeds} seeds' generators and "
                       f"critics")
    for name in ("wgan_lr", "clip", "gp_lr", "gan_lr", "ebgan_lr", "margin"):
      if not getattr(self, name) > 0:
        raise ValueError(f"--{name} must be positive, got {getattr(self, name)}")
      if not math.isfinite(getattr(self, name)):
        raise ValueError(f"--{name} must be finite, got {getattr(self, name)}")
    if not self.gp_weight >= 0 or not math.isfinite(self.gp_weight):
      raise ValueError(f"--gp_weight must be finite and non-negative, got {self.gp_weight}")
    for name in ("gp_b1", "gp_b2", "gan_b1", "ebgan_b1"):
      if not 0 <= getattr(self, name) < 1:
        raise ValueError(f"--{name} must lie in [0, 1), got {getattr(self, name)}")
    for name, known in (("methods", METHODS), ("datasets", DATASETS)):
      values = getattr(self, name)
      if not values:
        raise ValueError(f"--{name} is empty; choose from {', '.join(known)}")
      for value in values:
        if value not in known:
          raise ValueError(f"--{name}: unknown {name[:-1]} {value!r}; "
                           f"choose from {', '.join(known)}")
      if len(set(values)) != len(values):
        raise ValueError(f"--{name} lists a name twice: {','.join(values)}")
    if self.gan_generator_loss not in ("nonsaturating", "minimax"):
      raise ValueError(f"--gan_generator_loss must be nonsaturating or minimax, "
                       f"got {self.gan_generator_loss!r}")
    if not self.snapshots or not all(0 < f <= 1 for f in self.snapshots):
      raise ValueError(f"--snapshots must be fractions in (0, 1], got {self.snapshots}")


def build_spec(config: GaussiansConfig, method: str, dataset: toy.ToyDataset,
               scale: float) -> steps_lib.GANSpec:
  """The GANSpec of one method on one (scaled) mixture."""
  hidden = (config.hidden,) * config.depth
  opt = optim.OptimizerConfig
  if method == "wgan":
    gen_opt = opt("rmsprop", config.wgan_lr)
    critic_opt = opt("rmsprop", config.wgan_lr, clip=config.clip)
  elif method == "wgan-gp":
    gen_opt = critic_opt = opt("adam", config.gp_lr, config.gp_b1, config.gp_b2)
  elif method == "gan":
    gen_opt = critic_opt = opt("adam", config.gan_lr, config.gan_b1)
  else:
    gen_opt = critic_opt = opt("adam", config.ebgan_lr, config.ebgan_b1)
  dtype = jnp.dtype(config.dtype)
  critic = models.MLPAutoencoder(hidden[:-1] or hidden) if method == "ebgan" else models.MLP(
      hidden, 1, dtype=dtype)
  n_critic = {"gan": config.gan_k, "ebgan": config.ebgan_k}.get(method, config.n_critic)
  official_schedule = config.official_schedule and method == "wgan"
  gen_schedule = critic_schedule = None
  if config.lr_decay:
    # Schedules count optimiser updates: the critic makes several per generator iteration.
    critic_updates = int(jnp.sum(steps_lib.critic_iterations_of(
        n_critic, official_schedule, jnp.arange(config.iters))))
    gen_schedule = optax.linear_schedule(gen_opt.learning_rate, 0.0, config.iters)
    critic_schedule = optax.linear_schedule(critic_opt.learning_rate, 0.0, critic_updates)
  return steps_lib.GANSpec(
      generator=models.MLP(hidden, 2, dtype=dtype),
      critic=critic,
      generator_tx=optim.make_optimizer(gen_opt, gen_schedule),
      critic_tx=optim.make_optimizer(critic_opt, critic_schedule),
      objective=steps_lib.Objective(method, gp_weight=config.gp_weight,
                                    one_sided_gp=config.one_sided_gp,
                                    gan_generator_loss=config.gan_generator_loss,
                                    margin=config.margin),
      sample_real=lambda key, n: dataset.sample(key, n) / scale,
      noise_dim=config.noise_dim,
      batch_size=config.batch_size,
      n_critic=n_critic,
      official_schedule=official_schedule,
  )


def _w1_or_nan(samples_Nx2: np.ndarray, real_Nx2: np.ndarray) -> float:
  if not np.all(np.isfinite(samples_Nx2)):
    return math.nan  # a diverged generator; the summary says so
  return metrics_lib.exact_w1(samples_Nx2, real_Nx2)


def _snapshot_steps(config: GaussiansConfig, eval_every: int) -> list[int]:
  """The evaluation steps nearest to the requested fractions of training."""
  evals = sorted(set(list(range(0, config.iters + 1, eval_every)) + [config.iters]))
  return sorted({min(evals, key=lambda s: abs(s - f * config.iters)) for f in config.snapshots})


def _later(pool: concurrent.futures.Executor | None, fn, *args) -> concurrent.futures.Future:
  """fn(*args) on ``pool``, or now when there is none."""
  if pool is not None:
    return pool.submit(fn, *args)
  future = concurrent.futures.Future()
  future.set_result(fn(*args))
  return future


class _LineStream:
  """stderr as a non-terminal: runs in parallel threads print whole progress lines instead of
  rewriting one line in place over each other."""

  def write(self, text: str) -> int:
    return sys.stderr.write(text)

  def flush(self) -> None:
    sys.stderr.flush()

  def isatty(self) -> bool:
    return False


def resolve_w1(result: dict) -> dict:
  """``result`` with its exact-W1 futures replaced by their values."""
  for row in result["per_seed"]:
    row["w1"] = row["w1"].result()
  result["w1_curve"] = np.asarray([f.result() for f in result["w1_curve"]])
  return result


def train_one(config: GaussiansConfig, dataset: toy.ToyDataset, method: str,
              real_Nx2: np.ndarray, label: str,
              w1_pool: concurrent.futures.Executor | None = None,
              stop: threading.Event | None = None) -> dict:
  """Trains all seeds of one (dataset, method); returns samples, curves and metrics.

  With ``w1_pool`` the exact W1 distances (POT's network simplex, which releases the GIL) are
  computed there while training goes on, and the result holds futures until ``resolve_w1``;
  its wall time then covers training, sampling and the mode metrics. Setting ``stop`` ends the
  run at its next evaluation (a run in another thread cannot be interrupted otherwise).
  """
  scale = DATA_SCALE[dataset.name] if config.scale_data else 1.0
  steps = steps_lib.make_steps(build_spec(config, method, dataset, scale))
  generate = jax.jit(steps_lib.over_seeds(steps.generate, out_axes=0), static_argnums=2)
  seed_keys = jax.random.split(jax.random.key(12345), config.seeds)
  eval_every = max(config.iters // config.num_evals, 1)
  snapshot_steps = _snapshot_steps(config, eval_every)
  snapshots, eval_steps, w1_curve = [], [], []

  def evaluate(state, step):
    if stop is not None and stop.is_set():
      raise RuntimeError(f"{label}: stopped because another run failed or was interrupted")
    n = max(config.curve_samples, 1000)
    samples_Nx2 = np.asarray(generate(state, seed_keys, n)[0]) * scale
    eval_steps.append(step)
    w1_curve.append(_later(w1_pool, _w1_or_nan, samples_Nx2[:config.curve_samples],
                           real_Nx2[:config.curve_samples]))
    if step in snapshot_steps:
      snapshots.append((step, samples_Nx2[:1000]))

  start = time.perf_counter()
  state, history = train.train_seeds(steps, list(range(config.seeds)), config.iters,
                                     eval_every=eval_every, chunk=config.chunk,
                                     evaluate=evaluate, label=label,
                                     stream=sys.stderr if config.jobs == 1 else _LineStream())
  final_SxNx2 = np.asarray(generate(state, jax.random.split(jax.random.key(999), config.seeds),
                                    config.eval_samples)) * scale
  per_seed = []
  for samples_Nx2 in final_SxNx2:
    result = metrics_lib.mode_metrics(samples_Nx2, dataset.centers, dataset.std)
    result["w1"] = _later(w1_pool, _w1_or_nan, samples_Nx2, real_Nx2)
    per_seed.append(result)
  result = {
      "samples": final_SxNx2.astype(np.float32),
      "per_seed": per_seed,
      "snapshots": snapshots,
      "estimate_SxT": history["estimate"].T,
      "eval_steps": np.asarray(eval_steps),
      "w1_curve": w1_curve,
      "wall_time_s": time.perf_counter() - start,
  }
  return result if w1_pool is not None else resolve_w1(result)


def standard_error(values: np.ndarray) -> float:
  """The standard error of the mean over seeds, std (n - 1 dof) / sqrt(n); NaN for one seed."""
  n = len(values)
  return float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else math.nan


def summarize(method: str, result: dict) -> dict:
  """The summary row of one (dataset, method)."""
  per_seed = result["per_seed"]
  # The estimate fluctuates from step to step: report the median of the last 1% of iterations.
  estimate_SxT = result["estimate_SxT"]
  tail = max(estimate_SxT.shape[1] // 100, 1)
  final_estimate = float(np.mean(np.median(estimate_SxT[:, -tail:], axis=1)))
  column = lambda name, scale=1: scale * np.asarray([r[name] for r in per_seed], np.float64)
  modes, high_quality = column("modes"), column("high_quality", 100)
  reverse_kl, w1 = column("reverse_kl"), column("w1")
  return {
      "modes_mean": float(np.mean(modes)), "modes_se": standard_error(modes),
      "modes_min": int(np.min(modes)),
      "high_quality_pct_mean": float(np.mean(high_quality)),
      "high_quality_pct_se": standard_error(high_quality),
      "high_quality_pct_min": float(np.min(high_quality)),
      "reverse_kl_mean": float(np.mean(reverse_kl)), "reverse_kl_se": standard_error(reverse_kl),
      "reverse_kl_max": float(np.max(reverse_kl)),
      "w1_mean": float(np.mean(w1)), "w1_se": standard_error(w1),
      "final_estimate": final_estimate,
      "estimate_name": steps_lib.ESTIMATE_NAMES[method],
      "wall_time_s": result["wall_time_s"],
      "per_seed": per_seed,
  }


def summary_markdown(config: GaussiansConfig, summary: dict) -> str:
  lines = [
      "# Gaussian mixtures: GAN, WGAN, WGAN-GP, EBGAN",
      "",
      f"{config.seeds} seeds, {config.iters} generator iterations, {config.eval_samples} samples "
      "per seed; VEEGAN/PacGAN protocol (high quality = within 3 std of the nearest centre); "
      "W1 = exact optimal transport (POT) against as many real samples. Mean ± standard "
      "error over seeds (std / sqrt(seeds)), min or max where stated.",
      "",
      "| dataset | method | modes (mean ± SE) | modes (min) | high quality % (mean ± SE / min) "
      "| reverse KL (mean ± SE / max) | exact W1 (mean ± SE) | final estimate | wall time (s) |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ]
  pm = lambda row, name, spec: f"{row[name + '_mean']:{spec}} ± {row[name + '_se']:{spec}}"
  for dataset, rows in summary["results"].items():
    for method, row in rows.items():
      estimate = ("n/a" if not row["estimate_name"]
                  else f"{row['final_estimate']:.4f} ({row['estimate_name'].split(' ')[0]})")
      lines.append(
          f"| {dataset} | {method} | {pm(row, 'modes', '.2f')} | {row['modes_min']} | "
          f"{pm(row, 'high_quality_pct', '.1f')} / {row['high_quality_pct_min']:.1f} | "
          f"{pm(row, 'reverse_kl', '.4f')} / {row['reverse_kl_max']:.4f} | "
          f"{pm(row, 'w1', '.4f')} | {estimate} | {row['wall_time_s']:.0f} |")
  lines += ["", f"Total wall time: {summary['total_wall_time_s']:.0f} s on {summary['machine']}.",
            ""]
  return "\n".join(lines)


def run(config: GaussiansConfig, workdir: str) -> dict:
  """Trains, evaluates and writes every output; returns the summary."""
  start = time.perf_counter()
  datasets = [toy.get_dataset(name) for name in config.datasets]
  real = {ds.name: np.asarray(ds.sample(jax.random.key(2017), config.eval_samples))
          for ds in datasets}
  jobs = [(ds, method) for ds in datasets for method in config.methods]
  # Longest first, so that the runs in flight finish close together.
  order = sorted(range(len(jobs)), key=lambda i: METHOD_COST[jobs[i][1]], reverse=True)
  with concurrent.futures.ThreadPoolExecutor(1) as w1_pool, \
       concurrent.futures.ThreadPoolExecutor(config.jobs) as job_pool:
    futures, stop = {}, threading.Event()
    for i in order:
      ds, method = jobs[i]
      label = f"[{i + 1}/{len(jobs)}] {ds.name}/{method}"
      futures[i] = job_pool.submit(train_one, config, ds, method, real[ds.name], label, w1_pool,
                                   stop)
    results: dict[str, dict[str, dict]] = {ds.name: {} for ds in datasets}
    try:
      for i, (ds, method) in enumerate(jobs):
        results[ds.name][method] = resolve_w1(futures[i].result())
    except BaseException:
      # Ctrl-C or a failed run: the runs in flight stop at their next evaluation, none starts.
      stop.set()
      job_pool.shutdown(wait=False, cancel_futures=True)
      w1_pool.shutdown(wait=False, cancel_futures=True)
      raise

  os.makedirs(workdir, exist_ok=True)
  summary = {"config": dataclasses.asdict(config), "results": {},
             "machine": f"{os.cpu_count()} CPU cores, jax {jax.__version__} on "
                        f"{jax.devices()[0].platform}"}
  for ds in datasets:
    summary["results"][ds.name] = {}
    for method, result in results[ds.name].items():
      out = os.path.join(workdir, ds.name, method)
      os.makedirs(out, exist_ok=True)
      files.save_npy(os.path.join(out, "samples.npy"), result["samples"][0])
      for seed, samples in enumerate(result["samples"]):
        files.save_npy(os.path.join(out, f"samples_seed{seed}.npy"), samples)
      summary["results"][ds.name][method] = summarize(method, result)

  plots.figure_2(
      os.path.join(workdir, "figure_2.png"),
      [{"name": ds.name, "centers": ds.centers, "std": ds.std, "real": real[ds.name][:1000]}
       for ds in datasets],
      {ds.name: {m: r["snapshots"] for m, r in results[ds.name].items()} for ds in datasets})
  plots.learning_curves(
      os.path.join(workdir, "learning_curves.png"),
      {ds.name: {m: {"steps": np.arange(1, config.iters + 1),
                     "estimate": r["estimate_SxT"][0],
                     "estimate_name": steps_lib.ESTIMATE_NAMES[m],
                     "eval_steps": r["eval_steps"], "w1": r["w1_curve"]}
                 for m, r in results[ds.name].items()} for ds in datasets})
  summary["total_wall_time_s"] = time.perf_counter() - start
  files.save_text(os.path.join(workdir, "summary.json"), json.dumps(summary, indent=2) + "\n")
  markdown = summary_markdown(config, summary)
  files.save_text(os.path.join(workdir, "summary.md"), markdown)
  print(markdown, file=sys.stdout)
  return summary
