"""One run over several processes, on this machine, through JAX's own multi-process runtime.

Every launch is experiments/train_images.py as a user starts it: with --config.run.distributed,
process i of 2 with 2 CPU devices; the reference is 1 process with 4 CPU devices. The runs are
tiny DCGANs on the offline MNIST digits, so that the time goes to what is tested.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from wgan_jax import checkpoints as checkpoints_lib
from wgan_jax import experiment
from wgan_jax import lock
from wgan_jax.configs import mnist
from wgan_jax.data import order

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCHER = os.path.join(ROOT, "experiments", "train_images.py")
STREAM_READER = os.path.join(ROOT, "tests", "stream_reader.py")
STEPS, EVERY = 12, 4
OVERRIDES = {"data.image_size": 16, "generator.features": 4, "critic.features": 4,
             "schedule.batch_size": 8, "schedule.num_steps": STEPS,
             "run.checkpoint_every": EVERY, "run.keep_checkpoints": STEPS // EVERY,
             "run.data_parallel": True}
HEARTBEAT_S = 5
TIMINGS = ("wall_time_s", "it_per_s")
# What process 0 writes in a workdir, besides the checkpoints (every process writes its shards).
PRIMARY_FILES = {"config.json", "metrics.jsonl", "samples", "tensorboard", "learning_curve.png"}


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def devices_env(count: int) -> dict:
  """This environment with ``count`` CPU devices (a device count in XLA_FLAGS would win)."""
  flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
           if not f.startswith("--xla_force_host_platform_device_count")]
  return {**os.environ, "XLA_FLAGS": " ".join(flags), "JAX_NUM_CPU_DEVICES": str(count)}


def config_of(overrides: dict, variant: str = "quick"):
  config = mnist.get_config(variant)
  for path, value in overrides.items():
    section, field = path.split(".")
    assert field in config[section], path
    config[section][field] = value
  return config


class Job:
  """``count`` processes of one run, each with 4 / count CPU devices; process i's output in
  ``<workdir>.<i>.log``."""

  def __init__(self, count: int, workdir, overrides: dict, cache: str, variant: str = "quick"):
    self.workdir, self.logs = str(workdir), [f"{workdir}.{i}.log" for i in range(count)]
    args = [LAUNCHER, f"--config={ROOT}/wgan_jax/configs/mnist.py:{variant}",
            f"--workdir={workdir}", *[f"--config.{k}={v}" for k, v in overrides.items()]]
    if count > 1:
      args += ["--config.run.distributed=True", f"--coordinator_address=localhost:{free_port()}",
               f"--num_processes={count}", f"--heartbeat_timeout_s={HEARTBEAT_S}"]
    env = devices_env(4 // count)
    self.procs = []
    # No compilation cache for several processes: on CPU, a relaunch whose programs come from
    # the cache runs mismatched collectives (gloo aborts), with one cache for all processes or
    # one each.
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    if count == 1:
      env["JAX_COMPILATION_CACHE_DIR"] = cache
    for i, log in enumerate(self.logs):
      with open(log, "w") as f:
        process_id = [f"--process_id={i}"] if count > 1 else []
        self.procs.append(subprocess.Popen([sys.executable, *args, *process_id], stdout=f,
                                           stderr=subprocess.STDOUT, cwd=ROOT, env=env))

  def log(self, i: int = 0) -> str:
    with open(self.logs[i]) as f:
      return f.read()

  def when(self, ready, timeout_s: float = 240.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
      assert all(p.poll() is None for p in self.procs), f"a process ended early: {self.log()}"
      assert time.monotonic() < deadline, self.log()
      time.sleep(0.01)

  def wait(self, timeout_s: float = 300.0) -> list[int]:
    return [p.wait(timeout=timeout_s) for p in self.procs]


def rows(workdir) -> list[dict]:
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMINGS} for line in f]


def saved_state(workdir, step: int, overrides: dict, variant: str):
  """Checkpoint ``step`` of ``workdir``, restored by this (one) process."""
  config = config_of({**overrides, "run.data_parallel": False}, variant)
  template = checkpoints_lib.state_template(experiment.build(config, with_data=False), 0)
  checkpoints = checkpoints_lib.Checkpoints(os.path.join(workdir, "checkpoints"), 1, create=False)
  try:
    states = checkpoints.restore_all(template)
  finally:
    checkpoints.close()
  return jax.device_get(next(s for s in states if int(s.step) == step))


def assert_runs_agree(workdir, reference, overrides: dict, variant: str = "quick") -> None:
  """The same metrics at every step and the same final state, to float32 rounding."""
  got, want = rows(workdir), rows(reference)
  assert [r["step"] for r in got] == list(range(1, STEPS + 1))
  for a, b in zip(got, want):
    assert a.keys() == b.keys()
    for name in a:
      np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-7, err_msg=name)
  for a, b in zip(jax.tree.leaves(saved_state(workdir, STEPS, overrides, variant)),
                  jax.tree.leaves(saved_state(reference, STEPS, overrides, variant))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def only_runtime_lines(text: str) -> list[str]:
  """The lines of a process's output, less gloo's connection notices (several processes'
  notices may share a line)."""
  return [line for line in text.splitlines() if line and "peer ranks" not in line]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
  """The compilation cache of this module's one-process launches."""
  return str(tmp_path_factory.mktemp("jax_cache"))


def test_two_processes_train_as_one_stop_together_and_resume_across_counts(tmp_path, cache):
  reference = tmp_path / "one"
  assert Job(1, reference, OVERRIDES, cache).wait() == [0]
  # 1 -> 2: two processes resume the one process's checkpoint at step EVERY.
  run = tmp_path / "two"
  shutil.copytree(reference, run)
  for step in range(2 * EVERY, STEPS + 1, EVERY):
    shutil.rmtree(run / "checkpoints" / str(step))
  job = Job(2, run, OVERRIDES, cache)
  job.when(lambda: "compiled" in job.log(0))
  job.procs[1].send_signal(signal.SIGTERM)  # a stop request to one process stops both
  assert job.wait() == [0, 0], job.log(0)
  stopped = int(job.log(0).split(" at step ")[1].split()[0])
  assert EVERY < stopped < STEPS, job.log(0)
  assert "a stop request to another process at step" in job.log(0)
  assert str(stopped) in os.listdir(run / "checkpoints")
  assert only_runtime_lines(job.log(1)) == []  # process 1 writes nothing, says nothing
  # 2 -> 2: both resume it; 2 -> 1: this one process restores their final checkpoint.
  job = Job(2, run, OVERRIDES, cache)
  assert job.wait() == [0, 0], job.log(0)
  assert f"resuming {run} from step {stopped}" in job.log(0)
  assert_runs_agree(run, reference, OVERRIDES)  # restores their last checkpoint in one process
  checkpoint_files = {p for step in os.listdir(run / "checkpoints")
                      for p in os.listdir(run / "checkpoints" / step / "default")}
  assert {"ocdbt.process_0", "ocdbt.process_1"} <= checkpoint_files
  assert set(os.listdir(run)) == PRIMARY_FILES | {"checkpoints"}


def test_a_lost_process_ends_the_other_in_one_line_and_a_relaunch_resumes(tmp_path, cache):
  reference = tmp_path / "one"
  assert Job(1, reference, OVERRIDES, cache, "quick_gp").wait() == [0]
  run = tmp_path / "two"
  job = Job(2, run, OVERRIDES, cache, "quick_gp")
  job.when(lambda: os.path.isdir(run / "checkpoints" / str(EVERY)))
  job.procs[1].kill()
  start = time.monotonic()
  status = job.procs[0].wait(timeout=4 * HEARTBEAT_S + 30)
  assert time.monotonic() - start < 2 * HEARTBEAT_S + 5
  assert status == 1
  lines = only_runtime_lines(job.log(0))
  assert lines[-1].startswith("error: process 1 of 2 was lost"), job.log(0)
  assert not [line for line in lines if "Traceback" in line or ".cc:" in line], job.log(0)
  job = Job(2, run, OVERRIDES, cache, "quick_gp")
  assert job.wait() == [0, 0], job.log(0)
  assert f"resuming {run} from step" in job.log(0)
  assert_runs_agree(run, reference, OVERRIDES, "quick_gp")


def test_a_second_job_on_a_held_workdir_is_refused_by_every_process(tmp_path, cache):
  run = tmp_path / "held"
  run.mkdir()
  with lock.WorkdirLock(str(run)):
    job = Job(2, run, OVERRIDES, cache)
    assert job.wait() == [2, 2]
  assert [line for line in only_runtime_lines(job.log(0)) if line.startswith("error:")] == (
      only_runtime_lines(job.log(0)))
  assert "is in use by" in job.log(0)
  assert "process 0 could not lock workdir" in job.log(1)
  assert os.listdir(run) == []


def test_each_process_decodes_only_its_rows_of_a_streamed_folder(tmp_path):
  """tests/stream_reader.py reads 3 dispatches of a folder of 24 images, image i all pixels i,
  in 2 processes, and reports which images it decoded."""
  folder = tmp_path / "images"
  folder.mkdir()
  from PIL import Image
  for i in range(24):
    Image.fromarray(np.full((8, 8), i * 10, np.uint8)).save(folder / f"{i:02d}.png")
  port, batch, iterations = free_port(), 8, 6
  env = devices_env(2)
  procs = [subprocess.Popen([sys.executable, STREAM_READER, str(folder), str(port), str(i),
                             str(batch), str(iterations), str(tmp_path / f"{i}.json")],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
           for i in range(2)]
  outputs = [p.communicate(timeout=180)[0].decode() for p in procs]
  assert [p.returncode for p in procs] == [0, 0], outputs
  reports = [json.loads((tmp_path / f"{i}.json").read_text()) for i in range(2)]
  want = order.batch_indices(24, 0, 0, iterations, batch)  # (iterations, batch): the one order
  for i, report in enumerate(reports):
    share = want[:, i * batch // 2:(i + 1) * batch // 2]
    assert report["decoded"] == share.size  # its rows, nothing more
    assert np.array_equal(np.asarray(report["rows"]), share)
