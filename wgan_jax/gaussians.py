"""The Gaussian-mixture reproduction: every method on ring8 and grid25, several seeds, measured.

``run(config, workdir)`` trains each run of the sweep config (wgan_jax/configs/gaussians.py) for
all its seeds at once through ``loop.train_seeds`` and writes samples, summary.json, summary.md,
figure_2.png (``figure_2``: generator samples over the true mixture density, one row per method
and one column per training snapshot) and learning_curves.png (``plots.learning_curves``).
``experiments/gaussians.py`` is its command line.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import multiprocessing
import os
import queue
import signal
import sys
import time

import jax
import numpy as np

from wgan_jax import experiment
from wgan_jax import files
from wgan_jax import loop
from wgan_jax import plots
from wgan_jax import steps as steps_lib
from wgan_jax import supervise
from wgan_jax.data import toy
from wgan_jax.metrics import mixtures

# Relative training time of the methods, to start the longest runs first.
METHOD_COST = {"wgan-gp": 4, "wgan": 3, "gan": 1, "ebgan": 1}


def _snapshot_steps(config, eval_every: int) -> list[int]:
  """The evaluation steps nearest to the requested fractions of training."""
  iters = config.schedule.num_steps
  evals = sorted(set(list(range(0, iters + 1, eval_every)) + [iters]))
  return sorted({min(evals, key=lambda s: abs(s - f * iters)) for f in config.eval.snapshots})


class _LineStream:
  """stderr as a non-terminal: runs in parallel processes print whole progress lines instead of
  rewriting one line in place over each other."""

  def write(self, text: str) -> int:
    return sys.stderr.write(text)

  def flush(self) -> None:
    sys.stderr.flush()

  def isatty(self) -> bool:
    return False


def train_one(config, dataset: toy.ToyDataset, label: str) -> dict:
  """Trains all seeds of one run of the sweep; returns samples, curves and mode metrics.

  The exact W1 distances are left to ``add_w1``: the result holds the samples they need (seed
  0's ``curve_samples`` at each evaluation, every seed's final samples).
  """
  run = experiment.build(config)
  scale, seeds, iters = run.scale, config.run.seeds, config.schedule.num_steps
  generate = steps_lib.generate_over_seeds(run.steps)
  seed_keys = jax.random.split(jax.random.key(12345), seeds)
  eval_every = max(iters // config.eval.num_evals, 1)
  snapshot_steps = _snapshot_steps(config, eval_every)
  snapshots, eval_steps, curve = [], [], []
  curve_samples = config.eval.curve_samples

  def evaluate(state, step):
    samples_Nx2 = np.asarray(generate(state, seed_keys, max(curve_samples, 1000))[0]) * scale
    eval_steps.append(step)
    curve.append(samples_Nx2[:curve_samples])
    if step in snapshot_steps:
      snapshots.append((step, samples_Nx2[:1000]))

  start = time.perf_counter()
  seed = config.run.seed
  state, history = loop.train_seeds(run.steps, list(range(seed, seed + seeds)), iters,
                                    eval_every=eval_every,
                                    chunk=config.schedule.steps_per_dispatch,
                                    evaluate=evaluate, label=label,
                                    stream=sys.stderr if config.run.jobs == 1 else _LineStream())
  final_SxNx2 = np.asarray(generate(state, jax.random.split(jax.random.key(999), seeds),
                                    config.eval.samples)) * scale
  return {
      "samples": final_SxNx2.astype(np.float32),
      "per_seed": [mixtures.mode_metrics(samples_Nx2, dataset.centers, dataset.std)
                   for samples_Nx2 in final_SxNx2],
      "snapshots": snapshots,
      "estimate_SxT": history["estimate"].T,
      "eval_steps": np.asarray(eval_steps),
      "curve_TxNx2": np.stack(curve),
      "wall_time_s": time.perf_counter() - start,
  }


def add_w1(result: dict, real_Nx2: np.ndarray, pool: concurrent.futures.Executor) -> dict:
  """``result`` of ``train_one`` with the exact W1 of each seed's final samples (``per_seed``'s
  ``w1``) and of each curve point (``w1_curve``) against ``real_Nx2``, as futures of ``pool``
  (POT's network simplex releases the GIL) until ``resolve_w1``."""
  for row, samples_Nx2 in zip(result["per_seed"], result["samples"]):
    row["w1"] = pool.submit(mixtures.exact_w1_or_nan, samples_Nx2, real_Nx2)
  result["w1_curve"] = [pool.submit(mixtures.exact_w1_or_nan, samples_Nx2,
                                    real_Nx2[:len(samples_Nx2)])
                        for samples_Nx2 in result.pop("curve_TxNx2")]
  return result


def resolve_w1(result: dict) -> dict:
  """``result`` with its exact-W1 futures replaced by their values."""
  for row in result["per_seed"]:
    row["w1"] = row["w1"].result()
  result["w1_curve"] = np.asarray([f.result() for f in result["w1_curve"]])
  return result


def _train_job(config, dataset_name: str, label: str) -> dict:
  """``train_one`` in a worker process of ``_job_pool``."""
  return train_one(config, toy.get_dataset(dataset_name), label)


def _job_pool(jobs: int):
  """``jobs`` worker processes, each bound to its own share of this process's cores.

  Processes rather than threads: two runs in one process share XLA's CPU thread pools, and on
  two cores each then trains about a tenth slower than in a process of its own on one core.
  """
  context = multiprocessing.get_context("spawn")  # a fork of a process running JAX may hang
  cores = sorted(os.sched_getaffinity(0))
  shares = context.Queue()
  for i in range(jobs):
    shares.put(cores[i::jobs] if len(cores) >= jobs else cores)
  return context.Pool(jobs, initializer=_start_worker, initargs=(shares,))


def _start_worker(shares) -> None:
  supervise.die_with_parent()
  signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it ends the pool
  try:
    os.sched_setaffinity(0, shares.get_nowait())
  except queue.Empty:  # a worker started again after one died: no share left
    pass


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


def summary_markdown(config, summary: dict) -> str:
  lines = [
      "# Gaussian mixtures: GAN, WGAN, WGAN-GP, EBGAN",
      "",
      f"{config.run.seeds} seeds, {config.schedule.num_steps} generator iterations, "
      f"{config.eval.samples} samples "
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


def run(config, workdir: str) -> dict:
  """Trains, evaluates and writes every output of the sweep ``config``; returns the summary."""
  start = time.perf_counter()
  runs = experiment.sweep(config)
  datasets = [toy.get_dataset(name) for name in config.sweep.datasets.split(",") if name]
  real = {ds.name: np.asarray(ds.sample(jax.random.key(2017), config.eval.samples))
          for ds in datasets}
  # Each run is labelled by its method (a folder of the workdir, a row of the summary).
  jobs = [(ds, name) for ds in datasets for name in runs if name.startswith(ds.name + "/")]
  # Longest first, so that the runs in flight finish close together.
  order = sorted(range(len(jobs)), key=lambda i: METHOD_COST[runs[jobs[i][1]].objective.method],
                 reverse=True)
  labels = {i: f"[{i + 1}/{len(jobs)}] {jobs[i][0].name}/{runs[jobs[i][1]].objective.method}"
            for i in order}
  results: dict[str, dict[str, dict]] = {ds.name: {} for ds in datasets}
  with concurrent.futures.ThreadPoolExecutor(config.run.jobs) as w1_pool:
    if config.run.jobs == 1:
      trained = {i: add_w1(train_one(runs[jobs[i][1]], jobs[i][0], labels[i]),
                           real[jobs[i][0].name], w1_pool) for i in order}
    else:
      pool = _job_pool(config.run.jobs)
      try:
        pending = {i: pool.apply_async(_train_job, (runs[jobs[i][1]], jobs[i][0].name, labels[i]))
                   for i in order}
        # The exact W1 of a finished run is computed while the others train.
        trained = {i: add_w1(pending[i].get(), real[jobs[i][0].name], w1_pool) for i in order}
      except BaseException:
        # Ctrl-C or a failed run: the runs in flight end with their processes.
        pool.terminate()
        w1_pool.shutdown(wait=False, cancel_futures=True)
        raise
      pool.close()
    for i, (ds, name) in enumerate(jobs):
      results[ds.name][runs[name].objective.method] = resolve_w1(trained[i])

  os.makedirs(workdir, exist_ok=True)
  summary = {"config": config.to_dict(), "results": {},
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

  figure_2(
      os.path.join(workdir, "figure_2.png"),
      [{"name": ds.name, "centers": ds.centers, "std": ds.std, "real": real[ds.name][:1000]}
       for ds in datasets],
      {ds.name: {m: r["snapshots"] for m, r in results[ds.name].items()} for ds in datasets})
  plots.learning_curves(
      os.path.join(workdir, "learning_curves.png"),
      {ds.name: {m: {"steps": np.arange(1, config.schedule.num_steps + 1),
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


# Figure 2 ----------------------------------------------------------------------------------------

PANEL_INCHES = 2.0
# The density background is clipped this many nats below its peak. A component's log-density
# falls by d^2 / (2 std^2) at distance d, so 32 nats shows each mode as a disc of radius 8 std:
# visible at the scale of the whole mixture, yet still much tighter than a mode a GAN has missed.
DENSITY_FLOOR_NATS = 32.0
DENSITY_GRID = 400
SAMPLE_COLOR = "tab:red"


def _limits(centers_Kx2) -> tuple[float, float, float, float]:
  """Square axis limits around the centres, with room for the tails and near-miss samples.

  The margin is half the centres' half-range (at least 1): the ring of radius 2 gets +-3, the
  grid on {-4, ..., 4}^2 gets +-6.
  """
  centers_Kx2 = np.asarray(centers_Kx2, dtype=np.float64)
  lo_2, hi_2 = centers_Kx2.min(axis=0), centers_Kx2.max(axis=0)
  mid_2 = (lo_2 + hi_2) / 2
  half = float(np.max(hi_2 - lo_2)) / 2
  reach = half + max(1.0, half / 2)
  return mid_2[0] - reach, mid_2[0] + reach, mid_2[1] - reach, mid_2[1] + reach


def mixture_log_density(points_Px2, centers_Kx2, std: float) -> np.ndarray:
  """log p at each point, p the equal-weight mixture of isotropic Gaussians N(c_k, std^2 I) in 2-D.

  Computed with a log-sum-exp over components, since far from every centre each term underflows.
  """
  points_Px2 = np.asarray(points_Px2, dtype=np.float64)
  centers_Kx2 = np.asarray(centers_Kx2, dtype=np.float64)
  sq_dist_PxK = np.sum((points_Px2[:, None, :] - centers_Kx2[None, :, :]) ** 2, axis=-1)
  log_terms_PxK = -sq_dist_PxK / (2 * std**2)
  peak_P = log_terms_PxK.max(axis=1)
  log_sum_P = peak_P + np.log(np.exp(log_terms_PxK - peak_P[:, None]).sum(axis=1))
  return log_sum_P - np.log(len(centers_Kx2)) - np.log(2 * np.pi * std**2)


def _density_image(centers_Kx2, std: float, limits) -> np.ndarray:
  """log-density on a DENSITY_GRID^2 grid over `limits`, rows running along y (imshow lower)."""
  x0, x1, y0, y1 = limits
  xs_G = np.linspace(x0, x1, DENSITY_GRID)
  ys_G = np.linspace(y0, y1, DENSITY_GRID)
  gx_GxG, gy_GxG = np.meshgrid(xs_G, ys_G)
  points_Px2 = np.stack([gx_GxG.ravel(), gy_GxG.ravel()], axis=1)
  return mixture_log_density(points_Px2, centers_Kx2, std).reshape(DENSITY_GRID, DENSITY_GRID)


def _mixture_panel(ax, log_density_GxG, limits, samples_Nx2, title: str) -> None:
  """One panel: the density background, the samples on top, and the share of samples off-panel."""
  peak = float(log_density_GxG.max())
  # vmax above the peak keeps the mode centres mid-blue, so dark-red samples stay visible on them.
  ax.imshow(log_density_GxG, origin="lower", extent=limits, cmap="Blues",
            vmin=peak - DENSITY_FLOOR_NATS, vmax=peak + 0.4 * DENSITY_FLOOR_NATS,
            interpolation="bilinear", aspect="equal")
  samples_Nx2 = np.asarray(samples_Nx2, dtype=np.float64)
  ax.scatter(samples_Nx2[:, 0], samples_Nx2[:, 1], s=2, alpha=0.5, color=SAMPLE_COLOR,
             linewidths=0, rasterized=True)
  x0, x1, y0, y1 = limits
  ax.set_xlim(x0, x1)
  ax.set_ylim(y0, y1)
  ax.set_aspect("equal")
  ax.set_xticks([])
  ax.set_yticks([])
  ax.set_title(title, fontsize=9, pad=3)
  # A diverged generator can put most samples off the panel; an empty panel would hide that.
  inside_N = ((samples_Nx2[:, 0] >= x0) & (samples_Nx2[:, 0] <= x1)
              & (samples_Nx2[:, 1] >= y0) & (samples_Nx2[:, 1] <= y1))
  outside = 1.0 - float(inside_N.mean()) if len(inside_N) else 0.0
  if outside > 0:
    ax.text(0.98, 0.02, f"{outside:.0%} off panel" if outside >= 0.01 else "<1% off panel",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
            bbox=dict(boxstyle="round,pad=0.15", facecolor="white", alpha=0.8, linewidth=0))


def figure_2(path, datasets, panels) -> None:
  """Generator samples over the true mixture density, through training, for each method.

  For each dataset, one row per method (in the order of panels[name]); one column per snapshot,
  titled with its generator iteration, then a last column with the real data. Every panel of a
  dataset shares its axis limits; the background is the analytic log-density of the mixture,
  clipped DENSITY_FLOOR_NATS below its peak.

  Args:
    path: where to write the PNG.
    datasets: list of {"name": str, "centers": (K, 2) array, "std": float, "real": (N, 2) array}.
    panels: {dataset_name: {method_name: [(generator_iteration, samples_Nx2), ...]}}, snapshots in
      training order.
  """
  rows = [(d, method, snapshots)
          for d in datasets for method, snapshots in panels[d["name"]].items()]
  if not rows:
    raise ValueError("figure_2 needs at least one method with snapshots")
  n_snapshots = max(len(snapshots) for _, _, snapshots in rows)
  n_rows, n_cols = len(rows), n_snapshots + 1
  backgrounds = {}
  for d in datasets:
    limits = _limits(d["centers"])
    backgrounds[d["name"]] = (limits, _density_image(d["centers"], d["std"], limits))

  with plots.new_figure(figsize=(PANEL_INCHES * n_cols + 0.5, PANEL_INCHES * n_rows + 0.3),
                        layout="constrained") as fig:
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, (d, method, snapshots) in enumerate(rows):
      limits, log_density_GxG = backgrounds[d["name"]]
      for c in range(n_snapshots):
        if c < len(snapshots):
          iteration, samples_Nx2 = snapshots[c]
          _mixture_panel(axes[r, c], log_density_GxG, limits, samples_Nx2, f"iter {iteration}")
        else:
          axes[r, c].set_axis_off()  # This method has fewer snapshots than the longest row.
      _mixture_panel(axes[r, -1], log_density_GxG, limits, d["real"], f"real ({d['name']})")
      axes[r, 0].set_ylabel(f"{d['name']}\n{method}", fontsize=10, fontweight="bold")
    plots.save_figure(fig, path)
