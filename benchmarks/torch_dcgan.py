"""PyTorch eager reference of the DCGAN image rows of `make bench`, and PyTorch's matmul rate.

    .venv/torch/bin/python benchmarks/torch_dcgan.py --size 32 --loss wgan --min_time 10
    .venv/torch/bin/python benchmarks/torch_dcgan.py --matmul 2048
    python3 benchmarks/torch_dcgan.py --device cuda --compile default --dtype bfloat16

The networks are wgan_jax.models' DCGANGenerator and DCGANCritic, layer for layer: the
generator's 4x4 ConvTranspose2d from the noise (our Dense to a 4x4 map), BatchNorm and ReLU,
stride-2 4x4 transposed convolutions, tanh; the critic's stride-2 4x4 convolutions, LeakyReLU
0.2, BatchNorm (WGAN) or a LayerNorm over (C, H, W) with one scale and offset per channel
(WGAN-GP; GroupNorm with one group), and a valid 4x4 convolution to one score; no convolution
has a bias, as in the official WGAN code. 64 filters, batch 64, n_critic 5, random images;
the training step as wgan_jax.steps: RMSProp 5e-5 with clipping after each critic update
(WGAN) or Adam 1e-4, β = (0, 0.9) and the gradient penalty, λ = 10 (WGAN-GP). Adapted from
../shared/bench/ref_torch_dcgan.py, whose networks differ from ours in the LayerNorm's per-pixel
affine parameters. Prints `gen_iters_per_s X` with the networks' parameter
counts (make bench checks them against ours), or `matmul_flops_per_s X`.

--device runs it on a GPU (cuda); --compile wraps both networks in torch.compile (its mode:
default, reduce-overhead, max-autotune), except the critic call of WGAN-GP's gradient penalty,
which stays eager because torch.compile does not support the double backward it needs;
--dtype bfloat16 computes under autocast with float32 parameters, as wgan_jax's bfloat16 does.
float32 runs with TF32 off (unless --tf32), to compare with JAX at "highest" precision.
benchmarks/torch_toy.py shares these options.
"""
import argparse
import contextlib
import math
import time

import torch
from torch import nn


# Shared with torch_toy.py ----------------------------------------------------------------------

def add_device_flags(parser):
  parser.add_argument("--device", default="cpu", help="cpu, cuda, or auto (cuda if present)")
  parser.add_argument("--compile", default="", help="torch.compile mode; empty: eager")
  parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
  parser.add_argument("--tf32", action="store_true", help="allow TF32 in float32 (off: exact)")


def setup(args):
  """The torch.device of --device, with TF32 set as --tf32 says."""
  name = args.device
  if name == "auto":
    name = "cuda" if torch.cuda.is_available() else "cpu"
  # cuDNN allows TF32 by default: off, float32 convolutions are float32 like JAX's "highest".
  torch.backends.cuda.matmul.allow_tf32 = args.tf32
  torch.backends.cudnn.allow_tf32 = args.tf32
  return torch.device(name)


def autocast(device, dtype):
  """bfloat16: autocast (float32 parameters, bf16 matmuls and convolutions); float32: nothing."""
  if dtype == "bfloat16":
    return torch.autocast(device.type, dtype=torch.bfloat16)
  return contextlib.nullcontext()


def maybe_compile(module, mode):
  # dynamic=False: the shapes never change; a recompile (the critic with and without gradients)
  # would otherwise make them symbolic, which fails in BatchNorm (torch 2.13, CPU).
  return (torch.compile(module, mode=None if mode == "default" else mode, dynamic=False)
          if mode else module)


def sync(device):
  if device.type == "cuda":
    torch.cuda.synchronize(device)


def time_iterations(iteration, iters, min_time, device):
  """Iterations per second after a first (compiling, allocating) one, and that one's seconds."""
  start = time.perf_counter()
  iteration()
  sync(device)
  first_s = time.perf_counter() - start
  done, start = 0, time.perf_counter()
  while done < iters or time.perf_counter() - start < min_time:
    iteration()
    done += 1
  sync(device)  # GPU work is queued: the clock stops when it has run
  return done / (time.perf_counter() - start), first_s


def describe(device, args):
  """The words make bench reads: the torch version, threads and device."""
  gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
  return (f"torch {torch.__version__} threads {torch.get_num_threads()} device {device.type} "
          f"gpu {gpu.replace(' ', '_')} dtype {args.dtype} compile {args.compile or 'eager'}")


# The DCGAN -------------------------------------------------------------------------------------


def generator(size, nz=100, f=64, nc=3):
  n = int(math.log2(size)) - 2
  w = f * 2 ** (n - 1)
  layers = [nn.ConvTranspose2d(nz, w, 4, 1, 0, bias=False)]
  for _ in range(n - 1):
    layers += [nn.BatchNorm2d(w), nn.ReLU(True), nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False)]
    w //= 2
  layers += [nn.BatchNorm2d(w), nn.ReLU(True), nn.ConvTranspose2d(w, nc, 4, 2, 1, bias=False),
             nn.Tanh()]
  return nn.Sequential(*layers)


def critic(size, f=64, nc=3, norm="batch"):
  n = int(math.log2(size)) - 2
  layers = [nn.Conv2d(nc, f, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
  w = f
  for _ in range(n - 1):
    layers += [nn.Conv2d(w, w * 2, 4, 2, 1, bias=False),
               nn.BatchNorm2d(w * 2) if norm == "batch" else nn.GroupNorm(1, w * 2),
               nn.LeakyReLU(0.2, True)]
    w *= 2
  layers += [nn.Conv2d(w, 1, 4, 1, 0, bias=False)]
  return nn.Sequential(*layers)


def wgan_iteration(g, d, loss, n_critic, real_batch, noise, device, dtype, compile_mode):
  """One generator iteration of WGAN (RMSProp 5e-5, clipping at 0.01 after each critic update)
  or WGAN-GP (Adam 1e-4, β = (0, 0.9), λ = 10), as wgan_jax.steps: n_critic critic steps, each on
  a fresh real_batch(), then a generator step that leaves the critic's parameters alone."""
  cast = lambda: autocast(device, dtype)
  # The eager critic serves the gradient penalty (double backward); the same parameters.
  g_run, d_run = maybe_compile(g, compile_mode), maybe_compile(d, compile_mode)
  if loss == "wgan":
    og = torch.optim.RMSprop(g.parameters(), lr=5e-5, alpha=0.9)
    od = torch.optim.RMSprop(d.parameters(), lr=5e-5, alpha=0.9)
  else:
    og = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.0, 0.9))
    od = torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0.0, 0.9))

  def iteration():
    for _ in range(n_critic):
      real = real_batch()
      with torch.no_grad(), cast():
        fake = g_run(noise())
      od.zero_grad()
      with cast():
        d_loss = d_run(fake).float().mean() - d_run(real).float().mean()
        if loss == "wgan-gp":
          eps = torch.rand(real.shape[0], *[1] * (real.ndim - 1), device=device)
          x = (eps * real + (1 - eps) * fake.float()).requires_grad_(True)
          grad, = torch.autograd.grad(d(x).float().sum(), x, create_graph=True)
          d_loss = d_loss + 10 * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
      d_loss.backward()
      od.step()
      if loss == "wgan":
        with torch.no_grad():
          for p in d.parameters():
            p.clamp_(-0.01, 0.01)
    og.zero_grad()
    for p in d.parameters():
      p.requires_grad_(False)
    with cast():
      g_loss = -d_run(g_run(noise())).float().mean()
    g_loss.backward()
    for p in d.parameters():
      p.requires_grad_(True)
    og.step()

  return iteration


def gen_iters_per_s(size, loss, iters, min_time, batch, features=64, n_critic=5,
                    device=torch.device("cpu"), dtype="float32", compile_mode=""):
  torch.manual_seed(0)
  g = generator(size, f=features).to(device)
  d = critic(size, f=features, norm="batch" if loss == "wgan" else "layer").to(device)
  real_batch = lambda: torch.rand(batch, 3, size, size, device=device) * 2 - 1
  noise = lambda: torch.randn(batch, 100, 1, 1, device=device)
  iteration = wgan_iteration(g, d, loss, n_critic, real_batch, noise, device, dtype,
                             compile_mode)
  rate, first_s = time_iterations(iteration, iters, min_time, device)
  count = lambda m: sum(p.numel() for p in m.parameters())
  return rate, count(g), count(d), first_s


def matmul_flops_per_s(n, min_time=0.5, repeats=5, device=torch.device("cpu")):
  a = torch.randn(n, n, device=device)
  b = torch.randn(n, n, device=device) / n**0.5
  a @ b
  sync(device)
  rates = []
  for _ in range(repeats):
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time:
      a @ b
      calls += 1
      if calls % 8 == 0:
        sync(device)  # keep the queue short, so that the clock reads work done
    sync(device)
    rates.append(2 * n**3 * calls / (time.perf_counter() - start))
  return sorted(rates)[len(rates) // 2]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--size", type=int, default=32)
  parser.add_argument("--loss", default="wgan", choices=["wgan", "wgan-gp"])
  parser.add_argument("--iters", type=int, default=2, help="at least this many iterations")
  parser.add_argument("--min_time", type=float, default=10.0, help="and at least these seconds")
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--features", type=int, default=64)
  parser.add_argument("--matmul", type=int, default=0,
                      help="only PyTorch's n x n float32 matmul rate")
  add_device_flags(parser)
  args = parser.parse_args()
  device = setup(args)
  prefix = describe(device, args)
  if args.matmul:
    print(f"{prefix} matmul_flops_per_s {matmul_flops_per_s(args.matmul, device=device):.6g}")
  else:
    rate, g_params, d_params, first_s = gen_iters_per_s(
        args.size, args.loss, args.iters, args.min_time, args.batch, args.features,
        device=device, dtype=args.dtype, compile_mode=args.compile)
    print(f"{prefix} dcgan{args.size} {args.loss} gen_iters_per_s {rate:.6g} "
          f"generator_params {g_params} critic_params {d_params} first_iter_s {first_s:.3g}")


if __name__ == "__main__":
  main()
