#!/usr/bin/env bash
# The GPU check (docs/performance.md#the-gpu-check), one command, within 8 minutes:
#
#   make device-wheels                         # here, where a registry can be reached
#   bash benchmarks/device_check.sh [OUT_DIR]  # there (or here, on the CPU)
#
# 1. installs the wheels of `make device-wheels` (.whl/) when the packages are missing: a GPU
#    machine that reaches no registry has jax, flax, optax and torch but not all we import;
# 2. prints the device (JAX's and PyTorch's);
# 3. runs the tests of the steps, models, losses and data parallelism;
# 4. runs benchmarks/bench.py's toy, toy64 and DCGAN 32/64 rows, WGAN and WGAN-GP, in float32
#    (TF32 off in both libraries) and bfloat16, beside the PyTorch eager loop and torch.compile
#    of the same networks on the same device.
#
# Writes into $OUT when set (the device tool's folder), else OUT_DIR, else runs/device_check:
# check.json (device, tests, stages, notes), results.json and results.md (the bench's rows),
# tests.log and bench.log. On a CPU the networks are smaller (a check that everything runs, not
# a measurement); on a GPU they are make bench's. A failing stage is recorded and the next runs.
set -uo pipefail
cd "$(dirname "$0")/.."
BUDGET_S=${BUDGET_S:-480}  # the issue's 8 minutes; every stage gets what the earlier ones left
out=${OUT:-${1:-runs/device_check}}
mkdir -p "$out"
# The seconds left of the budget less $1, at least 10.
left() { local n=$((BUDGET_S - SECONDS - ${1:-0})); echo $((n > 10 ? n : 10)); }

# Python: here, the project's .venv (and .venv/torch for PyTorch, kept apart as `make bench`
# does); on the GPU machine, its python3, which holds both jax and torch.
if [ -x .venv/bin/python ]; then
  py=.venv/bin/python
  torch_py=$py
  [ -x .venv/torch/bin/python ] && torch_py=.venv/torch/bin/python
else
  py=python3
  torch_py=python3
  if ! $py -c 'import ml_collections, tensorboardX' 2>/dev/null; then
    if compgen -G '.whl/*.whl' >/dev/null; then
      site=${TMPDIR:-/tmp}/wgan_jax_site
      $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" .whl/*.whl || echo "device_check: installing .whl/ failed" >&2
      export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
    else
      echo "device_check: ml_collections or tensorboardX missing and no .whl/ (make device-wheels)" >&2
    fi
  fi
fi
# wgan_jax from this checkout, installed or not (the GPU machine gets a copy of the tree).
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1

# 2. The device ------------------------------------------------------------------------------
$py - "$out/device_jax.json" <<'EOF'
import json, sys
import jax, flax, optax
devices = jax.devices()
info = {"jax": jax.__version__, "flax": flax.__version__, "optax": optax.__version__,
        "python": sys.version.split()[0], "backend": jax.default_backend(),
        "jax_devices": [f"{d.device_kind} ({d.platform})" for d in devices]}
print("jax devices:", devices)
json.dump(info, open(sys.argv[1], "w"))
EOF
$torch_py - "$out/device_torch.json" <<'EOF'
import json, sys
try:
  import torch
except ImportError:
  info = {"torch": None}
else:
  cuda = torch.cuda.is_available()
  info = {"torch": torch.__version__, "torch_cuda": torch.version.cuda,
          "torch_device": torch.cuda.get_device_name(0) if cuda else "cpu"}
print("torch:", info)
json.dump(info, open(sys.argv[1], "w"))
EOF
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
  --format=csv,noheader | tee "$out/nvidia_smi.txt"
backend=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["backend"])' \
  "$out/device_jax.json" 2>/dev/null || echo unknown)

if [ "$backend" = gpu ]; then
  # Each process takes a share of the GPU's memory rather than JAX's default 75%: the test
  # workers share it, and so do the bench and its PyTorch subprocesses. The tests compile at
  # XLA's default optimisation level (3), not the CPU suite's 0 (tests/conftest.py).
  test_env=(XLA_PYTHON_CLIENT_MEM_FRACTION=0.2 "XLA_FLAGS=--xla_backend_optimization_level=3")
  bench_env=(XLA_PYTHON_CLIENT_MEM_FRACTION=0.4)
  workers=4
  # make bench's networks; short timing windows, so that every row fits.
  sizes=(--modes=step,scan,vmap --image_modes=step,scan --min_time=0.3 --repeats=3
         --image_repeats=2 --torch_toy_time=2 --torch_image_time=2)
else
  test_env=()
  bench_env=()
  workers=2
  # Small networks and one timing window: the CPU run checks that every row runs.
  # torch.compile in float32 only: on 2 cores each compilation takes 5-20 s.
  sizes=(--toy_hidden=64 --image_features=8 --modes=step,scan --image_modes=step
         --matmul_size=1024 --min_time=0.1 --repeats=2 --image_repeats=1 --torch_toy_time=0.5
         --torch_image_time=0.5 --torch_compile_dtypes=float32)
fi

# 3. The tests -------------------------------------------------------------------------------
# JAX's float32 matmuls and convolutions exact (no TF32 on a GPU): the tests' tolerances are
# float32's. tests/test_parallel.py trains on 8 host (CPU) devices by design, in a subprocess.
tests_start=$SECONDS
env "${test_env[@]}" JAX_DEFAULT_MATMUL_PRECISION=highest timeout "$(left 240)" \
  $py -m pytest -q -n $workers --dist loadfile \
  tests/test_steps.py tests/test_models.py tests/test_losses.py tests/test_parallel.py \
  2>&1 | tee "$out/tests.log"
tests_rc=${PIPESTATUS[0]}
tests_s=$((SECONDS - tests_start))

# 4. The bench -------------------------------------------------------------------------------
# Rows that would start in the last 40 s are skipped (--deadline_s); the outer timeout is a
# safety net (the bench writes its results after every row).
bench_start=$SECONDS
env "${bench_env[@]}" timeout "$(left 10)" $py benchmarks/bench.py --out_dir="$out" \
  --dtype=float32,bfloat16 --f32_precision=highest --torch_compile=default \
  --torch_python="$torch_py" --deadline_s="$(left 40)" "${sizes[@]}" \
  2>&1 | tee "$out/bench.log"
bench_rc=${PIPESTATUS[0]}
bench_s=$((SECONDS - bench_start))

# The summary --------------------------------------------------------------------------------
$py - "$out" "$tests_rc" "$tests_s" "$bench_rc" "$bench_s" "$SECONDS" <<'EOF'
import datetime, json, os, re, sys
out, tests_rc, tests_s, bench_rc, bench_s, total_s = sys.argv[1], *map(int, sys.argv[2:])
device = {}
for name in ("device_jax.json", "device_torch.json"):
  path = os.path.join(out, name)
  if os.path.exists(path):
    device.update(json.load(open(path)))
    os.remove(path)  # merged here
smi = os.path.join(out, "nvidia_smi.txt")
if os.path.exists(smi):
  device["nvidia_smi"] = open(smi).read().strip()
  os.remove(smi)
log = open(os.path.join(out, "tests.log")).read()
summary = re.findall(r"^=*\s*(\d+ (?:passed|failed|error).*?) in [0-9.]+s", log, re.M)
rows = os.path.join(out, "results.json")
rows = json.load(open(rows)) if os.path.exists(rows) else []
skipped = rows[0]["run"]["skipped"] if rows else []
gpu = device.get("backend") == "gpu"
check = {
    "date": datetime.datetime.now().isoformat(timespec="seconds"), "device": device,
    "total_s": total_s,
    "tests": {"rc": tests_rc, "seconds": tests_s, "summary": summary[-1] if summary else None,
              "files": ["tests/test_steps.py", "tests/test_models.py", "tests/test_losses.py",
                        "tests/test_parallel.py"]},
    "bench": {"rc": bench_rc, "seconds": bench_s, "rows": len(rows), "skipped": skipped,
              "results": "results.json, results.md"},
    "notes": [
        "make bench's networks" if gpu else
        "CPU run: toy 3 x 64 and DCGAN with 8 filters, one short timing window per row: a "
        "check that every row runs, not a measurement",
        "float32 rows: JAX at jax_default_matmul_precision=highest, PyTorch with TF32 off "
        "(torch.backends.cuda.matmul.allow_tf32 and cudnn.allow_tf32 False)",
        "bfloat16 rows: JAX's bfloat16 compute dtype against PyTorch's autocast",
        "torch.compile (mode default) compiles both networks; WGAN-GP's penalty runs the critic "
        "eagerly (torch.compile has no double backward); its first iteration, mostly "
        "compilation, is first_iter_s",
        "tests/test_parallel.py trains on 8 host CPU devices by design (one GPU is one device)",
    ],
}
json.dump(check, open(os.path.join(out, "check.json"), "w"), indent=2)
print(f"device_check: {device.get('jax_devices')}, torch on {device.get('torch_device')}; "
      f"tests rc {tests_rc} ({check['tests']['summary']}, {tests_s} s); bench rc {bench_rc} "
      f"({len(rows)} rows, {len(skipped)} skipped, {bench_s} s); {total_s} s in all; "
      f"written to {out}")
EOF
[ "$tests_rc" = 0 ] && [ "$bench_rc" = 0 ]
