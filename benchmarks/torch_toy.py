"""PyTorch eager reference of the toy rows of `make bench`: the same loop as wgan_jax.steps.

    .venv/torch/bin/python benchmarks/torch_toy.py --loss wgan --hidden 512 --min_time 2
    python3 benchmarks/torch_toy.py --device cuda --compile default --dtype bfloat16

The networks of wgan_jax/configs/bench.py's toy and toy64: MLP generator (2-D noise) and critic,
3 hidden ReLU layers of --hidden units, batch 256, n_critic 5, on a ring of 8 Gaussians; RMSProp
5e-5 with clipping after each critic update (WGAN) or Adam 1e-4, β = (0, 0.9) and the gradient
penalty, λ = 10 (WGAN-GP). The same loop as ../shared/bench/ref_torch_toy.py, kept here so that
it travels with the repository (to a GPU machine, say); --device, --compile, --dtype and --tf32
as in torch_dcgan.py. Prints `gen_iters_per_s X` with the networks' parameter counts.
"""
import argparse
import math

import torch
from torch import nn

import torch_dcgan  # the shared device, dtype, compile and timing options (same folder)


def mlp(hidden, out, depth=3):
  layers, width = [], 2
  for _ in range(depth):
    layers += [nn.Linear(width, hidden), nn.ReLU()]
    width = hidden
  return nn.Sequential(*layers, nn.Linear(width, out))


def gen_iters_per_s(loss, hidden, iters, min_time, batch, n_critic, device, dtype, compile_mode):
  torch.manual_seed(0)
  g, d = mlp(hidden, 2).to(device), mlp(hidden, 1).to(device)
  angles = torch.arange(8, device=device) * (2 * math.pi / 8)
  centers = 2 * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
  real_batch = lambda: (centers[torch.randint(0, 8, (batch,), device=device)]
                        + 0.02 * torch.randn(batch, 2, device=device))
  noise = lambda: torch.randn(batch, 2, device=device)
  iteration = torch_dcgan.wgan_iteration(g, d, loss, n_critic, real_batch, noise, device, dtype,
                                         compile_mode)
  rate, first_s = torch_dcgan.time_iterations(iteration, iters, min_time, device)
  count = lambda m: sum(p.numel() for p in m.parameters())
  return rate, count(g), count(d), first_s


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--loss", default="wgan", choices=["wgan", "wgan-gp"])
  parser.add_argument("--hidden", type=int, default=512)
  parser.add_argument("--iters", type=int, default=20, help="at least this many iterations")
  parser.add_argument("--min_time", type=float, default=2.0, help="and at least these seconds")
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--n_critic", type=int, default=5)
  torch_dcgan.add_device_flags(parser)
  args = parser.parse_args()
  device = torch_dcgan.setup(args)
  rate, g_params, d_params, first_s = gen_iters_per_s(
      args.loss, args.hidden, args.iters, args.min_time, args.batch, args.n_critic, device,
      args.dtype, args.compile)
  print(f"{torch_dcgan.describe(device, args)} toy {args.loss} gen_iters_per_s {rate:.6g} "
        f"generator_params {g_params} critic_params {d_params} first_iter_s {first_s:.3g}")


if __name__ == "__main__":
  main()
