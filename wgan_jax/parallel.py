"""Data-parallel training over every device, on one host or many.

The batch is split over a one-axis ``Mesh`` named 'data'; parameters, optimiser states and
BatchNorm statistics are replicated. ``data_parallel_spec`` marks every real and noise batch of a
training step with that sharding (``GANSpec.batch_sharding``), and XLA's SPMD partitioner splits
the same jitted step over the devices: each computes its share of the batch, and the means over
the batch (the losses, hence the gradients, and BatchNorm's statistics) become all-reduces over
the devices, i.e. BatchNorm statistics are those of the global batch, averaged across devices.

The random numbers do not depend on the split (threefry is partitionable: each device generates
its own share of the values that one device would generate), so ``n`` devices at a global batch
of B train the same network as one device at B, up to the order of floating-point sums
(tests/test_parallel.py checks this for WGAN and WGAN-GP on 8 CPU devices).

    mesh = parallel.data_mesh()                      # all devices, of every host
    steps = steps_lib.make_steps(parallel.data_parallel_spec(spec, mesh))
    state = parallel.init_replicated(steps, mesh, jax.random.key(0))
    state, metrics = steps.train_step(state, key, parallel.replicate(data, mesh))

Many hosts (TPU VM slices): call ``initialize_distributed()`` first in every process, and run
the same program on every host; ``jax.devices()`` then lists the devices of all hosts, the mesh
spans them, and the batch is split over all of them. docs/performance.md has a launch command.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from wgan_jax import steps as steps_lib

AXIS = "data"


def initialize_distributed(**kwargs) -> None:
  """``jax.distributed.initialize`` for a multi-host run (a no-op for a single process).

  On TPU VMs and under SLURM or Open MPI the coordinator, the number of processes and this
  process's id are detected; elsewhere pass them (coordinator_address, num_processes,
  process_id). Must run before anything touches a device.
  """
  jax.distributed.initialize(**kwargs)


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A one-axis mesh named 'data' over ``devices`` (default: every device of every host)."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), (AXIS,))


def check_batch(batch_size: int, mesh: Mesh) -> None:
  """ValueError unless the batch splits evenly over the mesh's devices."""
  count = mesh.devices.size
  if batch_size % count:
    raise ValueError(f"batch_size {batch_size} is not divisible by the {count} devices of the "
                     f"data-parallel mesh; use a multiple of {count}")


def data_parallel_spec(spec: steps_lib.GANSpec, mesh: Mesh) -> steps_lib.GANSpec:
  """``spec`` with its batches split over the mesh's 'data' axis."""
  check_batch(spec.batch_size, mesh)
  return dataclasses.replace(spec, batch_sharding=NamedSharding(mesh, PartitionSpec(AXIS)))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def replicate(tree: Any, mesh: Mesh) -> Any:
  """A full copy of every array of ``tree`` on every device of the mesh.

  Built from each process's own copy (``make_array_from_callback``), so that it also works when
  the mesh spans hosts: every process must hold the same values (e.g. the same dataset).
  """
  sharding = replicated(mesh)

  def put(x):
    if x is None:
      return None
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

  return jax.tree.map(put, tree)


def init_replicated(steps: steps_lib.Steps, mesh: Mesh, key: jax.Array) -> steps_lib.GANState:
  """The initial state, computed by every process and replicated over the mesh."""
  return jax.jit(steps.init, out_shardings=replicated(mesh))(key)
