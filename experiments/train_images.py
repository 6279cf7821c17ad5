r"""Trains a GAN from a config file: a thin launcher of wgan_jax.train.train_and_evaluate.

    python experiments/train_images.py --config=wgan_jax/configs/mnist.py --workdir=runs/mnist

Running the same command on the same workdir resumes from its latest checkpoint, after a crash,
a SIGKILL or a SIGTERM or Ctrl-C (which checkpoint and exit 0). Exit status: 0 done or
preempted, 1 a NaN or Inf in training or a failed write (the last complete checkpoint is kept),
2 bad input (the config, the data, the workdir or what it holds) with nothing written.

One run over several processes (``--config.run.distributed=True``): start the same command in
every process. On TPU VMs and under SLURM the coordinator, the process count and each process's
id are detected; elsewhere name them:

    python experiments/train_images.py --config=wgan_jax/configs/mnist.py --workdir=/shared/run \
        --config.run.data_parallel=True --config.run.distributed=True \
        --coordinator_address=host0:12355 --num_processes=2 --process_id=0   # 1 on the other

scripts/launch_local.sh starts N such processes on this machine. When a process is lost, the
others end within --heartbeat_timeout_s with one line that names it, status 1; running all of
them again resumes from the last complete checkpoint.
"""

import os
import sys
import time

from absl import flags
from ml_collections import config_flags

from wgan_jax import cli
from wgan_jax import checks
from wgan_jax import lock
from wgan_jax import parallel
from wgan_jax import supervise
from wgan_jax import train
from wgan_jax.configs import base

_CONFIG = config_flags.DEFINE_config_file("config", None,
                                          "A config file of wgan_jax/configs/[:variant].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, logs and samples go.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0's coordinator, for "
    "--config.run.distributed where it is not detected (TPU VMs, SLURM).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "How many processes the run spans.",
                                      lower_bound=1)
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index, 0 to "
                                   "num_processes - 1.", lower_bound=0)
_HEARTBEAT = flags.DEFINE_integer(
    "heartbeat_timeout_s", parallel.HEARTBEAT_TIMEOUT_S, "A process silent this long is "
    "declared lost and the others end.", lower_bound=1)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv  # parse_or_exit refuses positional arguments
  cli.quiet_logging()
  config = cli.config_or_exit(_CONFIG)
  named = [_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value]
  if any(v is not None for v in named) and not config.run.get("distributed", False):
    cli.fail("--coordinator_address, --num_processes and --process_id are for "
             "--config.run.distributed=True")
  if config.run.get("distributed", False) is True:
    if any(v is None for v in named) and any(v is not None for v in named):
      cli.fail("name all of --coordinator_address, --num_processes and --process_id, or none "
               "(detected on TPU VMs and SLURM)")
    if _PROCESS_ID.value is not None and _PROCESS_ID.value >= _NUM_PROCESSES.value:
      cli.fail(f"--process_id={_PROCESS_ID.value} must be below "
               f"--num_processes={_NUM_PROCESSES.value}")
    if not supervise.is_watched():
      sys.exit(supervise.run_watched(_NUM_PROCESSES.value, _HEARTBEAT.value))
    parallel.initialize(*named, heartbeat_timeout_s=_HEARTBEAT.value)
  try:
    train.train_and_evaluate(config, _WORKDIR.value)
  except train.PeerLost as e:
    # The runtime ends this process once the lost one's heartbeat times out, and the watcher
    # reports that in one line; this line is for a runtime that does not.
    time.sleep(2 * _HEARTBEAT.value)
    print(f"error: {e}", file=sys.stderr)
    os._exit(1)  # not through jax.distributed.shutdown's barrier, which waits for the lost one
  except (checks.ConfigError, lock.LockRefused) as e:
    cli.fail(str(e))
  except train.RunStopped as e:  # a NaN, a full disk: the last complete checkpoint is kept
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  except train.Preempted:
    sys.exit(0)  # checkpointed; the message is on stderr


if __name__ == "__main__":
  cli.run(main, config=base)
