"""The MNIST reproduction (issue 3, item 7): four runs, their digit metrics, a table and sheets.

The runs compare, on the offline MNIST digits (``mnist_offline``):

  wgan_dcgan     WGAN, DCGAN generator and critic (BatchNorm), RMSProp 5e-5, clip 0.01;
  wgan_gp_dcgan  WGAN-GP, DCGAN generator, critic with LayerNorm, Adam 1e-4 (0.5, 0.9), lambda 10
                 (experiments/reproduce_mnist.py sets the rate, 4e-4 by default);
  wgan_mlp       WGAN, the 4x512 ReLU MLP generator against the DCGAN critic (Section 4.3);
  gan_mlp        GAN (-log D), the same MLP generator and DCGAN critic, Adam 2e-4 (0.5, 0.999),
                 one discriminator step per generator step (the DCGAN recipe).

Training goes through ``train.train_and_evaluate``; this module only shapes the configs and
judges the final checkpoints with the digit classifier of ``metrics``.
"""

from __future__ import annotations

import json
import math

import numpy as np

RUN_NAMES = ("wgan_dcgan", "wgan_gp_dcgan", "wgan_mlp", "gan_mlp")
# The columns of summary.md, in order: (key in a run's summary, header, format).
TABLE_COLUMNS = (
    ("run", "run", "{}"),
    ("generator_iterations", "generator iterations", "{:d}"),
    ("wall_time_s", "wall time (s)", "{:.0f}"),
    ("classes_covered", "classes covered", "{:d}"),
    ("mean_top_prob", "mean top-class prob", "{:.3f}"),
    ("class_kl", "class KL", "{:.3f}"),
    ("frechet", "Fréchet", "{:.1f}"),
)


def configure(base, name: str):
  """A copy of ``base`` (experiments/configs/mnist.py's ConfigDict) set up as run ``name``."""
  if name not in RUN_NAMES:
    raise ValueError(f"unknown run {name!r}; choose from {', '.join(RUN_NAMES)}")
  config = base.copy_and_resolve_references()
  if name == "wgan_gp_dcgan":
    # Gulrajani et al.: no BatchNorm in the critic (the penalty is per sample), Adam, 5 critic
    # steps.
    config.method, config.critic_norm = "wgan-gp", "layer"
    for opt in (config.generator_optimizer, config.critic_optimizer):
      opt.update(dict(name="adam", learning_rate=1e-4, b1=0.5, b2=0.9, clip=None))
  elif name == "wgan_mlp":
    config.generator = "mlp"
  elif name == "gan_mlp":
    config.method, config.generator, config.n_critic = "gan", "mlp", 1
    for opt in (config.generator_optimizer, config.critic_optimizer):
      opt.update(dict(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999, clip=None))
  return config


def training_wall_time(rows: list[dict]) -> float:
  """Seconds of training in a run's metrics.jsonl rows, summed over resumed segments.

  Each ``train_and_evaluate`` call restarts ``wall_time_s`` from 0 (compilation included), so a
  segment ends wherever the clock goes backwards.
  """
  total, segment = 0.0, 0.0
  for row in rows:
    t = row.get("wall_time_s") or 0.0
    if t < segment:
      total += segment
    segment = t
  return total + segment


def real_reference(num: int, seed: int) -> np.ndarray:
  """``num`` offline MNIST digits drawn without replacement, float32 (num, 28, 28, 1) in [-1, 1].

  The offline set is sorted by class, so a prefix would hold only zeros and ones: draw at random.
  """
  from wgan_jax.data.images import load_labeled_mnist_offline

  images_Nx28x28x1, _ = load_labeled_mnist_offline(28, 1)
  if not 2 <= num <= images_Nx28x28x1.shape[0]:
    raise ValueError(f"the real reference set needs 2 to {images_Nx28x28x1.shape[0]} digits, "
                     f"got {num}")
  order = np.random.default_rng(seed).permutation(images_Nx28x28x1.shape[0])
  return images_Nx28x28x1[order[:num]]


def evaluate_run(workdir: str, name: str, classifier, real_Mx28x28x1, num: int,
                 seed: int) -> dict:
  """The summary of one finished run: its setup, step, training time and digit metrics."""
  from wgan_jax import metrics
  from wgan_jax import train
  from wgan_jax import writers

  config = train.load_config(workdir)
  samples, step = train.sample_from_checkpoint(workdir, num, seed)
  out = {"run": name, "method": config.method, "generator": config.generator,
         "critic": f"{config.critic} ({config.critic_norm})",
         "generator_iterations": step,
         "wall_time_s": training_wall_time(writers.read_metrics(workdir))}
  if not np.all(np.isfinite(samples)):
    # A diverged generator: the classifier's numbers are undefined, so say so instead of failing.
    out.update(classes_covered=0, mean_top_prob=math.nan, class_kl=math.nan, frechet=math.nan,
               class_histogram=[0] * 10, note="non-finite samples (diverged)")
  else:
    out.update(metrics.digit_metrics(classifier, samples, real_Mx28x28x1))
  return out


def markdown_table(runs: list[dict]) -> str:
  """The summary table (TABLE_COLUMNS) in Markdown; nan shows as 'n/a'."""
  lines = ["| " + " | ".join(header for _, header, _ in TABLE_COLUMNS) + " |",
           "|" + "|".join("---" for _ in TABLE_COLUMNS) + "|"]
  for run in runs:
    cells = []
    for key, _, fmt in TABLE_COLUMNS:
      value = run.get(key)
      cells.append("n/a" if value is None or (isinstance(value, float) and math.isnan(value))
                   else fmt.format(value))
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def write_json(path: str, value) -> None:
  """``value`` as JSON at ``path``, atomically (nan becomes null: JSON has no nan)."""
  from wgan_jax import files

  def clean(v):
    if isinstance(v, float) and math.isnan(v):
      return None
    if isinstance(v, dict):
      return {k: clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
      return [clean(x) for x in v]
    return v
  files.save_text(path, json.dumps(clean(value), indent=2) + "\n")


def write_sheets(path: str, sheets: list[tuple[str, np.ndarray]]) -> None:
  """The runs' final 8x8 sheets side by side, each under its title, as one PNG (atomically)."""
  from wgan_jax import plots  # selects the Agg backend before pyplot loads

  with plots._figure(figsize=(2.6 * len(sheets), 3.0)) as fig:
    axes = fig.subplots(1, len(sheets), squeeze=False)[0]
    for ax, (title, sheet) in zip(axes, sheets):
      ax.imshow(sheet, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
      ax.set_title(title, fontsize=9)
      ax.axis("off")
    fig.tight_layout()
    plots._save_atomically(fig, path)
