"""Each loss against values worked out by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wgan_jax import losses


def sigmoid(x):
  return 1 / (1 + math.exp(-x))


def test_wgan_losses_by_hand():
  real_B = jnp.array([1.0, 3.0])  # mean 2
  fake_B = jnp.array([-1.0, 0.0, 0.5, 0.5])  # mean 0
  assert float(losses.wgan_critic_loss(real_B, fake_B)) == pytest.approx(0.0 - 2.0)
  assert float(losses.em_estimate(losses.wgan_critic_loss(real_B, fake_B))) == pytest.approx(2.0)
  assert float(losses.wgan_generator_loss(fake_B)) == pytest.approx(-0.0)
  assert float(losses.wgan_generator_loss(jnp.array([2.0, 4.0]))) == pytest.approx(-3.0)


def test_gan_losses_by_hand():
  real_B, fake_B = jnp.array([2.0, -1.0]), jnp.array([0.0, 3.0])
  d_real = [sigmoid(2.0), sigmoid(-1.0)]
  d_fake = [sigmoid(0.0), sigmoid(3.0)]
  expected_d = -(math.log(d_real[0]) + math.log(d_real[1])) / 2 - (
      math.log(1 - d_fake[0]) + math.log(1 - d_fake[1])) / 2
  assert float(losses.gan_discriminator_loss(real_B, fake_B)) == pytest.approx(expected_d, rel=1e-6)
  minimax = (math.log(1 - d_fake[0]) + math.log(1 - d_fake[1])) / 2
  assert float(losses.gan_generator_loss_minimax(fake_B)) == pytest.approx(minimax, rel=1e-6)
  nonsat = -(math.log(d_fake[0]) + math.log(d_fake[1])) / 2
  assert float(losses.gan_generator_loss_nonsaturating(fake_B)) == pytest.approx(nonsat, rel=1e-6)
  # ½ L + log 2 with L = -discriminator loss.
  assert float(losses.js_estimate(losses.gan_discriminator_loss(real_B, fake_B))) == pytest.approx(
      -expected_d / 2 + math.log(2), rel=1e-6)


def test_js_estimate_of_an_undecided_discriminator_is_zero():
  # D = 1/2 everywhere: L = 2 log ½, so ½ L + log 2 = 0.
  zeros = jnp.zeros(4)
  assert float(losses.js_estimate(losses.gan_discriminator_loss(zeros, zeros))) == pytest.approx(
      0.0, abs=1e-7)


def test_gan_losses_finite_for_extreme_logits():
  big = jnp.array([1e4, -1e4])
  for value in (losses.gan_discriminator_loss(big, big), losses.gan_generator_loss_minimax(big),
                losses.gan_generator_loss_nonsaturating(big)):
    assert np.isfinite(float(value))
  # A confident, correct discriminator: loss about 0; the -log D generator loss about 1e4 / 2.
  assert float(losses.gan_discriminator_loss(jnp.array([1e4]), jnp.array([-1e4]))) == pytest.approx(0.0)
  assert float(losses.gan_generator_loss_nonsaturating(jnp.array([-1e4, 0.0]))) == pytest.approx(
      (1e4 + math.log(2)) / 2, rel=1e-6)


def test_ebgan_losses_by_hand():
  real_B, fake_B = jnp.array([0.5, 1.5]), jnp.array([0.2, 3.0])
  # mean D(x) = 1; hinge: max(0, 1 - 0.2) = 0.8 and max(0, 1 - 3) = 0: mean 0.4.
  assert float(losses.ebgan_discriminator_loss(real_B, fake_B, margin=1.0)) == pytest.approx(1.4)
  assert float(losses.ebgan_generator_loss(fake_B)) == pytest.approx(1.6)


def linear_critic(w):
  return lambda x_BxD: x_BxD @ w


def test_gradient_penalty_of_a_linear_critic():
  # f(x) = w·x has gradient w everywhere: the penalty is (‖w‖ - 1)² whatever the interpolates.
  w = jnp.array([3.0, 4.0])  # norm 5
  real, fake = jnp.ones((8, 2)), jnp.zeros((8, 2))
  key = jax.random.key(0)
  assert float(losses.gradient_penalty(linear_critic(w), real, fake, key)) == pytest.approx(16.0)
  assert float(losses.gradient_penalty(linear_critic(w), real, fake, key, one_sided=True)) == (
      pytest.approx(16.0))
  w_small = jnp.array([0.3, 0.4])  # norm 0.5: two-sided (0.5)², one-sided 0
  assert float(losses.gradient_penalty(linear_critic(w_small), real, fake, key)) == pytest.approx(0.25)
  assert float(losses.gradient_penalty(linear_critic(w_small), real, fake, key, one_sided=True)) == 0.0
  unit = jnp.array([0.6, 0.8])
  assert float(losses.gradient_penalty(linear_critic(unit), real, fake, key)) == pytest.approx(
      0.0, abs=1e-6)


def test_gradient_penalty_is_taken_at_per_sample_interpolates():
  # f(x) = ½‖x‖² has gradient x: at x̂ = εx + (1-ε)y the norm is known once ε is known.
  key = jax.random.key(3)
  real = jnp.array([[2.0, 0.0], [0.0, 4.0], [1.0, 1.0]])
  fake = jnp.zeros((3, 2))
  eps = np.asarray(jax.random.uniform(key, (3,)))  # the draw gradient_penalty makes
  norms = eps * np.linalg.norm(np.asarray(real), axis=1)
  expected = np.mean((norms - 1) ** 2)
  critic = lambda x: 0.5 * jnp.sum(x**2, axis=1)
  assert float(losses.gradient_penalty(critic, real, fake, key)) == pytest.approx(expected, rel=1e-5)
  assert len(set(np.round(eps, 6))) == 3  # ε differs per sample


def test_gradient_penalty_on_images_uses_the_norm_over_all_pixels():
  w = jnp.full((1, 2, 2, 1), 0.5)  # ‖w‖ = 1 over the 4 pixels
  critic = lambda x_BxHxWxC: jnp.sum(x_BxHxWxC * w, axis=(1, 2, 3))
  real, fake = jnp.ones((3, 2, 2, 1)), jnp.zeros((3, 2, 2, 1))
  assert float(losses.gradient_penalty(critic, real, fake, jax.random.key(1))) == pytest.approx(
      0.0, abs=1e-6)
