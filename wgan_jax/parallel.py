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

Many processes (a TPU VM slice, a multi-node GPU job, or several CPU processes on one machine):
JAX's multi-controller runtime runs the same program in every process. ``initialize`` starts it
before anything touches a device; ``jax.devices()`` then lists the devices of every process, the
mesh spans them, and the batch is split over all of them. ``replicate`` builds a copy on every
device from each process's own copy; ``any_process`` and ``from_primary`` are the small
collectives by which the processes agree (to stop, to go on).
docs/performance.md#many-devices-many-processes has the launch commands.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from wgan_jax import steps as steps_lib

AXIS = "data"


# How long the runtime waits for a process's heartbeat before it declares the process lost and
# ends the others. Long enough for a stalled file system or a slow compilation, short enough that
# a job with a dead host does not hold the others for long.
HEARTBEAT_TIMEOUT_S = 60


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None,
               heartbeat_timeout_s: int = HEARTBEAT_TIMEOUT_S) -> None:
  """Starts JAX's multi-process runtime (``jax.distributed.initialize``) unless it runs already.

  On TPU VMs and under SLURM or Open MPI the coordinator, the number of processes and this
  process's id are detected; elsewhere pass them. Must run before anything touches a device.
  A process that stops sending heartbeats for ``heartbeat_timeout_s`` is declared lost, and the
  runtime ends the others.
  """
  if jax.distributed.is_initialized():
    return
  jax.distributed.initialize(coordinator_address, num_processes, process_id,
                             heartbeat_timeout_seconds=heartbeat_timeout_s)


def is_primary() -> bool:
  """Whether this process writes what a run writes once (logs, samples, config): process 0."""
  return jax.process_index() == 0


def any_process(flag: bool) -> bool:
  """Whether ``flag`` holds in any process; every process must call it at the same point."""
  if jax.process_count() == 1:
    return bool(flag)
  return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))


def from_primary(flag: bool) -> bool:
  """Process 0's ``flag``, in every process; every process must call it at the same point."""
  if jax.process_count() == 1:
    return bool(flag)
  return bool(multihost_utils.broadcast_one_to_all(np.int32(flag)))


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


def stream_sharding(mesh: Mesh) -> NamedSharding:
  """The sharding of a dispatch's streamed batches, (iterations, B, H, W, C): split over B."""
  return NamedSharding(mesh, PartitionSpec(None, AXIS))


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
