"""train_and_evaluate on images: outputs, resume, mock tfds data, sampling, refusals."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from wgan_jax import checkpoints
from wgan_jax import checks
from wgan_jax import train
from wgan_jax import writers
from wgan_jax.configs import cifar10
from wgan_jax.configs import lsun64
from wgan_jax.configs import mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def override(config, overrides: dict):
  """``config`` with ``overrides`` ({"schedule.num_steps": 10, ...}) set; each field must exist,
  so that a misspelt one fails instead of adding a field that nothing reads."""
  for path, value in overrides.items():
    section, field = path.split(".")
    assert field in config[section], path
    config[section][field] = value
  return config


def quick_config(overrides: dict | None = None):
  return override(mnist.get_config("quick"), overrides or {})


def test_outputs_and_resume(tmp_path):
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(
      quick_config({"schedule.num_steps": 10, "run.checkpoint_every": 5}), workdir)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["10", "5"]
  assert sorted(os.listdir(os.path.join(workdir, "samples"))) == [
      "step_0.png", "step_10.png", "step_5.png"]
  for name in ("learning_curve.png", "config.json", "metrics.jsonl"):
    assert os.path.getsize(os.path.join(workdir, name)) > 0
  assert any(f.startswith("events") for f in os.listdir(os.path.join(workdir, "tensorboard")))
  rows = writers.read_metrics(workdir)
  assert [r["step"] for r in rows] == list(range(1, 11))
  for key in ("estimate", "critic_loss", "generator_loss", "critic_grad_norm",
              "generator_param_norm", "wall_time_s", "it_per_s"):
    assert key in rows[0]
  # The same command with more steps resumes at step 10 instead of starting again.
  train.train_and_evaluate(
      quick_config({"schedule.num_steps": 15, "run.checkpoint_every": 5}), workdir)
  rows = writers.read_metrics(workdir)
  assert [r["step"] for r in rows] == list(range(1, 16))
  assert "15" in os.listdir(os.path.join(workdir, "checkpoints"))


@pytest.mark.parametrize("overrides", [
    {"objective.method": "wgan-gp", "critic.norm": "layer", "critic_optimizer.name": "adam",
     "critic_optimizer.learning_rate": 1e-4, "critic_optimizer.b1": 0.0,
     "critic_optimizer.b2": 0.9, "critic_optimizer.clip": None},
    {"objective.method": "gan", "generator.name": "mlp"},
    {"objective.method": "wgan", "generator.name": "dcgan_nobn_constant",
     "data.image_size": 32},
    {"objective.method": "ebgan", "critic.name": "dcgan_autoencoder"},
])
def test_methods_and_architectures_on_mock_tfds(tmp_path, overrides):
  config = quick_config({"schedule.num_steps": 2, "run.checkpoint_every": 2,
                         "data.dataset": "mnist", **overrides})
  with tfds.testing.mock_data(num_examples=64):
    last = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert last["step"] == 2 and np.isfinite(last["generator_loss"])


def run_script(script, *args):
  return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", script), *args],
                        capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.mark.parametrize("overrides, message", [
    ({"objective.method": "vae"}, "--config.objective.method: unknown method 'vae'"),
    ({"data.image_size": 30}, "--config.data.image_size: DCGAN cannot handle image_size=30"),
    ({"data.dataset": "folder:/no/such/folder"}, "folder /no/such/folder does not exist"),
    ({"objective.method": "wgan-gp"}, "the gradient penalty needs a critic without BatchNorm"),
    ({"generator.name": "resnet"}, "--config.generator.name: unknown generator 'resnet'"),
    ({"schedule.num_steps": 0}, "--config.schedule.num_steps must be at least 1"),
])
def test_bad_configs_are_refused_before_writing(tmp_path, overrides, message):
  workdir = tmp_path / "run"
  with pytest.raises(checks.ConfigError, match=re.escape(message)):
    train.train_and_evaluate(quick_config(overrides), str(workdir))
  assert not workdir.exists()


@pytest.mark.parametrize("override, message", [
    ("--config.objective.method=vae", "--config.objective.method: unknown method 'vae'"),
    ("--config.data.dataset=folder:/no/such/folder", "folder /no/such/folder does not exist"),
])
def test_bad_configs_fail_in_one_line(tmp_path, override, message):
  workdir = tmp_path / "run"
  result = run_script("train_images.py", f"--config={ROOT}/wgan_jax/configs/mnist.py:quick",
                      f"--workdir={workdir}", override)
  assert result.returncode == 2, result.stderr[-1000:]
  assert message in result.stderr.strip().splitlines()[-1]
  assert "Traceback" not in result.stderr
  assert not workdir.exists()


def test_sample_script(tmp_path):
  workdir = tmp_path / "run"
  train.train_and_evaluate(
      quick_config({"schedule.num_steps": 5, "run.checkpoint_every": 5}), str(workdir))
  out = tmp_path / "out"
  result = run_script("sample.py", f"--workdir={workdir}", "--num=10", "--format=npy",
                      f"--out={out}")
  assert result.returncode == 0, result.stderr[-1000:]
  samples = np.load(out / "samples_step5.npy")
  assert samples.shape == (10, 28, 28, 1) and np.all(np.abs(samples) <= 1)
  result = run_script("sample.py", f"--workdir={tmp_path / 'none'}")
  assert result.returncode == 2 and "holds no run" in result.stderr
  assert json.loads((workdir / "config.json").read_text())["objective"]["method"] == "wgan"


@pytest.mark.parametrize("module, variant, dataset", [
    (lsun64, "wgan-dcgan", "lsun/bedroom"), (cifar10, None, "cifar10"),
])
def test_full_scale_configs_run_a_few_steps_on_mock_data(tmp_path, module, variant, dataset):
  config = module.get_config(variant) if variant else module.get_config()
  assert config.data.dataset == dataset
  # The architecture as configured, narrower, for two steps on a CPU.
  override(config, {"schedule.num_steps": 2, "run.checkpoint_every": 2,
                    "schedule.steps_per_dispatch": 1, "schedule.unroll": False,
                    "generator.features": 4, "critic.features": 4, "generator.hidden": 16,
                    "critic.hidden": 16, "schedule.batch_size": 4})
  with tfds.testing.mock_data(num_examples=8):
    last = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert last["step"] == 2 and np.isfinite(last["critic_loss"])


def test_streamed_data_resumes_exactly(tmp_path):
  from PIL import Image
  folder = tmp_path / "images"
  folder.mkdir()
  rng = np.random.default_rng(0)
  for i in range(12):
    Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(folder / f"{i}.png")
  # Scanned, not unrolled: these networks are so small that compilation is what costs.
  config = quick_config({"data.dataset": f"folder:{folder}", "data.stream": True,
                         "schedule.num_steps": 2, "run.checkpoint_every": 1,
                         "schedule.unroll": False, "schedule.official_schedule": False})
  train.train_and_evaluate(config, str(tmp_path / "whole"))
  config.schedule.num_steps = 1
  train.train_and_evaluate(config, str(tmp_path / "resumed"))
  config.schedule.num_steps = 2
  train.train_and_evaluate(config, str(tmp_path / "resumed"))
  whole, step = checkpoints.sample_from_checkpoint(str(tmp_path / "whole"), 8)
  resumed, _ = checkpoints.sample_from_checkpoint(str(tmp_path / "resumed"), 8)
  assert step == 2 and np.array_equal(whole, resumed)
