"""Where users meet the Inception metrics: experiments/evaluate.py on a short MNIST run, and FID
and KID logged during training. A random-weight file in our format stands in for pytorch-fid's
weights (tests/test_metrics_inception.py shows the network equals theirs), so the values are
checked against the metric functions, not against the literature."""

import json
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from wgan_jax import checks
from wgan_jax import checkpoints
from wgan_jax import evaluate
from wgan_jax import train
from wgan_jax import writers
from wgan_jax.configs import cifar10
from wgan_jax.configs import lsun64
from wgan_jax.configs import mnist
from wgan_jax.metrics import evaluation
from wgan_jax.metrics import fid as fid_lib
from wgan_jax.metrics import inception

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = inception.MIN_SIZE  # the smallest input: these tests check the plumbing, not the values


def write_random_weights(path, seed: int = 0) -> None:
  """An .npz of pytorch-fid's state-dict names with He-scaled random kernels and BatchNorm
  statistics: the inverse of ``inception.variables_from_state_dict``."""
  template = jax.eval_shape(inception.FIDInceptionV3().init, jax.random.key(0),
                            np.zeros((1, SIZE, SIZE, 3), np.float32))
  rng = np.random.default_rng(seed)
  arrays = {}
  for path_keys, leaf in jax.tree_util.tree_flatten_with_path(template)[0]:
    collection, *names = [p.key for p in path_keys]
    key = ".".join(names[:-1])
    leaf_name = names[-1]
    if leaf_name == "kernel":
      fan_in = int(np.prod(leaf.shape[:-1]))
      value = rng.standard_normal(leaf.shape) * np.sqrt(2.0 / fan_in)
      value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
      arrays[f"{key}.weight"] = value
    elif collection == "batch_stats":
      arrays[f"{key}.running_{leaf_name}"] = (0.5 + rng.uniform(size=leaf.shape) if
                                              leaf_name == "var" else
                                              0.1 * rng.standard_normal(leaf.shape))
    elif leaf_name == "scale":
      arrays[f"{key}.weight"] = 0.5 + rng.uniform(size=leaf.shape)
    else:
      arrays[f"{key}.bias"] = 0.1 * rng.standard_normal(leaf.shape)
  np.savez(path, **{k: v.astype(np.float32) for k, v in arrays.items()})


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
  path = tmp_path_factory.mktemp("weights") / "inception_random.npz"
  write_random_weights(path)
  return str(path)


NUM = 8  # samples everywhere in this file: one input shape, one compilation of the Inception


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, weights):
  """A 4-step MNIST run that logs FID and KID every 2 steps."""
  workdir = str(tmp_path_factory.mktemp("mnist") / "run")
  config = mnist.get_config("quick")
  config.schedule.num_steps, config.run.checkpoint_every = 4, 2
  config.image_metrics.update(dict(inception_weights=weights, eval_every=2, num_samples=NUM,
                                   resize=SIZE))
  last = train.train_and_evaluate(config, workdir)
  return workdir, last


def _evaluate(*args, env_weights=None):
  env = {k: v for k, v in os.environ.items() if k != inception.WEIGHTS_ENV}
  if env_weights:
    env[inception.WEIGHTS_ENV] = env_weights
  return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "evaluate.py"),
                         *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


def test_evaluate_writes_fid_kid_is_and_precision_recall(mnist_run, weights):
  workdir, _ = mnist_run
  result = _evaluate(f"--workdir={workdir}", f"--num={NUM}", f"--resize={SIZE}",
                     env_weights=weights)
  assert result.returncode == 0, result.stderr
  with open(os.path.join(workdir, evaluate.RESULT_FILE)) as f:
    out = json.load(f)
  for key in ("fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision", "recall",
              "density", "coverage"):
    assert np.isfinite(out[key]), key
  assert out["step"] == 4 and out["num_generated"] == out["num_real"] == NUM
  assert out["weights"] == weights and f"{SIZE}x{SIZE}" in out["resize"]
  # The same numbers from the functions, on the samples and real images evaluate.py drew.
  config = checkpoints.load_config(workdir)
  samples, _ = checkpoints.sample_from_checkpoint(workdir, NUM, 0)
  net = inception.load_weights(weights, size=SIZE)
  want = fid_lib.inception_metrics(net, samples, evaluation.real_images(config, NUM, 0),
                                   isc_splits=NUM)
  assert out["fid"] == pytest.approx(want["fid"], rel=1e-6)
  assert out["is_mean"] == pytest.approx(want["is_mean"], rel=1e-6)
  assert out["precision"] == want["precision"]


@pytest.mark.parametrize("named", [False, True])
def test_evaluate_without_weights_refuses_in_one_line(mnist_run, tmp_path, named):
  workdir, _ = mnist_run
  if named:  # a file named that does not exist
    args = [f"--workdir={workdir}", "--weights=/no/such/weights.npz"]
  else:  # none named: a run whose config names none, no flag, no environment variable
    with open(os.path.join(workdir, "config.json")) as f:
      config = json.load(f)
    config["image_metrics"].update(inception_weights="", eval_every=0)
    (tmp_path / "config.json").write_text(json.dumps(config))
    args = [f"--workdir={tmp_path}"]
  result = _evaluate(*args, f"--num={NUM}")
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
  assert inception.WEIGHTS_URL in lines[0]
  assert ("/no/such/weights.npz" if named else "no Inception weights named") in lines[0]


def test_training_logs_fid_and_kid_every_eval_every_steps(mnist_run):
  workdir, last = mnist_run
  rows = writers.read_metrics(workdir)
  fid_rows = [r for r in rows if "fid" in r]
  assert [r["step"] for r in fid_rows] == [2, 4]
  assert all(np.isfinite(r["fid"]) and np.isfinite(r["kid"]) and r["fid_num_samples"] == NUM
             for r in fid_rows)
  assert "estimate" in last and [r["step"] for r in rows if "fid" not in r] == [1, 2, 3, 4]


def test_a_named_weights_file_that_is_missing_is_refused_before_writing(tmp_path,
                                                                        monkeypatch):
  monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
  config = mnist.get_config("quick")
  config.image_metrics.update(eval_every=config.run.checkpoint_every,
                              inception_weights=str(tmp_path / "absent.npz"))
  workdir = tmp_path / "run"
  with pytest.raises(checks.ConfigError, match="image_metrics.eval_every") as error:
    train.train_and_evaluate(config, str(workdir))
  assert inception.WEIGHTS_URL in str(error.value) and not workdir.exists()


def test_with_no_weights_named_the_metrics_are_off(monkeypatch):
  monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
  config = mnist.get_config("quick")
  config.image_metrics.eval_every = config.run.checkpoint_every
  assert checks.check_config(config) == []
  assert evaluation.TrainingMetrics.wanted(config)
  assert not evaluation.TrainingMetrics.enabled(config)
  monkeypatch.setenv(inception.WEIGHTS_ENV, "/no/such/weights.npz")
  with pytest.raises(checks.ConfigError, match="/no/such/weights.npz"):
    checks.check_config(config)


@pytest.mark.parametrize("field, value, message", [
    ("eval_every", 3, "must be a multiple of --config.run.checkpoint_every"),
    ("resize", 64, "--config.image_metrics.resize must be at least 75"),
    ("num_samples", 0, "--config.image_metrics.num_samples must be at least 1"),
    ("eval_every", -1, "--config.image_metrics.eval_every must be at least 0"),
])
def test_bad_image_metrics_fields_are_refused(field, value, message):
  config = mnist.get_config("quick")
  config.image_metrics[field] = value
  with pytest.raises(checks.ConfigError, match=re.escape(message)):
    checks.check_config(config)


def test_cifar10_and_lsun_configs_ask_for_fid_at_checkpoints():
  for config in (cifar10.get_config(), lsun64.get_config("wgan-dcgan")):
    assert config.image_metrics.eval_every > 0
    assert config.image_metrics.eval_every % config.run.checkpoint_every == 0
