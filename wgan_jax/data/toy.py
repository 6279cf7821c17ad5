"""Toy distributions, sampled inside jit: two-dimensional ones and one 1-D Gaussian.

ring8 and grid25 follow the WGAN-GP toy script and the VEEGAN/PacGAN protocol; swissroll follows
sklearn's ``make_swiss_roll(noise=0.25)``, dimensions [0, 2], divided by 7.5; parallel_lines is the
paper's Example 1, P0 = (0, Z) with Z ~ U[0, 1]; gaussian_1d, N(0, GAUSSIAN_1D_STD²) of shape
(n, 1), is the real distribution of the paper's Figure 3.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class ToyDataset:
  """A distribution: ``sample(key, n) -> x_NxD`` (D = 2, or 1 for gaussian_1d); mixtures also
  have centres and a std."""

  name: str
  sample: Callable[[jax.Array, int], jax.Array]
  centers: np.ndarray | None = None  # (K, D) for a Gaussian mixture, else None
  std: float | None = None


def ring_centers(n_modes: int = 8, radius: float = 2.0) -> np.ndarray:
  # endpoint=False: linspace(0, 2π, 8) with its endpoint repeats a mode, a common bug.
  angles = 2 * np.pi * np.arange(n_modes) / n_modes
  return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1).astype(np.float32)


def grid_centers(values=(-4.0, -2.0, 0.0, 2.0, 4.0)) -> np.ndarray:
  xs, ys = np.meshgrid(values, values, indexing="ij")
  return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def gaussian_mixture(name: str, centers: np.ndarray, std: float) -> ToyDataset:
  """An equal-weight mixture of isotropic Gaussians."""
  centers_Kx2 = jnp.asarray(centers)

  def sample(key: jax.Array, n: int) -> jax.Array:
    key_mode, key_noise = jax.random.split(key)
    modes_N = jax.random.randint(key_mode, (n,), 0, centers_Kx2.shape[0])
    return centers_Kx2[modes_N] + std * jax.random.normal(key_noise, (n, 2))

  return ToyDataset(name, sample, np.asarray(centers), std)


def swissroll_sample(key: jax.Array, n: int) -> jax.Array:
  key_t, key_noise = jax.random.split(key)
  t_N = 1.5 * jnp.pi * (1 + 2 * jax.random.uniform(key_t, (n,)))
  x_Nx2 = jnp.stack([t_N * jnp.cos(t_N), t_N * jnp.sin(t_N)], axis=1)
  return (x_Nx2 + 0.25 * jax.random.normal(key_noise, (n, 2))) / 7.5


def parallel_lines_sample(key: jax.Array, n: int) -> jax.Array:
  """P0 of the paper's Example 1: (0, Z), Z ~ U[0, 1]."""
  z_N = jax.random.uniform(key, (n,))
  return jnp.stack([jnp.zeros_like(z_N), z_N], axis=1)


# The std of gaussian_1d, and of the shifted copy of it that the Figure 3 generator draws
# (models.ShiftedGaussian).
GAUSSIAN_1D_STD = 0.5


def gaussian_1d_sample(key: jax.Array, n: int) -> jax.Array:
  """The real distribution of the paper's Figure 3: N(0, GAUSSIAN_1D_STD²), shape (n, 1)."""
  return GAUSSIAN_1D_STD * jax.random.normal(key, (n, 1))


DATASETS: dict[str, Callable[[], ToyDataset]] = {
    "ring8": lambda: gaussian_mixture("ring8", ring_centers(), 0.02),
    "grid25": lambda: gaussian_mixture("grid25", grid_centers(), 0.05),
    "swissroll": lambda: ToyDataset("swissroll", swissroll_sample),
    "parallel_lines": lambda: ToyDataset("parallel_lines", parallel_lines_sample),
    "gaussian_1d": lambda: ToyDataset("gaussian_1d", gaussian_1d_sample,
                                      np.zeros((1, 1), np.float32), GAUSSIAN_1D_STD),
}
# The toy datasets of one dimension; every other one is 2-D.
ONE_D_DATASETS = ("gaussian_1d",)


# The WGAN-GP toy script trains on the mixtures divided by these (its "dataset /= 1.414"); see
# config.data.scale_data.
DATA_SCALE = {"ring8": math.sqrt(2), "grid25": 2 * math.sqrt(2)}


def get_dataset(name: str) -> ToyDataset:
  if name not in DATASETS:
    raise ValueError(f"unknown toy dataset {name!r}; choose from {', '.join(DATASETS)}")
  return DATASETS[name]()


__all__ = ["ToyDataset", "get_dataset", "ring_centers", "grid_centers", "gaussian_mixture",
           "swissroll_sample", "parallel_lines_sample", "gaussian_1d_sample", "GAUSSIAN_1D_STD",
           "DATASETS", "ONE_D_DATASETS", "DATA_SCALE"]
