"""PyTorch eager reference of the DCGAN image rows of `make bench`, and PyTorch's matmul rate.

    .venv/torch/bin/python benchmarks/torch_dcgan.py --size 32 --loss wgan --min_time 10
    .venv/torch/bin/python benchmarks/torch_dcgan.py --matmul 2048

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
"""
import argparse
import math
import time

import torch
from torch import nn


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


def gen_iters_per_s(size, loss, iters, min_time, batch, features=64, n_critic=5):
  torch.manual_seed(0)
  g = generator(size, f=features)
  d = critic(size, f=features, norm="batch" if loss == "wgan" else "layer")
  if loss == "wgan":
    og = torch.optim.RMSprop(g.parameters(), lr=5e-5, alpha=0.9)
    od = torch.optim.RMSprop(d.parameters(), lr=5e-5, alpha=0.9)
  else:
    og = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.0, 0.9))
    od = torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0.0, 0.9))

  def iteration():
    for _ in range(n_critic):
      real = torch.rand(batch, 3, size, size) * 2 - 1
      with torch.no_grad():
        fake = g(torch.randn(batch, 100, 1, 1))
      od.zero_grad()
      d_loss = d(fake).mean() - d(real).mean()
      if loss == "wgan-gp":
        eps = torch.rand(batch, 1, 1, 1)
        x = (eps * real + (1 - eps) * fake).requires_grad_(True)
        grad, = torch.autograd.grad(d(x).sum(), x, create_graph=True)
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
    (-d(g(torch.randn(batch, 100, 1, 1))).mean()).backward()
    for p in d.parameters():
      p.requires_grad_(True)
    og.step()

  iteration()  # the first allocates
  done, start = 0, time.perf_counter()
  while done < iters or time.perf_counter() - start < min_time:
    iteration()
    done += 1
  count = lambda m: sum(p.numel() for p in m.parameters())
  return done / (time.perf_counter() - start), count(g), count(d)


def matmul_flops_per_s(n, min_time=0.5, repeats=5):
  a, b = torch.randn(n, n), torch.randn(n, n) / n**0.5
  a @ b
  rates = []
  for _ in range(repeats):
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time:
      a @ b
      calls += 1
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
  parser.add_argument("--matmul", type=int, default=0, help="only PyTorch's n x n matmul rate")
  args = parser.parse_args()
  prefix = f"torch {torch.__version__} threads {torch.get_num_threads()}"
  if args.matmul:
    print(f"{prefix} matmul_flops_per_s {matmul_flops_per_s(args.matmul):.6g}")
  else:
    rate, g_params, d_params = gen_iters_per_s(args.size, args.loss, args.iters, args.min_time,
                                               args.batch, args.features)
    print(f"{prefix} dcgan{args.size} {args.loss} gen_iters_per_s {rate:.6g} "
          f"generator_params {g_params} critic_params {d_params}")


if __name__ == "__main__":
  main()
