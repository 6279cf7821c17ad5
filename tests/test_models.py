"""Tests for wgan_jax.models: shapes, ranges, filter schedules, norms and their batch coupling."""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wgan_jax import models

SIZES = [(28, 1), (32, 3), (64, 3)]  # MNIST, CIFAR-10, LSUN/CelebA
BATCH = 2
NZ = 16
FEATURES = 8  # small widths: these tests check wiring, not capacity


@pytest.fixture(autouse=True)
def _strict_rank_promotion():
  with jax.numpy_rank_promotion("raise"):
    yield


def _images(size, channels, seed=0, batch=BATCH):
  return jax.random.uniform(jax.random.key(seed), (batch, size, size, channels), minval=-1.0,
                            maxval=1.0)


def _noise(seed=0, batch=BATCH):
  return jax.random.normal(jax.random.key(seed), (batch, NZ))


def _apply_train(module, variables, x):
  """Train-mode forward pass; BatchNorm's statistics are returned when there are any."""
  if "batch_stats" in variables:
    out, _ = module.apply(variables, x, train=True, mutable=["batch_stats"])
    return out
  return module.apply(variables, x, train=True)


def _hidden_widths(params):
  """Filters of each DCGAN generator layer but the output one, from the parameter shapes."""
  start_map_pixels = params["Dense_0"]["kernel"].shape[1]
  first = params["BatchNorm_0"]["scale"].shape[0] if "BatchNorm_0" in params else None
  convs = sorted((k for k in params if k.startswith("ConvTranspose_")),
                 key=lambda k: int(k.split("_")[1]))
  widths = [params[k]["kernel"].shape[-1] for k in convs[:-1]]
  return start_map_pixels, first, widths


@pytest.mark.parametrize("size, channels", SIZES)
@pytest.mark.parametrize("batch_norm, constant_features", [(True, False), (False, True)])
def test_dcgan_generator_shape_and_range(size, channels, batch_norm, constant_features):
  gen = models.DCGANGenerator(size, channels, noise_dim=NZ, features=FEATURES, batch_norm=batch_norm,
                              constant_features=constant_features)
  variables = gen.init(jax.random.key(0), _noise(), train=False)
  # A large noise scale pushes pre-activations far into tanh's tails.
  z = 100.0 * _noise(seed=1)
  for x in (_apply_train(gen, variables, z), gen.apply(variables, z, train=False)):
    assert x.shape == (BATCH, size, size, channels)
    assert np.all(np.abs(np.asarray(x)) <= 1.0)


@pytest.mark.parametrize("size, channels", SIZES)
def test_mlp_generator_is_the_official_mlp_g(size, channels):
  gen = models.MLPGenerator(size, channels, hidden=32)
  variables = gen.init(jax.random.key(0), _noise())
  x = gen.apply(variables, 100.0 * _noise(seed=1))
  assert x.shape == (BATCH, size, size, channels)
  assert np.abs(np.asarray(x)).max() > 1.0  # MLP_G's output layer is linear: no tanh
  assert "batch_stats" not in variables
  # MLP_G: 3 hidden ReLU layers, then the output layer.
  kernels = [variables["params"][f"Dense_{i}"]["kernel"].shape for i in range(4)]
  assert kernels == [(NZ, 32), (32, 32), (32, 32), (32, size * size * channels)]
  assert len(variables["params"]) == 4


def test_dcgan_generator_widths_halve_from_the_narrow_end():
  gen = models.DCGANGenerator(64, 3, noise_dim=NZ, features=FEATURES)
  params = gen.init(jax.random.key(0), _noise(), train=False)["params"]
  start_map_pixels, first, widths = _hidden_widths(params)
  # 64 = 4 * 2**4: a 4x4 map of 8 * 2**3 filters, then 32, 16, 8 on the way up.
  assert start_map_pixels == 4 * 4 * 64
  assert first == 64
  assert widths == [32, 16, 8]
  assert params["ConvTranspose_3"]["kernel"].shape == (4, 4, 8, 3)


@pytest.mark.parametrize("size, channels", SIZES)
def test_constant_features_generator_has_equal_widths_and_no_batch_stats(size, channels):
  gen = models.DCGANGenerator(size, channels, noise_dim=NZ, features=FEATURES, batch_norm=False,
                              constant_features=True)
  variables = gen.init(jax.random.key(0), _noise(), train=False)
  assert "batch_stats" not in variables
  start, _ = models.dcgan_geometry(size)
  start_map_pixels, first, widths = _hidden_widths(variables["params"])
  assert first is None
  assert start_map_pixels == start * start * FEATURES
  assert widths == [FEATURES] * len(widths)
  # Every hidden transposed conv also reads FEATURES filters.
  for name, layer in variables["params"].items():
    if name.startswith("ConvTranspose_"):
      assert layer["kernel"].shape[2] == FEATURES


@pytest.mark.parametrize("size, expected", [(28, (7, 2)), (32, (4, 3)), (64, (4, 4)),
                                            (48, (6, 3)), (12, (6, 1)), (56, (7, 3))])
def test_dcgan_geometry(size, expected):
  assert models.dcgan_geometry(size) == expected


@pytest.mark.parametrize("size", [30, 7, 4, 2, 15, 17])
def test_impossible_size_raises(size):
  with pytest.raises(ValueError, match=f"image_size={size}"):
    models.dcgan_geometry(size)


@pytest.mark.parametrize("make, x", [
    (lambda: models.DCGANGenerator(30, 1, noise_dim=NZ, features=FEATURES), _noise()),
    (lambda: models.DCGANCritic(30, 1, features=FEATURES), _images(30, 1)),
    (lambda: models.DCGANAutoencoder(30, 1, features=FEATURES, code_dim=4), _images(30, 1)),
])
def test_modules_reject_impossible_size(make, x):
  with pytest.raises(ValueError, match="image_size=30"):
    make().init(jax.random.key(0), x)


def test_unknown_norm_raises():
  critic = models.DCGANCritic(32, 3, features=FEATURES, norm="group")
  with pytest.raises(ValueError, match="group"):
    critic.init(jax.random.key(0), _images(32, 3))


def test_wrong_input_shapes_raise():
  critic = models.DCGANCritic(32, 3, features=FEATURES)
  with pytest.raises(ValueError, match="32, 32, 3"):
    critic.init(jax.random.key(0), _images(64, 3))
  gen = models.DCGANGenerator(32, 3, noise_dim=NZ, features=FEATURES)
  with pytest.raises(ValueError, match=f"B, {NZ}"):
    gen.init(jax.random.key(0), jnp.zeros((BATCH, NZ + 1)))


@pytest.mark.parametrize("size, channels", SIZES)
@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_dcgan_critic_shape(size, channels, norm):
  critic = models.DCGANCritic(size, channels, features=FEATURES, norm=norm)
  x = _images(size, channels)
  variables = critic.init(jax.random.key(0), x, train=False)
  assert ("batch_stats" in variables) == (norm == "batch")
  assert _apply_train(critic, variables, x).shape == (BATCH,)
  assert critic.apply(variables, x, train=False).shape == (BATCH,)


@pytest.mark.parametrize("size, channels", SIZES)
def test_mlp_critic_shape(size, channels):
  critic = models.MLPCritic(hidden=32)
  x = _images(size, channels)
  variables = critic.init(jax.random.key(0), x)
  assert critic.apply(variables, x).shape == (BATCH,)
  assert "batch_stats" not in variables
  # MLP_D: 3 hidden ReLU layers, then one score.
  kernels = [variables["params"][f"Dense_{i}"]["kernel"].shape for i in range(4)]
  assert kernels == [(size * size * channels, 32), (32, 32), (32, 32), (32, 1)]


@pytest.mark.parametrize("make, x", [
    (lambda: models.MLPGenerator(28, 1, hidden=256), jnp.ones((BATCH, NZ))),
    (lambda: models.MLPCritic(hidden=256), jnp.ones((BATCH, 28, 28, 1)))])
def test_mlps_are_initialised_as_pytorch_linear(make, x):
  # PyTorch's nn.Linear default, which the official MLP_G and MLP_D keep: kernel and bias drawn
  # from U(-b, b) with b = 1/sqrt(fan_in), whose variance is b² / 3.
  params = make().init(jax.random.key(0), x)["params"]
  biases_over_bound = []
  for layer in params.values():
    kernel, bias = np.asarray(layer["kernel"]), np.asarray(layer["bias"])
    bound = 1.0 / np.sqrt(kernel.shape[0])
    assert np.abs(kernel).max() <= bound and np.abs(bias).max() <= bound
    assert np.abs(kernel).max() > 0.95 * bound  # the range is filled, not a narrower law's
    if kernel.size >= 4096:  # enough draws for the variance to within 6%
      assert kernel.mean() == pytest.approx(0.0, abs=0.05 * bound)
      assert kernel.var() == pytest.approx(bound**2 / 3, rel=0.06)
    biases_over_bound.append(bias / bound)
  # The biases, each over its bound, are U(-1, 1): variance 1/3 (not Flax's zeros).
  biases = np.concatenate(biases_over_bound)
  assert biases.var() == pytest.approx(1 / 3, rel=0.1)
  assert abs(biases.mean()) < 0.1


def test_batch_norm_critic_updates_batch_stats_in_train_mode():
  critic = models.DCGANCritic(32, 3, features=FEATURES, norm="batch")
  x = _images(32, 3) + 0.5  # off-centre, so the running means must move away from 0
  variables = critic.init(jax.random.key(0), x, train=False)
  _, updates = critic.apply(variables, x, train=True, mutable=["batch_stats"])
  old = jax.tree.leaves(variables["batch_stats"])
  new = jax.tree.leaves(updates["batch_stats"])
  assert len(new) == len(old) > 0
  assert all(a.shape == b.shape for a, b in zip(old, new))
  assert any(not np.allclose(a, b) for a, b in zip(old, new))


def _score_0_moves(critic, variables, size, channels, train):
  x = _images(size, channels, seed=0, batch=3)
  x_other = x.at[1].set(_images(size, channels, seed=1, batch=1)[0])
  if train and "batch_stats" in variables:
    apply = lambda v, y: critic.apply(v, y, train=True, mutable=["batch_stats"])[0]
  else:
    apply = lambda v, y: critic.apply(v, y, train=train)
  return not np.allclose(apply(variables, x)[0], apply(variables, x_other)[0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("norm", ["layer", "none"])
def test_per_sample_critic_scores_do_not_mix(norm):
  critic = models.DCGANCritic(28, 1, features=FEATURES, norm=norm)
  variables = critic.init(jax.random.key(0), _images(28, 1), train=False)
  assert not _score_0_moves(critic, variables, 28, 1, train=True)


def test_batch_norm_critic_mixes_samples_in_train_mode_only():
  critic = models.DCGANCritic(28, 1, features=FEATURES, norm="batch")
  variables = critic.init(jax.random.key(0), _images(28, 1), train=False)
  assert _score_0_moves(critic, variables, 28, 1, train=True)
  assert not _score_0_moves(critic, variables, 28, 1, train=False)


def test_dcgan_initialisation():
  gen = models.DCGANGenerator(32, 3, noise_dim=NZ, features=16)
  params = gen.init(jax.random.key(0), _noise(), train=False)["params"]
  kernel = np.asarray(params["ConvTranspose_0"]["kernel"])  # 4*4*64*32 draws
  assert abs(kernel.mean()) < 1e-3
  assert kernel.std() == pytest.approx(0.02, rel=0.05)
  scales = np.concatenate([np.asarray(v["scale"]) for k, v in params.items()
                           if k.startswith("BatchNorm_")])  # 64 + 32 + 16 draws
  assert scales.mean() == pytest.approx(1.0, abs=0.01)
  assert 0.01 < scales.std() < 0.03
  # The official DCGAN_G: no convolution has a bias; the BatchNorm biases start at 0.
  assert not [k for k, v in params.items() if "bias" in v and not k.startswith("BatchNorm_")]
  assert all(np.all(np.asarray(params[k]["bias"]) == 0) for k in params
             if k.startswith("BatchNorm_"))


def test_reconstruction_energy_by_hand():
  x = jnp.array([[0.0, 0.0], [1.0, 2.0]])
  recon = jnp.array([[1.0, 1.0], [1.0, 0.0]])
  # ((1 + 1) / 2, (0 + 4) / 2)
  np.testing.assert_allclose(models.reconstruction_energy(x, recon), [1.0, 2.0])
  # Images: the mean runs over every pixel and channel of a sample.
  x_img = jnp.zeros((2, 2, 2, 1))
  recon_img = x_img.at[0, 0, 0, 0].set(2.0).at[1].set(1.0)
  np.testing.assert_allclose(models.reconstruction_energy(x_img, recon_img), [1.0, 1.0])


def _last_call_output(intermediates, prefix):
  name = max((k for k in intermediates if k.startswith(prefix)), key=lambda k: int(k.split("_")[1]))
  return np.asarray(intermediates[name]["__call__"][0])


def test_mlp_autoencoder_energy_is_mean_squared_reconstruction_error():
  ae = models.MLPAutoencoder(hidden=(16, 8), code_dim=2)
  x = jax.random.normal(jax.random.key(0), (3, 5))
  variables = ae.init(jax.random.key(1), x)
  energy, state = ae.apply(variables, x, capture_intermediates=True)
  assert energy.shape == (3,)
  assert np.all(np.asarray(energy) >= 0)
  recon = _last_call_output(state["intermediates"], "Dense_")
  assert recon.shape == x.shape
  expected = ((recon - np.asarray(x))**2).mean(axis=1)
  np.testing.assert_allclose(energy, expected, rtol=1e-5)


@pytest.mark.parametrize("size, channels", SIZES)
def test_dcgan_autoencoder_energy(size, channels):
  ae = models.DCGANAutoencoder(size, channels, features=FEATURES, code_dim=4)
  x = _images(size, channels)
  variables = ae.init(jax.random.key(0), x, train=False)
  assert "batch_stats" in variables
  energy, state = ae.apply(variables, x, train=False, capture_intermediates=True)
  assert energy.shape == (BATCH,)
  assert np.all(np.asarray(energy) >= 0)
  recon = _last_call_output(state["intermediates"], "ConvTranspose_")
  assert recon.shape == x.shape
  expected = ((recon - np.asarray(x))**2).reshape(BATCH, -1).mean(axis=1)
  np.testing.assert_allclose(energy, expected, rtol=1e-5)
  assert _apply_train(ae, variables, x).shape == (BATCH,)


@pytest.mark.parametrize("out_dim, shape", [(1, (BATCH,)), (2, (BATCH, 2))])
def test_toy_mlp_output_shape(out_dim, shape):
  mlp = models.MLP(hidden=(16, 16), out_dim=out_dim)
  x = jnp.ones((BATCH, 2))
  variables = mlp.init(jax.random.key(0), x)
  assert mlp.apply(variables, x).shape == shape


# The hand-written gradients of the DCGAN layers, against Flax's layers differentiated by autodiff.

def _reference_layer(transpose, features):
  if transpose:
    return nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME", use_bias=False)
  return nn.Conv(features, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), use_bias=False)


def _perturbed(variables, seed):
  # Away from the zero biases and the 0.02 init scale, so that every term of the gradient counts.
  leaves, tree = jax.tree.flatten(variables)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return jax.tree.unflatten(tree, [p + 0.3 * jax.random.normal(k, p.shape)
                                   for p, k in zip(leaves, keys)])


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("size, channels, features", [(8, 3, 5), (14, 4, 2)])
def test_conv4x4_equals_flax_layer_with_its_gradients(transpose, size, channels, features):
  x = jax.random.normal(jax.random.key(0), (3, size, size, channels))
  reference = _reference_layer(transpose, features)
  ours = models.Conv4x4(features, transpose=transpose)
  variables = _perturbed(reference.init(jax.random.key(1), x), 2)
  # Same parameter names and shapes: checkpoints of either load into the other.
  assert (jax.tree.map(jnp.shape, ours.init(jax.random.key(1), x))
          == jax.tree.map(jnp.shape, variables))
  np.testing.assert_allclose(jax.jit(ours.apply)(variables, x),
                             jax.jit(reference.apply)(variables, x), rtol=1e-5, atol=1e-5)

  def first(module):
    return jax.grad(lambda v, x: jnp.sum(jnp.sin(module.apply(v, x))), argnums=(0, 1))

  def penalty(module):
    # The gradient penalty's shape: a function of the input gradient, differentiated again.
    def value(v, x):
      gx = jax.grad(lambda x: jnp.sum(jnp.sin(module.apply(v, x))))(x)
      return jnp.sum(jnp.square(gx))
    return jax.grad(value, argnums=(0, 1))

  for derivative in (first, penalty):
    ours_g = jax.jit(derivative(ours))(variables, x)
    reference_g = jax.jit(derivative(reference))(variables, x)
    for a, b in zip(jax.tree.leaves(ours_g), jax.tree.leaves(reference_g)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.max(jnp.abs(b))))


def test_whole_map_conv_equals_a_valid_flax_conv():
  x = jax.random.normal(jax.random.key(0), (3, 4, 4, 6))
  reference = nn.Conv(2, (4, 4), padding="VALID", use_bias=False)
  variables = _perturbed(reference.init(jax.random.key(1), x), 2)
  ours = models.WholeMapConv(2)
  assert (jax.tree.map(jnp.shape, ours.init(jax.random.key(1), x))
          == jax.tree.map(jnp.shape, variables))
  np.testing.assert_allclose(ours.apply(variables, x), reference.apply(variables, x)[:, 0, 0],
                             rtol=1e-5, atol=1e-5)


class _FlaxCritic(nn.Module):
  """The DCGAN critic written with Flax's own layers, as the oracle of DCGANCritic."""

  norm: str

  @nn.compact
  def __call__(self, x, train=True):
    h = x
    for k in range(2):  # 16 -> 8 -> 4
      h = nn.Conv(FEATURES * 2**k, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),
                  use_bias=False)(h)
      if k > 0 and self.norm == "batch":
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)(h)
      elif k > 0 and self.norm == "layer":
        h = nn.LayerNorm(reduction_axes=(1, 2, 3), feature_axes=-1, epsilon=1e-5)(h)
      h = nn.leaky_relu(h, 0.2)
    return nn.Conv(1, (4, 4), padding="VALID", use_bias=False)(h).reshape(x.shape[0])


class _FlaxGenerator(nn.Module):
  """The DCGAN generator written with Flax's own layers, as the oracle of DCGANGenerator."""

  @nn.compact
  def __call__(self, z, train=True):
    h = nn.Dense(4 * 4 * 2 * FEATURES, use_bias=False)(z).reshape(z.shape[0], 4, 4, 2 * FEATURES)
    for width in (FEATURES, 3):  # 4 -> 8 -> 16
      h = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)(h))
      h = nn.ConvTranspose(width, (4, 4), strides=(2, 2), padding="SAME", use_bias=False)(h)
    return jnp.tanh(h)


def _assert_same_module(ours, reference, x):
  """Same parameter tree, same train-mode output, same gradients w.r.t. parameters and input."""
  variables = ours.init(jax.random.key(0), x)
  assert (jax.tree.map(jnp.shape, reference.init(jax.random.key(0), x))
          == jax.tree.map(jnp.shape, variables))
  variables = {**variables, "params": _perturbed(variables["params"], 1)}
  forward = lambda m: jax.jit(lambda v, x: _apply_train(m, v, x))(variables, x)
  np.testing.assert_allclose(forward(ours), forward(reference), rtol=1e-5, atol=1e-5)
  grad = lambda m: jax.jit(jax.grad(lambda p, x: jnp.sum(jnp.sin(
      _apply_train(m, {**variables, "params": p}, x))), argnums=(0, 1)))(variables["params"], x)
  for a, b in zip(jax.tree.leaves(grad(ours)), jax.tree.leaves(grad(reference))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.max(jnp.abs(b))))


@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_dcgan_critic_equals_one_built_from_flax_layers(norm):
  _assert_same_module(models.DCGANCritic(16, 3, features=FEATURES, norm=norm), _FlaxCritic(norm),
                      _images(16, 3, batch=4))


def test_dcgan_generator_equals_one_built_from_flax_layers():
  _assert_same_module(models.DCGANGenerator(16, 3, noise_dim=NZ, features=FEATURES), _FlaxGenerator(),
                      _noise(batch=4))


def test_critic_gradient_in_a_loop_has_only_canonical_convolutions():
  # XLA's CPU backend runs a convolution whose dimension labels are not (batch, spatial,
  # feature) with a generic loop, tens of times slower, and inside a while loop it does not
  # rewrite them into that form. Every convolution of a scanned critic update must be canonical.
  critic = models.DCGANCritic(16, 3, features=FEATURES, norm="layer")
  x = _images(16, 3, batch=4)
  params = critic.init(jax.random.key(0), x)["params"]

  def penalised_loss(p):
    gx = jax.grad(lambda x: jnp.sum(critic.apply({"params": p}, x)))(x)
    return jnp.sum(critic.apply({"params": p}, x)) + jnp.sum(jnp.square(gx))

  def updates(p):
    return jax.lax.scan(lambda p, _: (jax.tree.map(lambda a, g: a - 1e-3 * g, p,
                                                   jax.grad(penalised_loss)(p)), None),
                        p, None, length=2)[0]

  hlo = jax.jit(updates).lower(params).compile().as_text()
  labels = re.findall(r"convolution\(.*?dim_labels=(\S+?)[,\s]", hlo)
  assert labels and set(labels) == {"b01f_01io->b01f"}, sorted(set(labels))
