"""Figures 6-8: WGAN and GAN with three generators against the DCGAN critic, on offline MNIST.

The paper's claim: WGAN still produces samples where GAN fails or collapses when the generator
loses BatchNorm and keeps a constant number of filters, or is a plain MLP. Six runs on the
offline digits (``mnist_offline``), each through ``train.train_and_evaluate`` (so running again
resumes them), from experiments/configs/mnist.py:

  {wgan, gan} x {dcgan, dcgan_nobn_constant, mlp} generator, DCGAN critic with BatchNorm;
  RMSProp 5e-5 for both networks and both methods, as in the paper's figures; WGAN: the critic
  clipped to [-0.01, 0.01], 5 critic iterations; GAN: the -log D generator loss, 1 discriminator
  iteration, no clipping.

Each run's final generator is judged with the digit classifier of ``wgan_jax.metrics`` (1,000
samples against 1,000 random real digits) through ``mnist_reproduction.evaluate_run``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math
import os
import time

import numpy as np

from wgan_jax.paper import Claim, PartResult

TITLE = "Architecture robustness (Figures 6-8): WGAN and GAN with three generators on MNIST"
METHODS = ("wgan", "gan")
GENERATORS = ("dcgan", "dcgan_nobn_constant", "mlp")
GENERATOR_LABELS = {"dcgan": "DCGAN generator", "dcgan_nobn_constant": "no BN, constant filters",
                    "mlp": "MLP generator (4x512)"}
RUN_NAMES = tuple(f"{m}_{g}" for m in METHODS for g in GENERATORS)
# What "produces digits" means in the verdict, fixed before any run: the classifier assigns at
# least MIN_CLASSES of the 10 classes (each to >= 1% of the samples) and is on average at least
# MIN_TOP_PROB sure of its class. Fewer classes is a collapse; a lower probability, a failure.
MIN_CLASSES = 8
MIN_TOP_PROB = 0.6
FIGURE = "sheets.png"


@dataclasses.dataclass(frozen=True)
class Settings:
  """The CPU-scale departures from the paper (64 filters, the official critic schedule, 100k+
  iterations), and how much is judged."""

  steps: int = 1000  # generator iterations of every run
  features: int = 16  # filters at the DCGAN networks' widest end (the paper: 64)
  batch_size: int = 64
  mlp_hidden: int = 512
  # The official 100-iteration critic warm-up: off, for both methods alike (on a CPU it would
  # cost as much as 500 ordinary generator iterations per run).
  official_schedule: bool = False
  unroll: bool = False
  num_samples: int = 1000
  num_real: int = 1000
  seed: int = 0
  generators: tuple[str, ...] = GENERATORS


# A smoke test of seconds: tiny networks, one generator (two runs).
QUICK = Settings(steps=1, features=4, batch_size=8, mlp_hidden=16, num_samples=50, num_real=50,
                 generators=("dcgan_nobn_constant",))


def mnist_base_config():
  """experiments/configs/mnist.py's ``get_config()``, loaded by path (experiments/ is not a
  package)."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  path = os.path.join(root, "experiments", "configs", "mnist.py")
  spec = importlib.util.spec_from_file_location("_wgan_mnist_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def run_config(settings: Settings, method: str, generator: str):
  """The ConfigDict of one of the six runs."""
  if method not in METHODS or generator not in GENERATORS:
    raise ValueError(f"unknown run {method}_{generator}")
  c = mnist_base_config()
  c.method, c.generator, c.critic, c.critic_norm = method, generator, "dcgan", "batch"
  c.features, c.batch_size = settings.features, settings.batch_size
  c.mlp_hidden, c.official_schedule = settings.mlp_hidden, settings.official_schedule
  c.unroll, c.steps_per_dispatch = settings.unroll, 1
  c.num_steps, c.seed = settings.steps, settings.seed
  c.checkpoint_every = max(1, settings.steps // 5)
  # The paper's figures: RMSProp 5e-5 for both networks of both methods.
  for opt in (c.generator_optimizer, c.critic_optimizer):
    opt.update(dict(name="rmsprop", learning_rate=5e-5))
  if method == "wgan":
    c.n_critic, c.critic_optimizer.clip = 5, 0.01
  else:
    c.n_critic, c.critic_optimizer.clip, c.gan_generator_loss = 1, None, "nonsaturating"
  return c


def digit_classifier(workdir: str, seed: int, quick: bool):
  """The digit classifier of ``metrics``, cached in ``workdir``; a quick run uses a one-epoch
  classifier kept in memory for the process (its numbers mean nothing anyway)."""
  from wgan_jax import metrics

  if quick:
    return _quick_classifier(seed)
  return metrics.get_digit_classifier(os.path.join(workdir, "digit_classifier.msgpack"),
                                      seed=seed)


@functools.cache
def _quick_classifier(seed: int):
  from wgan_jax import metrics
  from wgan_jax.data.images import load_labeled_mnist_offline

  return metrics.train_digit_classifier(*load_labeled_mnist_offline(metrics.DIGIT_SIZE, 1),
                                        seed=seed, epochs=1)


def produces_digits(row: dict) -> bool:
  """The verdict's test of one run (see MIN_CLASSES, MIN_TOP_PROB); a diverged run fails it."""
  top = row.get("mean_top_prob")
  return (top is not None and not math.isnan(top) and row["classes_covered"] >= MIN_CLASSES
          and top >= MIN_TOP_PROB)


def judge(rows: dict[str, dict], generators=GENERATORS) -> tuple[str, list[dict]]:
  """(verdict, per-generator outcomes) from the runs' digit metrics, keyed by run name.

  Per generator: "WGAN only" (supports the claim), "GAN only" (contradicts it), "both" or
  "neither". The claim holds when WGAN produces digits with every generator and GAN fails with at
  least one; it does not hold when some generator gives "GAN only", or GAN succeeds with all
  three; anything else (both fail somewhere, with no contradiction) is unclear.
  """
  outcomes = []
  for g in generators:
    w, n = produces_digits(rows[f"wgan_{g}"]), produces_digits(rows[f"gan_{g}"])
    outcome = {(True, True): "both", (True, False): "WGAN only", (False, True): "GAN only",
               (False, False): "neither"}[(w, n)]
    outcomes.append({"generator": g, "wgan_digits": w, "gan_digits": n, "outcome": outcome})
  kinds = [o["outcome"] for o in outcomes]
  if "GAN only" in kinds or all(o["gan_digits"] for o in outcomes):
    verdict = "does not hold"
  elif all(o["wgan_digits"] for o in outcomes) and "WGAN only" in kinds:
    verdict = "holds"
  else:
    verdict = "unclear"
  return verdict, outcomes


def _fmt(value, spec: str) -> str:
  return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) \
      else format(value, spec)


def _sheet(workdir: str, row: dict) -> np.ndarray | None:
  from PIL import Image

  path = os.path.join(workdir, row["run"], "samples", f"step_{row['generator_iterations']}.png")
  return np.asarray(Image.open(path)) if os.path.exists(path) else None


def run(workdir: str, quick: bool = False, settings: Settings | None = None) -> PartResult:
  """Trains (or resumes) the six runs in ``workdir/<run>``, judges them and writes sheets.png and
  result.json; ``settings`` overrides the defaults (``quick`` uses QUICK)."""
  from wgan_jax import metrics
  from wgan_jax import mnist_reproduction as repro
  from wgan_jax import plots
  from wgan_jax import train

  settings = settings or (QUICK if quick else Settings())
  start = time.perf_counter()
  generators = settings.generators
  if not generators or any(g not in GENERATORS for g in generators):
    raise ValueError(f"generators must be among {', '.join(GENERATORS)}; got {generators}")
  configs = {f"{m}_{g}": run_config(settings, m, g) for m in METHODS for g in generators}
  diverged = {}
  for name, config in configs.items():
    try:
      train.train_and_evaluate(config, os.path.join(workdir, name))
    except train.NonFiniteError as e:
      # A diverged run fails the test; it is judged from its last (finite) checkpoint.
      diverged[name] = str(e)

  classifier = digit_classifier(workdir, settings.seed, quick)
  # The same permutation as repro.real_reference(num_real): its first half is the reference, the
  # second half a disjoint set of real digits that shows what the numbers are for real digits.
  real = repro.real_reference(2 * settings.num_real, settings.seed)
  reference, held_out = real[:settings.num_real], real[settings.num_real:]
  rows = {name: repro.evaluate_run(os.path.join(workdir, name), name, classifier, reference,
                                   settings.num_samples, settings.seed + 1000)
          for name in configs}
  for name, message in diverged.items():
    rows[name].update(note=f"diverged: {message}", mean_top_prob=math.nan)
  real_row = {"run": f"real digits ({settings.num_real}, disjoint)",
              **metrics.digit_metrics(classifier, held_out, reference)}
  verdict, outcomes = judge(rows, generators)

  sheets = [[_sheet(workdir, rows[f"{m}_{g}"]) for g in generators] for m in METHODS]
  captions = [[f"{rows[f'{m}_{g}']['generator_iterations']} it: "
               f"{rows[f'{m}_{g}']['classes_covered']} classes, top p "
               f"{_fmt(rows[f'{m}_{g}']['mean_top_prob'], '.2f')}"
               for g in generators] for m in METHODS]
  plots.sheet_grid(os.path.join(workdir, FIGURE), sheets, ["WGAN", "GAN (-log D)"],
                   [GENERATOR_LABELS[g] for g in generators], captions,
                   title=f"MNIST, DCGAN critic, RMSProp 5e-5,\n{settings.steps} generator "
                         f"iterations")

  table = repro.markdown_table([rows[name] for name in configs] + [real_row])
  table += ("\n| generator | WGAN produces digits | GAN produces digits | outcome |\n"
            "|---|---|---|---|\n")
  table += "".join(f"| {GENERATOR_LABELS[o['generator']]} | {'yes' if o['wgan_digits'] else 'no'}"
                   f" | {'yes' if o['gan_digits'] else 'no'} | {o['outcome']} |\n"
                   for o in outcomes)
  number = "; ".join(
      f"{g}: WGAN {rows[f'wgan_{g}']['classes_covered']} classes / top p "
      f"{_fmt(rows[f'wgan_{g}']['mean_top_prob'], '.2f')}, GAN "
      f"{rows[f'gan_{g}']['classes_covered']} / {_fmt(rows[f'gan_{g}']['mean_top_prob'], '.2f')}"
      for g in generators)
  claim = Claim(
      claim="WGAN still produces digits where GAN fails or collapses (DCGAN, no-BN constant-filter"
            " and MLP generators against the DCGAN critic)",
      number=f"{number} ('digits' = >= {MIN_CLASSES} classes and mean top-class prob >= "
             f"{MIN_TOP_PROB}; outcomes: {', '.join(o['outcome'] for o in outcomes)})",
      verdict=verdict)
  how = (f"Offline MNIST (5,000 digits), one seed ({settings.seed}), {settings.steps} generator "
         f"iterations per run, DCGAN features {settings.features} (the paper: 64), batch "
         f"{settings.batch_size}, MLP generator {settings.mlp_hidden} units, official critic "
         f"schedule {'on' if settings.official_schedule else 'off'}; {settings.num_samples} "
         f"samples per run judged by the digit classifier (held-out accuracy "
         f"{classifier.heldout_accuracy:.3f}) against {settings.num_real} random real digits. "
         f"Per generator, WGAN's and GAN's runs are compared: a run produces digits when its "
         f"samples cover >= {MIN_CLASSES} classes with mean top-class probability >= "
         f"{MIN_TOP_PROB}. The claim holds when WGAN produces digits with every generator and "
         f"GAN fails with at least one; it does not hold when GAN produces digits where WGAN does"
         f" not, or with all three generators. The real-digit row: the classifier was trained on"
         f" most of these digits, so it is an upper reference, not a target.")
  result = PartResult(title=TITLE, figures=[FIGURE], table_md=table, claims=[claim],
                      wall_time_s=time.perf_counter() - start, how=how)
  repro.write_json(os.path.join(workdir, "runs.json"),
                   {"runs": list(rows.values()), "real": real_row, "outcomes": outcomes,
                    "settings": dataclasses.asdict(settings)})
  result.save(workdir)
  return result
