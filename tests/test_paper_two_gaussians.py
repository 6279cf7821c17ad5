"""wgan_jax/paper/two_gaussians.py: its config, its verdicts and their rule across seeds, its
gradients against finite differences and generator_step, the seeds' networks, a discriminator
against the closed-form optimum (its quick run is in test_paper_new_parts.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from wgan_jax import checks
from wgan_jax import experiment
from wgan_jax import models
from wgan_jax.configs import lines as lines_config
from wgan_jax.configs import toy as toy_config
from wgan_jax.configs import two_gaussians as two_gaussians_config
from wgan_jax.data import toy
from wgan_jax.paper import two_gaussians


@pytest.fixture(scope="module")
def quick_networks():
  """The quick config and its two networks at two initialisations, stacked as the part stacks
  its seeds: checking gradients needs some function, not a trained one."""
  config = two_gaussians_config.get_config("quick")
  networks = {}
  for method in ("gan", "wgan"):
    run = experiment.build(experiment.variant(config, method))
    networks[method] = run, jax.vmap(run.steps.init)(jax.random.split(jax.random.key(3), 2))
  return config, networks


def _seed(states, s: int):
  return jax.tree.map(lambda x: x[s], states)


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


@pytest.mark.parametrize("variant", ["", "quick"])
def test_check_passes_the_configs(variant):
  two_gaussians_config.check(two_gaussians_config.get_config(variant))


@pytest.mark.parametrize("change, message", [
    (dict(plot_stds=1.0), r"--config.two_gaussians.plot_stds must be at least support_stds = "
                          r"3.0, got 1.0"),
    (dict(seeds=0), r"--config.two_gaussians.seeds must be at least 1"),
    (dict(grid=2), r"--config.two_gaussians.grid must be at least 3"),
    (dict(support_stds=-1.0), r"--config.two_gaussians.support_stds must be a finite number "
                              r"above 0"),
])
def test_check_refuses_a_section_that_cannot_run(change, message):
  config = two_gaussians_config.get_config("quick")
  config.two_gaussians.update(change)
  with pytest.raises(checks.ConfigError, match=message):
    two_gaussians_config.check(config)


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


@pytest.mark.parametrize("held, verdict", [
    (5, "holds"), (4, "holds"), (3, "unclear"), (2, "unclear"), (1, "does not hold"),
    (0, "does not hold")])
def test_a_claim_holds_for_4_of_5_seeds_and_fails_for_at_most_1(held, verdict):
  for order in (1, -1):  # which seeds hold does not matter
    holds_S = ([True] * held + [False] * (5 - held))[::order]
    assert two_gaussians.across_seeds(holds_S) == verdict


def test_the_seed_rule_scales_with_the_number_of_seeds():
  # 8 of 10 is 4 of 5 and 2 of 10 is 1 of 5; one seed more or less is in between.
  assert two_gaussians.across_seeds([True] * 8 + [False] * 2) == "holds"
  assert two_gaussians.across_seeds([True] * 7 + [False] * 3) == "unclear"
  assert two_gaussians.across_seeds([True] * 3 + [False] * 7) == "unclear"
  assert two_gaussians.across_seeds([True] * 2 + [False] * 8) == "does not hold"
  assert two_gaussians.across_seeds([True]) == "holds"
  assert two_gaussians.across_seeds([False]) == "does not hold"
  with pytest.raises(ValueError, match="no seeds"):
    two_gaussians.across_seeds([])


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
  # 16 units: with the quick network's 8, some initialisations lose every unit beyond a mean.
  toy_config.toy_networks(config, 16, depth=2)
  config.generator.update(dict(name="shifted_gaussian", noise_dim=1))
  config.two_gaussians.update(dict(critic_steps=1000, seeds=2))
  run, states = two_gaussians.train_networks(config, "gan")
  x_N = np.linspace(-0.25, 1.25, 13)
  p_r, p_g = scipy.stats.norm.pdf(x_N, 0.0, 0.5), scipy.stats.norm.pdf(x_N, 1.0, 0.5)
  for s in range(2):
    score = two_gaussians.score_fn(run, _seed(states, s))
    trained_N = jax.nn.sigmoid(score(jnp.asarray(x_N, jnp.float32)))
    np.testing.assert_allclose(np.asarray(trained_N), p_r / (p_r + p_g), atol=0.06)


def test_each_seed_trains_its_own_network_whatever_the_others():
  config = two_gaussians_config.get_config("quick")
  config.run.seed = 3
  config.two_gaussians.seeds = 3
  assert two_gaussians.seeds_of(config) == [3, 4, 5]
  run, states = two_gaussians.train_networks(config, "wgan")
  config.two_gaussians.seeds = 1
  _, alone = two_gaussians.train_networks(config, "wgan")
  kernels = lambda st: np.asarray(st.critic_params["Dense_0"]["kernel"])
  # Seed 3 trained with two others is seed 3 trained alone; seeds 4 and 5 are other networks.
  np.testing.assert_allclose(kernels(states)[0], kernels(alone)[0], rtol=1e-5, atol=1e-7)
  assert not np.allclose(kernels(states)[0], kernels(states)[1])
  assert not np.allclose(kernels(states)[1], kernels(states)[2])
  # Each clipped critic stays within [-c, c] and is trained: critic_steps steps per seed.
  clip = experiment.variant(config, "wgan").critic_optimizer.clip
  assert np.abs(kernels(states)).max() <= clip + 1e-7
  np.testing.assert_array_equal(np.asarray(states.critic_iter),
                                [config.two_gaussians.critic_steps] * 3)


@pytest.mark.parametrize("method, losses", [("gan", ("minimax", "nonsaturating")),
                                            ("wgan", ("nonsaturating",))])
def test_gradients_equal_finite_differences(quick_networks, method, losses):
  _, networks = quick_networks
  run, states = networks[method]
  x_N = jnp.linspace(-1.0, 5.0, 25)
  scores, gradients = two_gaussians.evaluate_fn(run, losses)(states, x_N)
  # ℓ(x) of each loss from the score by hand: log(1 - sigmoid(l)), -log sigmoid(l), -f.
  by_hand = {"gan": {"minimax": lambda s: -np.logaddexp(0.0, s),
                     "nonsaturating": lambda s: np.logaddexp(0.0, -s)},
             "wgan": {"nonsaturating": lambda s: -s}}[method]
  h = 1e-3
  for s in range(2):
    score = two_gaussians.score_fn(run, _seed(states, s))
    at = lambda x: np.asarray(score(x), np.float64)
    before, here, after = at(x_N - h), at(x_N), at(x_N + h)
    np.testing.assert_allclose(np.asarray(scores)[s], here, rtol=1e-5, atol=1e-6)
    for loss in losses:
      ell = by_hand[loss]
      forward, backward = (ell(after) - ell(here)) / h, (ell(here) - ell(before)) / h
      expected = (forward + backward) / 2
      # The networks are piecewise linear: away from a kink the one-sided differences agree.
      scale = np.max(np.abs(expected))
      smooth = np.abs(forward - backward) <= 0.01 * scale
      assert smooth.sum() >= 20
      np.testing.assert_allclose(np.asarray(gradients[loss])[s][smooth], expected[smooth],
                                 rtol=0.01, atol=1e-3 * scale)


@pytest.mark.parametrize("name", list(two_gaussians.LOSSES))
def test_theta_gradient_is_the_mean_gradient_at_the_fake_samples(quick_networks, name):
  config, networks = quick_networks
  method, loss = two_gaussians.LOSSES[name]
  run, states = networks[method]
  key = jax.random.key(7)
  # generator_step's noise and the generator θ + σz, drawn again here.
  z_N = jax.random.normal(key, (config.two_gaussians.eval_samples, 1))[:, 0]
  fake_N = config.generator.theta + toy.GAUSSIAN_1D_STD * z_N
  _, gradients = two_gaussians.evaluate_fn(run, (loss,))(states, fake_N)
  expected_S = np.abs(np.mean(np.asarray(gradients[loss], np.float64), axis=1))
  assert expected_S[0] != pytest.approx(expected_S[1])  # two networks, two gradients
  np.testing.assert_allclose(two_gaussians.theta_gradients(config, method, loss, states, key),
                             expected_S, rtol=1e-4, atol=1e-9)



def _seed_numbers(seed, d_fake, ratio, between_ratio, towards_real=True):
  """One seed's numbers as ``measure`` writes them, with what the verdicts read set by hand."""
  gradient = {"at_fake": 1.0, "support_max": 1.0, "normalised": 1.0, "theta": 1.0,
              "ratio_to_wgan": 1.0}
  return {"seed": seed, "d_fake": d_fake, "d_real": 0.999,
          "gradients": {"gan minimax": {**gradient, "ratio_to_wgan": ratio},
                        "gan -log D": gradient, "wgan": gradient},
          "critic": {"slope_min": -3.0, "slope_max": -1.0 if towards_real else 0.1,
                     "same_sign": towards_real, "towards_real": towards_real,
                     "wrong_way": [] if towards_real else [-1.0, -0.3],
                     "wrong_way_fraction": 0.0 if towards_real else 0.1,
                     "between_ratio": between_ratio, "support_ratio": 0.1,
                     "support_cv": 0.5, "em_estimate": 10.0, "em_over_slope": 3.5}}


def test_claims_judge_each_seed_then_count():
  # Saturated in 4 of 5 seeds (seed 2's D(fake) is 0.02), the gradient vanished in 3 of 5,
  # the critic clean in 1 of 5 (seed 4 only; seed 0 pushes the wrong way on part of the line).
  per_seed = [_seed_numbers(0, 0.001, 0.001, 0.9, towards_real=False),
              _seed_numbers(1, 0.001, 0.002, 0.4),
              _seed_numbers(2, 0.02, 0.5, 0.3),
              _seed_numbers(3, 0.001, 0.05, 0.2),
              _seed_numbers(4, 0.001, 0.003, 0.7)]
  m = {"real_mean": 0.0, "fake_mean": 4.0, "per_seed": per_seed,
       "holds": two_gaussians.holds_per_seed(per_seed)}
  assert m["holds"] == {"saturates": [True, True, False, True, True],
                        "vanishes": [True, True, False, False, True],
                        "clean": [False, False, False, False, True]}
  claims = two_gaussians._claims(m)
  assert [c.verdict for c in claims] == ["holds", "unclear", "does not hold"]
  assert "in 4 of 5 seeds" in claims[0].number and "in 1 of 5 seeds" in claims[2].number
  for claim in claims:
    for seed in range(5):
      assert f"seed {seed} " in claim.number
  assert "seed 2 2.00e-02 and 0.999000" in claims[0].number
  assert "within [-1.00, -0.30]" in claims[2].number
  table = two_gaussians._table(m)
  assert "| network | measure | seed 0 | seed 1 | seed 2 | seed 3 | seed 4 |" in table
  assert table.count("| GAN, log(1 - D(x)) (minimax) |") == 5
