"""Converts pytorch-fid's weights file (.pth) to the .npz that ``inception.load_weights`` reads.

    .venv/torch/bin/python -m wgan_jax.metrics.convert_inception pt_inception-2015-12-05-6726825d.pth inception_fid.npz

Runs in the PyTorch environment (.venv/torch: torch and numpy, nothing of wgan_jax's); the .npz
holds the state dict's arrays under their names, so the JAX side needs no torch.
"""

from __future__ import annotations

import sys

import numpy as np
import torch


def convert(pth_path: str, npz_path: str) -> int:
  """Writes the state dict of ``pth_path`` to ``npz_path``; returns the number of arrays."""
  state_dict = torch.load(pth_path, map_location="cpu", weights_only=True)
  arrays = {k: v.detach().cpu().numpy() for k, v in state_dict.items()
            if not k.endswith("num_batches_tracked")}
  np.savez(npz_path, **arrays)
  return len(arrays)


def main(argv: list[str]) -> int:
  if len(argv) != 2:
    print("usage: python -m wgan_jax.metrics.convert_inception <weights.pth> <out.npz>",
          file=sys.stderr)
    return 2
  count = convert(*argv)
  print(f"wrote {count} arrays to {argv[1]}")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
