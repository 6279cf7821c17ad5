"""The bf16 option of the models, the benchmark's refusal of bad flags, its report, and the GPU
check's script (cheap checks only: the benchmark itself is `make bench`, not a test)."""

import importlib.util
import os
import re
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wgan_jax import models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bench_module(name: str = "bench"):
  spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "benchmarks",
                                                                   f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize("make, shape", [
    (lambda d: models.MLP((8, 8), 1, dtype=d), (4, 2)),
    (lambda d: models.DCGANCritic(8, 1, features=4, norm="batch", dtype=d), (4, 8, 8, 1)),
    (lambda d: models.DCGANGenerator(8, 1, noise_dim=3, features=4, dtype=d), (4, 3)),
    (lambda d: models.MLPGenerator(8, 1, hidden=8, layers=2, dtype=d), (4, 3)),
])
def test_bfloat16_models_compute_in_bf16_with_float32_params_and_outputs(make, shape):
  x = jax.random.normal(jax.random.key(0), shape)
  module16, module32 = make(jnp.bfloat16), make(jnp.float32)
  variables = jax.jit(module32.init)(jax.random.key(1), x)
  # The same parameters serve both: bf16 changes the computation, not the parameters.
  shapes16 = jax.eval_shape(module16.init, jax.random.key(1), x)
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(shapes16))
  apply = lambda m: jax.jit(lambda v: m.apply(v, x, train=True, mutable=["batch_stats"])[0])
  out16, out32 = apply(module16)(variables), apply(module32)(variables)
  assert out16.dtype == jnp.float32 and out16.shape == out32.shape
  assert np.all(np.isfinite(out16))
  # bf16 keeps about 3 significant digits: close to float32, but not equal to it.
  scale = float(jnp.max(jnp.abs(out32))) + 1e-6
  assert float(jnp.max(jnp.abs(out16 - out32))) <= 0.05 * scale
  jaxpr = str(jax.make_jaxpr(lambda v: module16.apply(v, x, train=False))(variables))
  assert "bf16" in jaxpr


@pytest.mark.parametrize("argv, words", [
    (["--models=toy,resnet"], "--models"),
    (["--dtype=float16"], "--dtype"),
    (["--repeats=0"], "--repeats"),
    (["--min_time=abc"], "--min_time"),
])
def test_bench_refuses_bad_flags_in_one_line(argv, words, capsys, tmp_path):
  assert _bench_module().main(argv + [f"--out_dir={tmp_path}"]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and words in err[0]
  assert not os.listdir(tmp_path)


def test_targets_mark_each_goal_reached_or_not():
  bench = _bench_module()
  limit = 100e9
  row = lambda model, rate, flops: {
      "model": model, "method": "wgan", "mode": "step", "steps_per_dispatch": 1, "seeds": 1,
      "gen_iters_per_s_all_seeds": rate, "achieved_flops_per_s": rate * flops}
  records = [row("dcgan32", 2.0, 35e9),  # 70% of the limit, 2.0 / 1.0 = 2x PyTorch
             row("dcgan64", 0.5, 100e9)]  # 50% of the limit, 0.5 / 0.625 = 0.8x PyTorch
  torch = {("dcgan32", "wgan"): 1.0, ("dcgan64", "wgan"): 0.625}
  table = bench.targets(records, limit, torch)
  dcgan32 = next(line for line in table if line.startswith("| dcgan32"))
  dcgan64 = next(line for line in table if line.startswith("| dcgan64"))
  assert "70 (60: reached)" in dcgan32 and "2.00 (1.0: reached)" in dcgan32
  assert "50 (60: NOT reached)" in dcgan64 and "0.80 (1.0: NOT reached)" in dcgan64


def test_markdown_compares_each_dtype_with_pytorch_eager_and_compiled():
  bench = _bench_module()
  jax_row = lambda dtype, rate: {
      "model": "dcgan32", "method": "wgan", "mode": "step", "dtype": dtype, "seeds": 1,
      "steps_per_dispatch": 1, "gen_iters_per_s": rate, "gen_iters_per_s_all_seeds": rate,
      "flops_per_iter": None, "achieved_flops_per_s": None, "peak_mem_bytes": None,
      "compile_s": 1.0}
  torch_row = lambda dtype, mode, rate: {
      "model": "dcgan32", "method": "wgan", "mode": mode, "dtype": dtype, "torch": "2.11",
      "compile_mode": "default", "first_iter_s": 30.0, "gen_iters_per_s": rate, "gpu": "H200"}
  records = [{"model": "matmul", "method": "8x8x8 float32", "mode": "roofline",
              "dtype": "float32", "flops_per_s": 1e9},
             jax_row("float32", 6.0), torch_row("float32", "torch_eager", 2.0),
             torch_row("float32", "torch_compile", 3.0),
             jax_row("bfloat16", 8.0), torch_row("bfloat16", "torch_eager", 4.0)]
  meta = {"command": "bench.py", "date": "today", "cpu_model": "cpu", "cpu_count": 1,
          "device": "H200 (gpu)", "jax": "0", "python": "3", "load_start": 0.0,
          "load_end": 0.0, "f32_precision": "highest", "skipped": ["dcgan64 wgan (late)"]}
  text = bench.markdown(records, meta)
  rows = [line for line in text.splitlines() if line.startswith("| dcgan32 | wgan | step")]
  # float32: 6 / 2 eager, 6 / 3 compiled; bfloat16: 8 / 4 eager, no compiled row.
  assert rows[0].endswith("| 3.00 | 2.00 |") and rows[1].endswith("| 2.00 |  |")
  assert "PyTorch ran on H200" in text and "Skipped: dcgan64 wgan (late)." in text


def test_device_check_script_parses_and_its_wheels_are_pinned():
  # The GPU check itself runs only where a device is lent (docs/performance.md#the-gpu-check).
  subprocess.run(["bash", "-n", os.path.join(ROOT, "benchmarks", "device_check.sh")], check=True)
  with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as f:
    makefile = f.read()
  with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
    pyproject = f.read()
  assert "\ndevice-wheels:" in makefile
  wheels = re.search(r"^DEVICE_WHEELS := (.+)$", makefile, re.M).group(1).split()
  assert wheels and all(f'"{name}==' in pyproject for name in wheels)


def test_profile_sorts_compiled_operations_by_kind():
  profile = _bench_module("profile_step")
  kernel = jnp.ones((4, 4, 3, 8))

  def loss(kernel, x, w):
    y = jax.lax.conv_general_dilated(x, kernel, (2, 2), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.sum(jnp.tanh(y.reshape(2, -1) @ w))

  args = (kernel, jnp.ones((2, 8, 8, 3)), jnp.ones((128, 5)))
  text = jax.jit(jax.grad(loss, argnums=(1, 2))).lower(*args).compile().as_text()
  kinds = {profile.jax_kind(opcode, op_name)
           for opcode, op_name in profile._instructions(text).values()}
  assert {"conv forward", "conv backward", "matmul", "other"} <= kinds
  assert [profile.torch_kind(name) for name in (
      "aten::mkldnn_convolution", "aten::convolution_backward", "aten::addmm",
      "aten::native_batch_norm", "aten::copy_")] == [
      "conv forward", "conv backward", "matmul", "normalisation", "other"]
