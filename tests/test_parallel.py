"""Data parallelism: 8 CPU devices at a global batch of 64 train what one device trains at 64.

The 8 devices exist only if XLA_FLAGS is set before jax is imported, and the other tests of this
pytest process have imported it already: the training runs in a subprocess, which saves the
final states of both runs; the comparison happens here.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EIGHT_DEVICES = {**os.environ, "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")
                 + " --xla_force_host_platform_device_count=8",
                 "JAX_PLATFORMS": "cpu"}

# Both runs go through the one training loop (loop.train_seeds: vmap over seeds, scanned
# steps). WGAN uses a tiny DCGAN with BatchNorm in both networks on an in-memory image set (so
# BatchNorm statistics must be those of the global batch); WGAN-GP a toy MLP on ring8.
SCRIPT = textwrap.dedent("""
    import dataclasses, io, sys
    import jax, jax.numpy as jnp, numpy as np
    from wgan_jax import checks, loop, models, optim, parallel, steps as steps_lib, train
    from wgan_jax.configs import toy as toy_configs
    from wgan_jax.data import device, toy

    assert jax.device_count() == 8, jax.devices()
    out_dir = sys.argv[1]
    images = np.random.RandomState(0).randint(0, 256, (100, 8, 8, 1)).astype(np.uint8)

    def spec_for(method):
      gen_tx, critic_tx = map(optim.make_optimizer, optim.PAPER_OPTIMIZERS[method])
      common = dict(generator_tx=gen_tx, critic_tx=critic_tx,
                    objective=steps_lib.Objective(method), batch_size=64, n_critic=1)
      if method == "wgan":
        return steps_lib.GANSpec(
            generator=models.DCGANGenerator(8, 1, noise_dim=4, features=4),
            critic=models.DCGANCritic(8, 1, features=4, norm="batch"),
            sample_real=lambda j, n, data: device.DeviceSampler.draw(data, j, n),
            noise_dim=4, **common)
      return steps_lib.GANSpec(
          generator=models.MLP((16, 16), 2), critic=models.MLP((16, 16), 1),
          sample_real=toy.get_dataset("ring8").sample, noise_dim=2, **common)

    mesh = parallel.data_mesh()
    for method in ("wgan", "wgan-gp"):
      spec = spec_for(method)
      data = jnp.asarray(images) if method == "wgan" else None
      states = {}
      for name, run_spec, run_data in (
          ("one", spec, data),
          ("eight", parallel.data_parallel_spec(spec, mesh),
           None if data is None else parallel.replicate(data, mesh))):
        steps = steps_lib.make_steps(run_spec)
        states[name], _ = loop.train_seeds(steps, [0], 2, eval_every=2, chunk=2, data=run_data,
                                           stream=io.StringIO())
      # The 8-device step really is split: the batch carries an 8-way sharding.
      key = jax.random.key(0)
      lowered = steps.train_step.lower(steps.init(key), key, run_data).as_text()
      assert '<@mesh, [{"data"}' in lowered, "the batch is not sharded over the 8 devices"
      for name, state in states.items():
        leaves = jax.tree.leaves(jax.device_get(state))
        np.savez(f"{out_dir}/{method}_{name}.npz", *leaves)

    try:
      parallel.data_parallel_spec(dataclasses.replace(spec_for("wgan-gp"), batch_size=60), mesh)
    except ValueError as e:
      print("ERROR:", e)

    # The config field: an indivisible batch stops train_and_evaluate before it writes anything.
    config = toy_configs.get_config("tiny")
    config.run.data_parallel, config.schedule.batch_size = True, 12
    try:
      train.train_and_evaluate(config, f"{out_dir}/run")
    except checks.ConfigError as e:
      print("CONFIG ERROR:", e)
    """)


@pytest.fixture(scope="module")
def eight_device_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("parallel")
  result = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], cwd=ROOT, env=EIGHT_DEVICES,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  return out, result.stdout


def _load(path):
  with np.load(path) as f:
    return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


@pytest.mark.parametrize("method", ["wgan", "wgan-gp"])
def test_eight_devices_train_like_one(eight_device_run, method):
  out, _ = eight_device_run
  one, eight = _load(out / f"{method}_one.npz"), _load(out / f"{method}_eight.npz")
  assert len(one) == len(eight) > 0
  for a, b in zip(one, eight):
    assert a.shape == b.shape and a.dtype == b.dtype
    # Only the order of floating-point sums differs (the all-reduces over devices).
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


def test_batch_not_divisible_by_devices_is_one_line_error(eight_device_run):
  _, stdout = eight_device_run
  lines = [line for line in stdout.splitlines() if line.startswith("ERROR:")]
  assert lines == ["ERROR: batch_size 60 is not divisible by the 8 devices of the data-parallel "
                   "mesh; use a multiple of 8"]


def test_config_refuses_indivisible_batch_before_writing(eight_device_run):
  out, stdout = eight_device_run
  lines = [line for line in stdout.splitlines() if line.startswith("CONFIG ERROR:")]
  assert len(lines) == 1 and "12 is not divisible by the 8 devices" in lines[0]
  assert not (out / "run").exists()
