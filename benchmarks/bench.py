r"""Training throughput: generator iterations per second, against the machine's limit and PyTorch.

    make bench                                    # installs torch for the reference, then runs this
    .venv/bin/python benchmarks/bench.py          # the same, without the PyTorch reference if absent
    .venv/bin/python benchmarks/bench.py --models=toy --dtype=bfloat16
    python3 benchmarks/bench.py --dtype=float32,bfloat16 --f32_precision=highest \
        --torch_compile=default                   # a GPU: benchmarks/device_check.sh

One generator iteration is n_critic critic steps and one generator step. For each model (the toy:
MLP generator and critic with 3 hidden layers of 512 ReLU units, batch 256, n_critic 5, on
ring8; toy64: the main job's networks, 3 x 64, batch 256, over its seeds; DCGAN 32x32 and
64x64 with 64 filters, batch 64, on random images), method (WGAN: RMSProp and clipping; WGAN-GP:
Adam and the gradient penalty, LayerNorm critic) and mode:

- step: one jitted training step per Python dispatch;
- scan: K training steps scanned in one dispatch (``Steps.train_steps``);
- vmap: S seeds at once (``steps.over_seeds``), K steps per dispatch; reported per seed (for the
  images only with --image_modes=step,scan,vmap: very slow on CPU).

Each mode is compiled ahead of time (the compile time is reported) and timed in windows of at
least --min_time seconds; the rate is the median over --repeats windows. FLOPs per iteration come
from XLA's cost analysis of one training step compiled with its critic iterations unrolled (XLA
counts a loop's body once). Peak memory is XLA's buffer assignment of the timed executable:
arguments + outputs + temporaries - aliased (donated) bytes. The limit is the FLOP/s of a float32
matmul of --matmul_size squared matrices measured in the same run; beside it, the rate of the
toy's own largest matmul shape (batch x hidden by hidden x hidden), which bounds what the toy can
reach on the machine. The PyTorch eager references run the same configurations when a Python
with torch is found (--torch_python; ``make bench`` puts one in .venv/torch):
benchmarks/torch_toy.py, our toy loop, and benchmarks/torch_dcgan.py, our DCGAN networks layer
for layer, which also measures PyTorch's rate of the same matmul. They run on --torch_device
(by default a GPU when torch sees one, as JAX uses one when it sees one); --torch_compile adds
a torch.compile row beside each eager one.

On a GPU, JAX's float32 matmuls and convolutions use TF32 by default, and so do PyTorch's cuDNN
convolutions; --f32_precision=highest makes JAX's exact float32, and the PyTorch references
always run float32 with TF32 off. --dtype takes a list (float32,bfloat16): each dtype's rows are compared with
PyTorch in that dtype (autocast for bfloat16). --deadline_s skips the rows that would start
after it (listed under "skipped" in results.md); the results are written after every row.

A ratio between the libraries holds for one machine: on the CPU each library brings its own
matmul and convolution kernels, whose speeds differ by processor (PyTorch's bundled MKL and
oneDNN, XLA's Eigen and its own code). The run records the processor, the core count and both
libraries' matmul rates beside the ratios.

Writes results.md and results.json (a list of records, each with the run's context under
"run") in --out_dir.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp

from wgan_jax import experiment
from wgan_jax import files
from wgan_jax import steps as steps_lib
from wgan_jax.configs import bench as bench_configs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = bench_configs.MODELS
METHODS = bench_configs.METHODS
MODES = ("step", "scan", "vmap")
DTYPES = tuple(experiment.DTYPES)
TOY_BATCH = 256
TORCH_TOY = os.path.join(ROOT, "benchmarks", "torch_toy.py")
TORCH_DCGAN = os.path.join(ROOT, "benchmarks", "torch_dcgan.py")
# The main job's networks and seeds (make reproduce-gaussians): 3 x 64 ReLU layers, 10 seeds.
MAIN_JOB_HIDDEN, MAIN_JOB_SEEDS, MAIN_JOB_STEPS = 64, 10, 100


class UsageError(ValueError):
  """A bad command line: one line on stderr, exit status 2."""


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--models", default=",".join(MODELS), help=", ".join(MODELS))
  parser.add_argument("--methods", default=",".join(METHODS), help="wgan, wgan-gp")
  parser.add_argument("--modes", default=",".join(MODES), help="step, scan, vmap (the toy)")
  # vmap over seeds turns the DCGAN's convolutions into grouped ones, which XLA on CPU runs very
  # slowly: one dcgan32 vmap measurement ran for over 10 minutes on 2 shared cores.
  parser.add_argument("--image_modes", default="step,scan", help="step, scan, vmap (the images)")
  parser.add_argument("--dtype", default="float32",
                      help="compute dtypes, comma-separated: float32, bfloat16")
  parser.add_argument("--f32_precision", default="", choices=["", "default", "high", "highest"],
                      help="JAX's matmul precision for float32 rows (highest: no TF32 on a GPU)")
  parser.add_argument("--min_time", type=float, default=0.5, help="seconds per timing window")
  parser.add_argument("--repeats", type=int, default=5, help="timing windows (toy)")
  parser.add_argument("--image_repeats", type=int, default=2, help="timing windows (images)")
  parser.add_argument("--scan_steps", type=int, default=50, help="K for the toy")
  parser.add_argument("--image_scan_steps", type=int, default=2, help="K for the images")
  parser.add_argument("--seeds", type=int, default=4, help="S of the vmap mode (toy)")
  parser.add_argument("--image_seeds", type=int, default=2, help="S of the vmap mode (images)")
  parser.add_argument("--matmul_size", type=int, default=2048)
  parser.add_argument("--toy_hidden", type=int, default=512, help="(smaller only for tests)")
  parser.add_argument("--image_features", type=int, default=64, help="(smaller only for tests)")
  parser.add_argument("--torch_python", default="",
                      help="a Python with torch for the reference (default: this one if it has "
                           "torch, else .venv/torch/bin/python if present)")
  parser.add_argument("--torch_device", default="auto", help="cpu, cuda, or auto")
  parser.add_argument("--torch_compile", default="",
                      help="also a torch.compile row in this mode (default, max-autotune, ...)")
  parser.add_argument("--torch_compile_dtypes", default="",
                      help="the dtypes of the torch.compile rows (default: all of --dtype)")
  parser.add_argument("--torch_toy_time", type=float, default=10.0,
                      help="seconds of PyTorch iterations per toy row (at least 20 iterations)")
  parser.add_argument("--torch_image_time", type=float, default=20.0,
                      help="seconds of PyTorch iterations per image row (at least 2 iterations)")
  parser.add_argument("--no_torch", action="store_true", help="skip the PyTorch reference")
  parser.add_argument("--deadline_s", type=float, default=0.0,
                      help="skip rows that would start this many seconds after the start (0: none)")
  parser.add_argument("--out_dir", default=os.path.join(ROOT, "benchmarks"))

  def error(message):
    raise UsageError(message)

  parser.error = error
  args = parser.parse_args(argv)
  for name, known in (("models", MODELS), ("methods", METHODS), ("modes", MODES),
                      ("image_modes", MODES)):
    values = [v for v in getattr(args, name).split(",") if v]
    unknown = [v for v in values if v not in known]
    if not values or unknown:
      raise UsageError(f"--{name}: unknown or empty {unknown or ''}; choose from "
                       f"{', '.join(known)}")
    setattr(args, name, values)
  args.dtypes = [v for v in args.dtype.split(",") if v]
  if not args.dtypes or any(v not in DTYPES for v in args.dtypes):
    raise UsageError(f"--dtype must be among {', '.join(DTYPES)}, got {args.dtype!r}")
  for name in ("repeats", "image_repeats", "scan_steps", "image_scan_steps", "seeds",
               "image_seeds", "matmul_size", "toy_hidden", "image_features"):
    if getattr(args, name) < 1:
      raise UsageError(f"--{name} must be at least 1, got {getattr(args, name)}")
  for name in ("min_time", "torch_toy_time", "torch_image_time"):
    if not getattr(args, name) > 0:
      raise UsageError(f"--{name} must be positive, got {getattr(args, name)}")
  args.torch_compile_dtypes = [v for v in args.torch_compile_dtypes.split(",") if v] or args.dtypes
  if any(v not in DTYPES for v in args.torch_compile_dtypes):
    raise UsageError(f"--torch_compile_dtypes must be among {', '.join(DTYPES)}")
  if args.deadline_s < 0:
    raise UsageError(f"--deadline_s must be 0 or more, got {args.deadline_s}")
  return args


# The configurations --------------------------------------------------------------------------

def spec_of(model: str, method: str, dtype: str, width: int | None = None,
            unroll: bool = False) -> steps_lib.GANSpec:
  """The GANSpec of wgan_jax/configs/bench.py's ``<model>-<method>``; ``width`` sets the toy's
  hidden units or the DCGAN's filters."""
  config = bench_configs.get_config(f"{model}-{method}")
  config.run.dtype, config.schedule.unroll = dtype, unroll
  if width is not None:
    for network in (config.generator, config.critic):
      network.update(dict(hidden=width) if model.startswith("toy") else dict(features=width))
  return experiment.build(config).spec


# Measuring ----------------------------------------------------------------------------------

def peak_memory_bytes(compiled) -> int | None:
  """Arguments + outputs + temporaries - aliased bytes of a compiled executable."""
  try:
    m = compiled.memory_analysis()
  except Exception:  # pylint: disable=broad-except  (not every backend implements it)
    return None
  if m is None:
    return None
  return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
             - m.alias_size_in_bytes)


def xla_flops(compiled) -> float | None:
  analysis = compiled.cost_analysis()
  if isinstance(analysis, list):  # older JAX: one dict per computation
    analysis = analysis[0] if analysis else {}
  flops = (analysis or {}).get("flops")
  return float(flops) if flops and flops > 0 else None


def timed_rate(call: Callable, state, iters_per_call: int, min_time: float,
               repeats: int) -> tuple[list[float], object]:
  """Iterations per second in ``repeats`` windows of at least ``min_time`` seconds each."""
  rates = []
  for _ in range(repeats):
    jax.block_until_ready(state)
    calls, start = 0, time.perf_counter()
    while True:
      state = call(state)
      calls += 1
      if calls % 4 == 0 or iters_per_call > 4:
        jax.block_until_ready(state)
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
          break
    rates.append(calls * iters_per_call / elapsed)
  return rates, state


def matmul_flops_per_s(m: int, k: int, n: int, min_time: float, repeats: int,
                       chain: int = 1, dtype: str = "float32") -> dict:
  """The FLOP/s of (m x k) @ (k x n) matmuls in ``dtype``, ``chain`` of them in one dispatch."""
  if chain > 1 and k != n:
    raise ValueError("a chain of matmuls needs k == n")
  a = jax.random.normal(jax.random.key(0), (m, k), experiment.DTYPES[dtype])
  # Scaled so that a chain keeps its values near 1: no overflow, no denormals.
  b = (jax.random.normal(jax.random.key(1), (k, n)) / k**0.5).astype(experiment.DTYPES[dtype])
  fn = lambda x, y: jax.lax.fori_loop(0, chain, lambda _, z: z @ y, x)
  matmul = jax.jit(fn).lower(a, b).compile()
  jax.block_until_ready(matmul(a, b))
  rates = []
  for _ in range(repeats):
    calls, start = 0, time.perf_counter()
    while True:
      jax.block_until_ready(matmul(a, b))
      calls += 1
      elapsed = time.perf_counter() - start
      if elapsed >= min_time:
        break
    rates.append(2 * m * k * n * chain * calls / elapsed)
  return {"model": "matmul", "method": f"{m}x{k}x{n} {dtype}", "mode": "roofline",
          "dtype": dtype, "flops_per_s": statistics.median(rates), "flops_per_s_max": max(rates)}


def width_of(model: str, args) -> int | None:
  """The toy's hidden units or the DCGAN's filters (None: toy64's, fixed)."""
  return args.toy_hidden if model == "toy" else None if model == "toy64" else args.image_features


def bench_config(model: str, method: str, dtype: str, modes: list[str], args,
                 device: str) -> list[dict]:
  """Every requested mode of one (model, method, dtype)."""
  is_toy = model.startswith("toy")
  width = width_of(model, args)
  spec = spec_of(model, method, dtype, width)
  count_spec = spec_of(model, method, dtype, width, unroll=True)
  scan_k = args.scan_steps if is_toy else args.image_scan_steps
  vmap_k = MAIN_JOB_STEPS if model == "toy64" else args.scan_steps if is_toy else 1
  seeds = (MAIN_JOB_SEEDS if model == "toy64" else args.seeds if is_toy
           else args.image_seeds)
  repeats = args.repeats if is_toy else args.image_repeats
  fns = steps_lib.make_steps(spec)
  key = jax.random.key(1)
  state = fns.init(jax.random.key(0))

  # FLOPs of one generator iteration, counted by XLA on the unrolled training step.
  count_fns = steps_lib.make_steps(count_spec)
  start = time.perf_counter()
  count_compiled = jax.jit(count_fns.train_step).lower(state, key).compile()
  count_compile_s = time.perf_counter() - start
  flops = xla_flops(count_compiled)

  records = []
  for mode in modes:
    if mode == "step":
      jitted, args_, per_call, n_seeds = jax.jit(fns.train_step), (state, key), 1, 1
    elif mode == "scan":
      jitted = jax.jit(lambda s, k: fns.train_steps(s, k, scan_k))
      args_, per_call, n_seeds = (state, key), scan_k, 1
    else:
      init_keys = jax.random.split(jax.random.key(0), seeds)
      train_keys = jax.random.split(key, seeds)
      states = steps_lib.init_over_seeds(fns.init, init_keys)
      jitted = jax.jit(steps_lib.over_seeds(lambda s, k: fns.train_steps(s, k, vmap_k)))
      args_, per_call, n_seeds = (states, train_keys), vmap_k, seeds
    start = time.perf_counter()
    compiled = jitted.lower(*args_).compile()
    compile_s = time.perf_counter() - start
    call = lambda s, c=compiled, k=args_[1]: c(s, k)[0]
    jax.block_until_ready(call(args_[0]))  # the first run allocates; not timed
    rates, _ = timed_rate(call, args_[0], per_call, args.min_time, repeats)
    per_seed = statistics.median(rates)
    records.append({
        "model": model, "method": method, "mode": mode, "dtype": dtype,
        "batch": spec.batch_size, "n_critic": spec.n_critic, "seeds": n_seeds,
        "steps_per_dispatch": per_call,
        "gen_iters_per_s": per_seed, "gen_iters_per_s_all_seeds": per_seed * n_seeds,
        "rates": rates, "compile_s": compile_s,
        "flops_per_iter": flops, "flops_source": "xla_cost_analysis",
        "flops_count_compile_s": count_compile_s,
        "achieved_flops_per_s": None if flops is None else flops * per_seed * n_seeds,
        "peak_mem_bytes": peak_memory_bytes(compiled), "device": device})
    print(f"{model} {method} {mode} {dtype}: {per_seed:.2f} it/s per seed "
          f"(x{n_seeds} seeds, compile {compile_s:.1f}s)", file=sys.stderr, flush=True)
  return records


def find_torch_python(requested: str) -> str | None:
  if requested:
    return requested
  try:
    import torch  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    return sys.executable
  except ImportError:
    pass
  candidate = os.path.join(ROOT, ".venv", "torch", "bin", "python")
  return candidate if os.path.exists(candidate) else None


def _run_torch(python: str, argv: list[str], pattern: str, timeout: float = 900) -> tuple:
  """Runs a PyTorch reference: (the number its output gives after ``pattern``, its output)."""
  if timeout <= 0:
    raise RuntimeError("no time left before --deadline_s")
  try:
    result = subprocess.run([python] + argv, capture_output=True, text=True, timeout=timeout,
                            check=False)
  except subprocess.TimeoutExpired as e:
    raise RuntimeError(f"the PyTorch reference took over {timeout:.0f} s") from e
  match = re.search(pattern + r" ([0-9.e+-]+)", result.stdout)
  if result.returncode != 0 or not match:
    raise RuntimeError(f"the PyTorch reference failed: {result.stderr.strip()[-500:]}")
  return float(match.group(1)), result.stdout


def _word_after(output: str, name: str) -> str | None:
  match = re.search(name + r" (\S+)", output)
  return match.group(1) if match else None


def torch_row(python: str, model: str, method: str, dtype: str, compile_mode: str, args,
              timeout: float = 900) -> dict:
  """The PyTorch loop of the same networks: benchmarks/torch_toy.py or torch_dcgan.py.

  Refuses to report a rate for networks whose parameter counts differ from ours.
  """
  width = width_of(model, args)
  common = ["--loss", method, "--device", args.torch_device, "--dtype", dtype,
            "--compile", compile_mode]
  if model.startswith("toy"):
    argv = [TORCH_TOY, "--hidden", str(width or MAIN_JOB_HIDDEN),
            "--min_time", str(args.torch_toy_time)]
  else:
    argv = [TORCH_DCGAN, "--size", model[len("dcgan"):], "--features", str(width),
            "--min_time", str(args.torch_image_time)]
  rate, output = _run_torch(python, argv + common, "gen_iters_per_s", timeout)
  spec = spec_of(model, method, "float32", width)
  state = jax.eval_shape(steps_lib.make_steps(spec).init, jax.random.key(0))
  ours = {"generator_params": state.generator_params, "critic_params": state.critic_params}
  for name, params in ours.items():
    count = sum(int(p.size) for p in jax.tree.leaves(params))
    theirs = int(_word_after(output, name))
    if count != theirs:
      raise RuntimeError(f"{os.path.basename(argv[0])}'s {name[:-7]} has {theirs} parameters, "
                         f"ours {count}: not the same network")
  return {"model": model, "method": method,
          "mode": "torch_compile" if compile_mode else "torch_eager", "dtype": dtype,
          "compile_mode": compile_mode or None, "batch": spec.batch_size, "n_critic": 5,
          "seeds": 1, "gen_iters_per_s": rate, "torch": _word_after(output, "torch"),
          "torch_device": _word_after(output, "device"), "gpu": _word_after(output, "gpu"),
          # The first iteration's seconds: with torch.compile, mostly its compilation.
          "first_iter_s": float(_word_after(output, "first_iter_s"))}


def torch_matmul(python: str, n: int, device: str, args) -> dict:
  rate, output = _run_torch(python, [TORCH_DCGAN, "--matmul", str(n),
                                     "--device", args.torch_device], "matmul_flops_per_s")
  return {"model": "matmul", "method": f"{n}x{n}x{n} float32", "mode": "torch_roofline",
          "dtype": "float32", "flops_per_s": rate, "device": device,
          "torch": _word_after(output, "torch"), "torch_device": _word_after(output, "device"),
          "gpu": _word_after(output, "gpu")}


def cpu_model() -> str:
  """The processor's name, as /proc/cpuinfo gives it (or platform's guess elsewhere)."""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


# Reporting ----------------------------------------------------------------------------------

def _fmt(value, spec: str, missing: str = "n/a") -> str:
  return missing if value is None else format(value, spec)


def _mode_label(r: dict) -> str:
  if r["mode"] == "torch_eager":
    return f"PyTorch eager (torch {r['torch']})"
  if r["mode"] == "torch_compile":
    return f"torch.compile {r['compile_mode']} (first iteration {r['first_iter_s']:.0f} s)"
  return (r["mode"] + ("" if r["mode"] == "step" else f" K={r['steps_per_dispatch']}")
          + (f" S={r['seeds']}" if r["mode"] == "vmap" else ""))


def _rate(records: list[dict], mode: str, dtype: str = "float32") -> float | None:
  return next((r["flops_per_s"] for r in records
               if r["mode"] == mode and r.get("dtype", "float32") == dtype), None)


def _torch_rates(records: list[dict], mode: str) -> dict:
  """{(model, method, dtype): it/s} of the PyTorch rows of ``mode``."""
  return {(r["model"], r["method"], r["dtype"]): r["gen_iters_per_s"] for r in records
          if r["mode"] == mode}


def markdown(records: list[dict], meta: dict) -> str:
  limit, torch_limit = _rate(records, "roofline"), _rate(records, "torch_roofline")
  roofline = next((r for r in records if r["mode"] == "roofline"), None)
  eager, compiled = _torch_rates(records, "torch_eager"), _torch_rates(records, "torch_compile")
  gpu = next((r["gpu"] for r in records if r.get("gpu") not in (None, "cpu")), None)
  lines = [
      "# Benchmarks",
      "",
      f"`{meta['command']}` on {meta['date']}: {meta['cpu_model']}, {meta['cpu_count']} CPU "
      f"cores ({meta['device']}), jax {meta['jax']}, {meta['python']}. Load average (1 min) "
      f"{meta['load_start']:.2f} at the start and {meta['load_end']:.2f} at the end; a load "
      f"above the core count means other processes shared the machine and the rates are low.",
      "",
      f"The limit: a {roofline['method'] if roofline else 'float32'} matmul runs at "
      f"{_fmt(None if limit is None else limit / 1e9, '.1f')} GFLOP/s in JAX and "
      f"{_fmt(None if torch_limit is None else torch_limit / 1e9, '.1f', 'n/a (no torch)')} "
      "GFLOP/s in PyTorch on this machine. A ratio between the libraries holds for this "
      "processor only: each brings its own CPU kernels, whose speeds differ by processor.",
  ]
  if gpu or meta.get("f32_precision"):
    lines += ["", f"PyTorch ran on {gpu or 'the CPU'}, float32 with TF32 off (cuDNN's too); "
              f"JAX's float32 matmul precision: {meta.get('f32_precision') or 'its default'}. "
              "bfloat16 rows: JAX's bfloat16 compute dtype against PyTorch's autocast, each "
              "against the bfloat16 matmul limit when one was measured."]
  lines += [
      "",
      "Generator iterations per second (n_critic critic steps + 1 generator step) after "
      "compilation, median of the timing windows; vmap rows are per seed. FLOPs per iteration: "
      "XLA's cost analysis of one unrolled training step. % of limit: FLOPs per iteration x "
      "iterations per second (all seeds) / JAX's matmul rate above. x PyTorch: iterations per "
      "second of all seeds / those of the PyTorch eager loop of the same networks in the same "
      "dtype" + (" (x compiled: of its torch.compile loop)" if compiled else "") + ". Peak "
      "memory: XLA's buffer assignment of the timed executable (arguments + outputs + "
      "temporaries - aliased).",
      "",
      "| model | method | mode | dtype | it/s | it/s all seeds | GFLOP/iter | GFLOP/s "
      "| % of limit | peak MiB | compile s | x PyTorch |" + (" x compiled |" if compiled else ""),
      "| --- " * (13 if compiled else 12) + "|",
  ]
  blank = " |" if compiled else ""
  for r in records:
    if r["mode"] in ("roofline", "toy_matmul", "torch_roofline"):
      continue
    if r["mode"] in ("torch_eager", "torch_compile"):
      ones = "1.00 |" + blank if r["mode"] == "torch_eager" else " | 1.00 |"
      lines.append(f"| {r['model']} | {r['method']} | {_mode_label(r)} | {r['dtype']} | "
                   f"{r['gen_iters_per_s']:.3g} | | | | | | | {ones}")
      continue
    achieved = r["achieved_flops_per_s"]
    row_limit = _rate(records, "roofline", r["dtype"]) or limit
    share = None if achieved is None or not row_limit else 100 * achieved / row_limit
    key = (r["model"], r["method"], r["dtype"])
    ratio = lambda theirs: _fmt(r["gen_iters_per_s_all_seeds"] / theirs if theirs else None,
                                ".2f", "")
    lines.append(
        f"| {r['model']} | {r['method']} | {_mode_label(r)} | {r['dtype']} | "
        f"{r['gen_iters_per_s']:.3g} | {r['gen_iters_per_s_all_seeds']:.3g} | "
        f"{_fmt(None if r['flops_per_iter'] is None else r['flops_per_iter'] / 1e9, '.3f')} | "
        f"{_fmt(None if achieved is None else achieved / 1e9, '.1f')} | {_fmt(share, '.0f')} | "
        f"{_fmt(None if r['peak_mem_bytes'] is None else r['peak_mem_bytes'] / 2**20, '.1f')} | "
        f"{r['compile_s']:.1f} | {ratio(eager.get(key))} |"
        + (f" {ratio(compiled.get(key))} |" if compiled else ""))
  if meta.get("skipped"):
    lines += ["", "Skipped: " + "; ".join(meta["skipped"]) + "."]
  lines += ["", "## Against the targets", ""]
  torch = {(model, method): rate for (model, method, dtype), rate in eager.items()
           if dtype == "float32"}
  lines += targets([r for r in records if r.get("dtype", "float32") == "float32"], limit, torch)
  toy_matmul = next((r for r in records if r["mode"] == "toy_matmul"), None)
  if toy_matmul and limit:
    lines += ["", f"The toy's largest matmuls, {toy_matmul['method']} (20 chained in one "
              f"dispatch), reach {toy_matmul['flops_per_s'] / 1e9:.1f} GFLOP/s here: "
              f"{100 * toy_matmul['flops_per_s'] / limit:.0f}% of the limit, which bounds "
              "what the toy's training step can reach."]
  lines.append("")
  return "\n".join(lines)


# (model, the target's share of the matmul limit in %, the target ratio to PyTorch or None): the
# image rows are to be no slower than the PyTorch loop a user would run instead (1.5x, the
# earlier target, needed all of the limit on this project's CPUs).
TARGETS = (("toy", 85, None), ("toy64", 50, None), ("dcgan32", 60, 1.0), ("dcgan64", 60, 1.0))


def targets(records: list[dict], limit: float | None, torch: dict) -> list[str]:
  """The best mode of each (model, method) against its targets, each marked reached or not."""
  out = ["| model | method | best JAX mode | it/s (all seeds) | % of limit (target) "
         "| x PyTorch (target) |", "| --- | --- | --- | --- | --- | --- |"]
  verdict = lambda value, target, spec: (
      "n/a" if value is None else format(value, spec) + (
          "" if target is None else f" ({target}: {'reached' if value >= target else 'NOT reached'})"))
  for model, share_target, ratio_target in TARGETS:
    for method in METHODS:
      rows = [r for r in records if r["model"] == model and r["method"] == method
              and r["mode"] in MODES]
      if not rows:
        continue
      best = max(rows, key=lambda r: r["gen_iters_per_s_all_seeds"])
      theirs = torch.get((model, method))
      ratio = best["gen_iters_per_s_all_seeds"] / theirs if theirs else None
      share = (100 * best["achieved_flops_per_s"] / limit
               if limit and best["achieved_flops_per_s"] else None)
      out.append(f"| {model} | {method} | {_mode_label(best)} | "
                 f"{best['gen_iters_per_s_all_seeds']:.3g} | "
                 f"{verdict(share, share_target, '.0f')} | {verdict(ratio, ratio_target, '.2f')} |")
  return out


def _precision(dtype: str, args):
  """--f32_precision for float32 rows; bfloat16 rows keep JAX's default."""
  if dtype == "float32" and args.f32_precision:
    return jax.default_matmul_precision(args.f32_precision)
  return contextlib.nullcontext()


def main(argv: list[str]) -> int:
  try:
    args = parse_args(argv)
  except UsageError as e:
    print(f"bench.py: {e}", file=sys.stderr)
    return 2
  started = time.monotonic()
  # Seconds left before --deadline_s (a large number without one).
  left = lambda: args.deadline_s - (time.monotonic() - started) if args.deadline_s else 1e9
  device = f"{jax.devices()[0].device_kind} ({jax.devices()[0].platform})"
  meta = {"command": " ".join(["benchmarks/bench.py"] + argv),
          "date": datetime.datetime.now().isoformat(timespec="seconds"), "device": device,
          "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "jax": jax.__version__,
          "python": f"Python {platform.python_version()}", "load_start": os.getloadavg()[0],
          "f32_precision": args.f32_precision or None, "skipped": []}

  def save():
    # A flat list of records, each with the run's context, to compare across machines and
    # commits; written after every row, so that a run stopped early keeps what it measured.
    meta["load_end"] = os.getloadavg()[0]
    os.makedirs(args.out_dir, exist_ok=True)
    files.save_text(os.path.join(args.out_dir, "results.json"),
                    json.dumps([{**r, "run": meta} for r in records], indent=2) + "\n")
    text = markdown(records, meta)
    files.save_text(os.path.join(args.out_dir, "results.md"), text)
    return text

  n = args.matmul_size
  records = []
  # The limit is float32's; each other dtype's rows are also read against that dtype's.
  for dtype in dict.fromkeys(["float32"] + args.dtypes):
    with _precision(dtype, args):
      records.append(matmul_flops_per_s(n, n, n, args.min_time, args.repeats, dtype=dtype))
  if "toy" in args.models:
    # The toy's own matmuls (batch x hidden x hidden), chained in one dispatch: the rate its
    # largest operations can reach on this machine, to read its share of the limit against.
    h = args.toy_hidden
    with _precision("float32", args):
      records.append(matmul_flops_per_s(TOY_BATCH, h, h, args.min_time, args.repeats, chain=20))
    records[-1]["mode"] = "toy_matmul"
  torch_python = None if args.no_torch else find_torch_python(args.torch_python)
  if torch_python:
    try:
      records.append(torch_matmul(torch_python, n, device, args))
    except RuntimeError as e:
      print(f"{e}; no PyTorch matmul rate", file=sys.stderr)
  for r in records:
    r["device"] = device
    print(f"matmul {r['method']} ({r['mode']}): {r['flops_per_s'] / 1e9:.1f} GFLOP/s",
          file=sys.stderr, flush=True)
  for dtype in args.dtypes:
    torch_modes = [""] + ([args.torch_compile] if args.torch_compile
                          and dtype in args.torch_compile_dtypes else [])
    for model in args.models:
      for method in args.methods:
        if left() <= 0:
          meta["skipped"].append(f"{model} {method} {dtype} (past --deadline_s)")
          continue
        modes = (args.modes if model == "toy" else ["vmap"] if model == "toy64"
                 else args.image_modes)
        with _precision(dtype, args):
          records += bench_config(model, method, dtype, modes, args, device)
        for compile_mode in torch_modes if torch_python else []:
          label = f"torch {compile_mode or 'eager'} {model} {method} {dtype}"
          try:
            records.append(torch_row(torch_python, model, method, dtype, compile_mode, args,
                                     timeout=min(900, left())))
            records[-1]["device"] = device
            print(f"{label}: {records[-1]['gen_iters_per_s']:.3g} it/s", file=sys.stderr,
                  flush=True)
          except RuntimeError as e:
            print(f"{e}; no row for {label}", file=sys.stderr)
            reason = [line for line in str(e).splitlines() if line.strip()][-1]
            meta["skipped"].append(f"{label} ({reason[-200:]})")
        save()
  if not torch_python and not args.no_torch:
    print("no Python with torch found: the PyTorch references were skipped "
          "(make bench installs one in .venv/torch)", file=sys.stderr)
  print(save())
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
