"""wgan_jax/paper/two_gaussians.py: its config, its verdicts, its gradients against finite
differences and generator_step, a discriminator against the closed-form optimum (its quick run
is in test_paper_new_parts.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from wgan_jax import checks
from wgan_jax import experiment
from wgan_jax import models
from wgan_jax.configs import lines as lines_config
from wgan_jax.configs import two_gaussians as two_gaussians_config
from wgan_jax.data import toy
from wgan_jax.paper import two_gaussians


@pytest.fixture(scope="module")
def quick_networks():
  """The quick config and its two networks at their initialisation: checking gradients needs
  some function, not a trained one."""
  config = two_gaussians_config.get_config("quick")
  networks = {}
  for method in ("gan", "wgan"):
    run = experiment.build(experiment.variant(config, method))
    networks[method] = run, run.steps.init(jax.random.key(3))
  return config, networks


# The config ----------------------------------------------------------------------------------

def test_config_follows_the_paper_and_the_lines_part():
  config = two_gaussians_config.get_config()
  checks.check_config(config)
  lines = lines_config.get_config()
  assert config.data.dataset == "gaussian_1d"
  assert (config.generator.name, config.generator.noise_dim) == ("shifted_gaussian", 1)
  assert config.generator_optimizer.name == "frozen"
  # The fake mean at least 6 stds from the real one: the two barely overlap, as in Figure 3.
  assert abs(config.generator.theta) / toy.GAUSSIAN_1D_STD >= 6
  for name in ("wgan", "gan"):
    run, reference = experiment.variant(config, name), experiment.variant(lines, name)
    assert run.critic.to_dict() == reference.critic.to_dict() == dict(
        name="toy_mlp", features=64, hidden=64, depth=3, norm="none")
    assert run.critic_optimizer.to_dict() == reference.critic_optimizer.to_dict()
    assert run.objective.method == name
  wgan = experiment.variant(config, "wgan").critic_optimizer
  assert (wgan.name, wgan.clip) == ("rmsprop", 0.1)
  gan = experiment.variant(config, "gan").critic_optimizer
  assert (gan.name, gan.clip, gan.b1) == ("adam", None, 0.5)
  checks.check_config(two_gaussians_config.get_config("quick"))


def test_config_refuses_a_plot_narrower_than_the_support():
  config = two_gaussians_config.get_config("quick")
  config.two_gaussians.plot_stds = 1.0
  with pytest.raises(checks.ConfigError, match="plot_stds must be at least"):
    two_gaussians.run("/nonexistent/never-written", config=config)


@pytest.mark.parametrize("generator, dataset", [("toy_mlp", "gaussian_1d"),
                                                ("shifted_gaussian", "ring8")])
def test_config_refuses_samples_of_another_dimension(generator, dataset):
  config = experiment.variant(two_gaussians_config.get_config("quick"), "wgan")
  config.generator.name, config.data.dataset = generator, dataset
  with pytest.raises(checks.ConfigError, match="another dimension"):
    checks.check_config(config)


def test_real_and_fake_gaussians():
  n = 20000
  real_N = np.asarray(toy.get_dataset("gaussian_1d").sample(jax.random.key(0), n))
  generator = models.ShiftedGaussian(theta_init=4.0, std=toy.GAUSSIAN_1D_STD)
  z_Nx1 = jax.random.normal(jax.random.key(1), (n, 1))
  fake_N = np.asarray(generator.apply(generator.init(jax.random.key(2), z_Nx1), z_Nx1))
  assert real_N.shape == fake_N.shape == (n, 1)
  np.testing.assert_allclose(fake_N, 4.0 + 0.5 * np.asarray(z_Nx1), rtol=1e-6)
  # The sample mean's standard error is 0.5 / sqrt(n) = 0.0035.
  for sample, mean in ((real_N, 0.0), (fake_N, 4.0)):
    assert sample.mean() == pytest.approx(mean, abs=0.02)
    assert sample.std() == pytest.approx(0.5, rel=0.03)


# The verdicts --------------------------------------------------------------------------------

def test_verdicts_on_hand_made_numbers():
  assert two_gaussians.saturates(0.005, 0.995)
  assert not two_gaussians.saturates(0.02, 0.999)
  assert not two_gaussians.saturates(0.001, 0.98)
  assert two_gaussians.vanishes(0.009)
  assert not two_gaussians.vanishes(0.011)
  assert two_gaussians.clean(True, True, 0.6)
  assert not two_gaussians.clean(True, True, 0.4)
  assert not two_gaussians.clean(False, True, 0.9)
  assert not two_gaussians.clean(True, False, 0.9)


# Independent checks --------------------------------------------------------------------------

def test_optimal_discriminator_against_the_densities():
  x = np.linspace(-2.0, 6.0, 41)
  p_r, p_g = scipy.stats.norm.pdf(x, 0.0, 0.5), scipy.stats.norm.pdf(x, 4.0, 0.5)
  np.testing.assert_allclose(two_gaussians.optimal_discriminator(x, 0.0, 4.0, 0.5),
                             p_r / (p_r + p_g), rtol=1e-9, atol=1e-300)


def test_a_trained_discriminator_approaches_the_optimum():
  # Gaussians two stds apart, so that both densities are large between them.
  config = two_gaussians_config.get_config("quick")
  config.generator.theta = 1.0
  config.two_gaussians.critic_steps = 1000
  run, state = two_gaussians.train_network(config, "gan")
  x_N = np.linspace(-0.25, 1.25, 13)
  trained_N = jax.nn.sigmoid(two_gaussians.score_fn(run, state)(jnp.asarray(x_N, jnp.float32)))
  p_r, p_g = scipy.stats.norm.pdf(x_N, 0.0, 0.5), scipy.stats.norm.pdf(x_N, 1.0, 0.5)
  np.testing.assert_allclose(np.asarray(trained_N), p_r / (p_r + p_g), atol=0.06)


@pytest.mark.parametrize("method, losses", [("gan", ("minimax", "nonsaturating")),
                                            ("wgan", ("nonsaturating",))])
def test_gradients_equal_finite_differences(quick_networks, method, losses):
  _, networks = quick_networks
  run, state = networks[method]
  x_N = jnp.linspace(-1.0, 5.0, 25)
  _, gradients = two_gaussians.evaluate_fn(run, state, losses)(x_N)
  score = two_gaussians.score_fn(run, state)
  # ℓ(x) of each loss from the score by hand: log(1 - sigmoid(l)), -log sigmoid(l), -f.
  by_hand = {"gan": {"minimax": lambda s: -np.logaddexp(0.0, s),
                     "nonsaturating": lambda s: np.logaddexp(0.0, -s)},
             "wgan": {"nonsaturating": lambda s: -s}}[method]
  h = 1e-3
  at = lambda x: np.asarray(score(x), np.float64)
  before, here, after = at(x_N - h), at(x_N), at(x_N + h)
  for loss in losses:
    ell = by_hand[loss]
    forward, backward = (ell(after) - ell(here)) / h, (ell(here) - ell(before)) / h
    expected = (forward + backward) / 2
    # The networks are piecewise linear: away from a kink the one-sided differences agree.
    scale = np.max(np.abs(expected))
    smooth = np.abs(forward - backward) <= 0.01 * scale
    assert smooth.sum() >= 20
    np.testing.assert_allclose(np.asarray(gradients[loss])[smooth], expected[smooth], rtol=0.01,
                               atol=1e-3 * scale)


@pytest.mark.parametrize("name", list(two_gaussians.LOSSES))
def test_theta_gradient_is_the_mean_gradient_at_the_fake_samples(quick_networks, name):
  config, networks = quick_networks
  method, loss = two_gaussians.LOSSES[name]
  run, state = networks[method]
  key = jax.random.key(7)
  # generator_step's noise and the generator θ + σz, drawn again here.
  z_N = jax.random.normal(key, (config.two_gaussians.eval_samples, 1))[:, 0]
  fake_N = config.generator.theta + toy.GAUSSIAN_1D_STD * z_N
  _, gradients = two_gaussians.evaluate_fn(run, state, (loss,))(fake_N)
  assert two_gaussians.theta_gradient(config, method, loss, state, key) == pytest.approx(
      abs(float(jnp.mean(gradients[loss]))), rel=1e-4, abs=1e-9)

