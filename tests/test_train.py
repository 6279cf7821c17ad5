"""train_and_evaluate on images: outputs, resume, mock tfds data, sampling, refusals."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments", "configs"))

import mnist  # noqa: E402  (experiments/configs/mnist.py)
from wgan_jax import train  # noqa: E402
from wgan_jax import writers  # noqa: E402


def quick_config(**overrides):
  config = mnist.get_config("quick")
  config.update(overrides)
  return config


def test_outputs_and_resume(tmp_path):
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(quick_config(num_steps=10, checkpoint_every=5), workdir)
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
  train.train_and_evaluate(quick_config(num_steps=15, checkpoint_every=5), workdir)
  rows = writers.read_metrics(workdir)
  assert [r["step"] for r in rows] == list(range(1, 16))
  assert "15" in os.listdir(os.path.join(workdir, "checkpoints"))


@pytest.mark.parametrize("overrides", [
    dict(method="wgan-gp", critic_norm="layer", critic_optimizer=dict(
        name="adam", learning_rate=1e-4, b1=0.0, b2=0.9, clip=None)),
    dict(method="gan", generator="mlp"),
    dict(method="wgan", generator="dcgan_nobn_constant", image_size=32),
    dict(method="ebgan", critic="dcgan_autoencoder"),
])
def test_methods_and_architectures_on_mock_tfds(tmp_path, overrides):
  config = quick_config(num_steps=2, checkpoint_every=2, dataset="mnist", **{
      k: v for k, v in overrides.items() if k != "critic_optimizer"})
  if "critic_optimizer" in overrides:
    config.critic_optimizer.update(overrides["critic_optimizer"])
  with tfds.testing.mock_data(num_examples=64):
    last = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert last["step"] == 2 and np.isfinite(last["generator_loss"])


def run_script(script, *args):
  return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", script), *args],
                        capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.mark.parametrize("overrides, message", [
    (dict(method="vae"), "unknown method 'vae'"),
    (dict(image_size=30), "image_size=30"),
    (dict(dataset="folder:/no/such/folder"), "folder /no/such/folder does not exist"),
    (dict(method="wgan-gp"), "the gradient penalty needs a critic without BatchNorm"),
    (dict(generator="resnet"), "unknown generator 'resnet'"),
    (dict(num_steps=0), "--config.num_steps must be at least 1"),
])
def test_bad_configs_are_refused_before_writing(tmp_path, overrides, message):
  workdir = tmp_path / "run"
  with pytest.raises(train.ConfigError, match=re.escape(message)):
    train.train_and_evaluate(quick_config(**overrides), str(workdir))
  assert not workdir.exists()


@pytest.mark.parametrize("override, message", [
    ("--config.method=vae", "unknown method 'vae'"),
    ("--config.dataset=folder:/no/such/folder", "folder /no/such/folder does not exist"),
])
def test_bad_configs_fail_in_one_line(tmp_path, override, message):
  workdir = tmp_path / "run"
  result = run_script("train_images.py", f"--config={ROOT}/experiments/configs/mnist.py:quick",
                      f"--workdir={workdir}", override)
  assert result.returncode == 2, result.stderr[-1000:]
  assert message in result.stderr.strip().splitlines()[-1]
  assert "Traceback" not in result.stderr
  assert not workdir.exists()


def test_sample_script(tmp_path):
  workdir = tmp_path / "run"
  train.train_and_evaluate(quick_config(num_steps=5, checkpoint_every=5), str(workdir))
  out = tmp_path / "out"
  result = run_script("sample.py", f"--workdir={workdir}", "--num=10", "--format=npy",
                      f"--out={out}")
  assert result.returncode == 0, result.stderr[-1000:]
  samples = np.load(out / "samples_step5.npy")
  assert samples.shape == (10, 28, 28, 1) and np.all(np.abs(samples) <= 1)
  result = run_script("sample.py", f"--workdir={tmp_path / 'none'}")
  assert result.returncode == 2 and "holds no run" in result.stderr
  assert json.loads((workdir / "config.json").read_text())["method"] == "wgan"


@pytest.mark.parametrize("config_file, variant, dataset", [
    ("lsun64", "wgan-dcgan", "lsun/bedroom"), ("cifar10_wgan_gp", None, "cifar10"),
])
def test_full_scale_configs_run_a_few_steps_on_mock_data(tmp_path, config_file, variant, dataset):
  module = __import__(config_file)
  config = module.get_config(variant) if variant else module.get_config()
  assert config.dataset == dataset
  # The architecture as configured, narrower, for two steps on a CPU.
  config.update(num_steps=2, checkpoint_every=2, steps_per_dispatch=1, unroll=True,
                features=4, mlp_hidden=16, batch_size=4)
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
  config = quick_config(dataset=f"folder:{folder}", stream_pool=8, num_steps=2,
                        checkpoint_every=1, unroll=False, official_schedule=False)
  train.train_and_evaluate(config, str(tmp_path / "whole"))
  config.num_steps = 1
  train.train_and_evaluate(config, str(tmp_path / "resumed"))
  config.num_steps = 2
  train.train_and_evaluate(config, str(tmp_path / "resumed"))
  whole, step = train.sample_from_checkpoint(str(tmp_path / "whole"), 8)
  resumed, _ = train.sample_from_checkpoint(str(tmp_path / "resumed"), 8)
  assert step == 2 and np.array_equal(whole, resumed)
