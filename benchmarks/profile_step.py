r"""Where one training iteration's time goes, by kind of operation, in JAX and in PyTorch.

    .venv/bin/python benchmarks/profile_step.py --model=dcgan64 --method=wgan \
        --torch_python=.venv/torch/bin/python

Profiles a few generator iterations (n_critic critic steps and a generator step) of
wgan_jax/configs/bench.py's ``<model>-<method>`` in JAX (``jax.profiler``: the time of each
operation XLA runs) and of benchmarks/torch_dcgan.py's PyTorch eager loop of the same networks
(``torch.profiler``: each ATen operation's own time), and prints both, grouped by kind:
convolutions forward, convolutions backward (input and kernel gradients), matmuls, normalisation,
the rest (element-wise work, optimiser, copies). Profilers add their own cost: compare shares and
like with like, and take iterations per second from ``make bench``.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile

import jax

from wgan_jax import experiment
from wgan_jax import steps as steps_lib
from wgan_jax.configs import bench as bench_configs

TORCH_DCGAN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_dcgan.py")
KINDS = ("conv forward", "conv backward", "matmul", "normalisation", "other")


def jax_kind(opcode: str, op_name: str) -> str:
  """The kind of one XLA instruction, from its opcode and the JAX operation it came from (a
  convolution that an XLA rewrite left without one counts as forward; the DCGAN programs have
  none)."""
  backward = "transpose(" in op_name or "_bwd" in op_name
  if opcode == "convolution":
    return "conv backward" if backward else "conv forward"
  if opcode == "dot":
    return "matmul"
  if re.search(r"BatchNorm|LayerNorm|GroupNorm|_norm", op_name):
    return "normalisation"
  return "other"


def torch_kind(name: str) -> str:
  if "conv" in name:
    return "conv backward" if "backward" in name else "conv forward"
  if name in ("aten::mm", "aten::addmm", "aten::bmm"):
    return "matmul"
  if "norm" in name:
    return "normalisation"
  return "other"


def _instructions(hlo_text: str) -> dict[str, tuple[str, str]]:
  """name -> (opcode, op_name metadata) of every instruction of a compiled module; a fusion
  takes the kind of the convolution or dot inside it, if any."""
  found, fusion_kind = {}, {}
  computation = None
  for line in hlo_text.splitlines():
    head = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$", line)
    if head:
      computation = head.group(1)
      continue
    m = re.match(r"^\s+(?:ROOT )?%?([\w.\-]+) = \S+ (\w[\w\-]*)\(", line)
    if not m:
      m = re.match(r"^\s+(?:ROOT )?%?([\w.\-]+) = \(.*?\) (\w[\w\-]*)\(", line)
    if not m:
      continue
    name, opcode = m.groups()
    op_name = re.search(r'op_name="([^"]*)"', line)
    op_name = op_name.group(1) if op_name else ""
    found[name] = (opcode, op_name)
    if opcode in ("convolution", "dot") and computation:
      fusion_kind.setdefault(computation, (opcode, op_name))
    called = re.search(r"calls=%?([\w.\-]+)", line)
    if opcode == "fusion" and called:
      found[name] = ("fusion:" + called.group(1), op_name)
  for name, (opcode, op_name) in list(found.items()):
    if opcode.startswith("fusion:"):
      found[name] = fusion_kind.get(opcode[len("fusion:"):], ("fusion", op_name))
  return found


def profile_jax(model: str, method: str, iters: int) -> dict:
  spec = experiment.build(bench_configs.get_config(f"{model}-{method}")).spec
  fns = steps_lib.make_steps(spec)
  state, key = fns.init(jax.random.key(0)), jax.random.key(1)
  compiled = jax.jit(fns.train_step).lower(state, key).compile()
  instructions = _instructions(compiled.as_text())
  for _ in range(2):
    state = jax.block_until_ready(compiled(state, key)[0])
  with tempfile.TemporaryDirectory() as folder:
    jax.profiler.start_trace(folder, create_perfetto_trace=True)
    for _ in range(iters):
      state = jax.block_until_ready(compiled(state, key)[0])
    jax.profiler.stop_trace()
    path = glob.glob(os.path.join(folder, "**", "*.trace.json.gz"), recursive=True)[0]
    with gzip.open(path) as f:
      trace = json.load(f)
  events = trace["traceEvents"] if isinstance(trace, dict) else trace
  by_kind, by_op = collections.Counter(), collections.Counter()
  wall = 0.0
  for event in events:
    if event.get("ph") != "X":
      continue
    name = event["name"]
    if name == "ThunkExecutor::Execute (wait for completion)":
      wall += event["dur"]
    if name in instructions:
      opcode, op_name = instructions[name]
      kind = jax_kind(opcode, op_name)
      by_kind[kind] += event["dur"] / iters / 1e3
      by_op[f"{name} ({kind})"] += event["dur"] / iters / 1e3
  return {"ms_per_iter": wall / iters / 1e3, "by_kind": dict(by_kind),
          "top": by_op.most_common(12)}


TORCH_PROFILE = r"""
import json, sys, collections
import torch
sys.path.insert(0, sys.argv[1])
import torch_dcgan
from torch.profiler import profile, ProfilerActivity
size, loss, iters = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
torch.manual_seed(0)
g = torch_dcgan.generator(size)
d = torch_dcgan.critic(size, norm="batch" if loss == "wgan" else "layer")
iteration = torch_dcgan.wgan_iteration(
    g, d, loss, 5, lambda: torch.rand(64, 3, size, size) * 2 - 1,
    lambda: torch.randn(64, 100, 1, 1), torch.device("cpu"), "float32", "")
for _ in range(2):
  iteration()
import time
start = time.perf_counter()
with profile(activities=[ProfilerActivity.CPU]) as prof:
  for _ in range(iters):
    iteration()
wall = (time.perf_counter() - start) / iters
ops = {e.key: e.self_cpu_time_total / iters / 1e3 for e in prof.key_averages()}
print("PROFILE " + json.dumps({"ms_per_iter": wall * 1e3, "ops": ops}))
"""


def profile_torch(python: str, model: str, method: str, iters: int) -> dict:
  size = int(model[len("dcgan"):])
  done = subprocess.run([python, "-c", TORCH_PROFILE, os.path.dirname(TORCH_DCGAN), str(size),
                         method, str(iters)], capture_output=True, text=True, check=True)
  line = next(l for l in done.stdout.splitlines() if l.startswith("PROFILE "))
  result = json.loads(line[len("PROFILE "):])
  by_kind = collections.Counter()
  for name, ms in result["ops"].items():
    by_kind[torch_kind(name)] += ms
  top = sorted(result["ops"].items(), key=lambda kv: -kv[1])[:12]
  return {"ms_per_iter": result["ms_per_iter"], "by_kind": dict(by_kind),
          "top": [(f"{name} ({torch_kind(name)})", ms) for name, ms in top]}


def table(jax_result: dict, torch_result: dict | None) -> str:
  lines = ["| kind | JAX ms/iter | PyTorch ms/iter | JAX / PyTorch time |",
           "| --- | --- | --- | --- |"]
  for kind in KINDS + ("all (profiled wall)",):
    if kind in KINDS:
      j = jax_result["by_kind"].get(kind, 0.0)
      t = torch_result["by_kind"].get(kind, 0.0) if torch_result else None
    else:
      j = jax_result["ms_per_iter"]
      t = torch_result["ms_per_iter"] if torch_result else None
    ratio = f"{j / t:.2f}" if t else "n/a"
    lines.append(f"| {kind} | {j:.1f} | {'n/a' if t is None else f'{t:.1f}'} | {ratio} |")
  return "\n".join(lines)


def main(argv: list[str]) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model", default="dcgan64", choices=bench_configs.MODELS[2:])
  parser.add_argument("--method", default="wgan", choices=bench_configs.METHODS)
  parser.add_argument("--iters", type=int, default=3)
  parser.add_argument("--torch_python", default="", help="a Python with torch (.venv/torch)")
  args = parser.parse_args(argv)
  jax_result = profile_jax(args.model, args.method, args.iters)
  torch_result = (profile_torch(args.torch_python, args.model, args.method, args.iters)
                  if args.torch_python else None)
  print(f"{args.model} {args.method}, {args.iters} profiled generator iterations, "
        f"{jax.devices()[0].platform}\n")
  print(table(jax_result, torch_result))
  for name, result in (("JAX", jax_result), ("PyTorch", torch_result)):
    if result:
      print(f"\n{name}'s longest operations (ms per iteration):")
      for op, ms in result["top"]:
        print(f"  {ms:8.2f}  {op}")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
