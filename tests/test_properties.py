"""Hypothesis properties: clip_params keeps every parameter in [-c, c]; the losses stay finite for
extreme logits; the gradient penalty vanishes for a critic whose gradient has norm 1 everywhere."""

import math

import hypothesis
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import optax

from wgan_jax import losses
from wgan_jax import optim

SETTINGS = hypothesis.settings(max_examples=40, deadline=None, derandomize=True, database=None,
                               suppress_health_check=[hypothesis.HealthCheck.too_slow])
F32_MAX = float(np.finfo(np.float32).max)
# Any finite float32, the bounds and huge values included.
finite_f32 = st.floats(-F32_MAX, F32_MAX, allow_nan=False, allow_infinity=False, width=32)
# A few fixed shapes, so that the jitted functions compile a few times rather than per example.
shapes = st.sampled_from([(), (3,), (2, 5), (3, 3, 2)])


@st.composite
def params_updates_and_c(draw):
  """(params, updates, c): a pytree of 1 to 3 leaves, with some parameters exactly at ±c."""
  c = float(np.float32(draw(st.floats(1e-6, 1e3))))
  leaves_p, leaves_u = {}, {}
  for i in range(draw(st.integers(1, 3))):
    shape = draw(shapes)
    p = draw(hnp.arrays(np.float32, shape, elements=st.one_of(
        finite_f32, st.sampled_from([c, -c, 0.0]), st.floats(-c, c, width=32))))
    u = draw(hnp.arrays(np.float32, shape, elements=finite_f32))
    leaves_p[f"leaf{i}"], leaves_u[f"leaf{i}"] = p, u
  return leaves_p, leaves_u, np.float32(c)


@SETTINGS
@hypothesis.given(params_updates_and_c())
def test_clip_params_keeps_every_parameter_in_the_box(example):
  params, updates, c = example
  tx = optim.clip_params(float(c))  # eager: jax caches each operation per shape
  clipped_updates, _ = tx.update(updates, tx.init(params), params)
  new_params = optax.apply_updates(params, clipped_updates)
  for name, leaf in new_params.items():
    leaf = np.asarray(leaf)
    assert leaf.shape == params[name].shape and leaf.dtype == np.float32
    assert np.all(np.isfinite(leaf)), name
    assert np.all(np.abs(leaf) <= c), (name, np.max(np.abs(leaf)), c)
    # Inside the box the update lands where it was meant to (up to float32 rounding).
    target = np.float64(params[name]) + np.float64(updates[name])
    inside = np.abs(target) <= 0.5 * c
    np.testing.assert_allclose(leaf[inside], target[inside], rtol=1e-6,
                               atol=4 * np.finfo(np.float32).eps * np.max(
                                   np.abs(np.float64(params[name])), initial=float(c)))


@jax.jit
def _gan_losses_and_grads(real_B, fake_B):
  def total(r, f):
    values = {
        "discriminator": losses.gan_discriminator_loss(r, f),
        "minimax": losses.gan_generator_loss_minimax(f),
        "nonsaturating": losses.gan_generator_loss_nonsaturating(f),
    }
    return sum(values.values()), values

  grads, values = jax.grad(total, argnums=(0, 1), has_aux=True)(real_B, fake_B)
  return values, grads


# Logits up to 1e37: saturated far beyond float32's sigmoid (which is 1 from about 17 on), while
# the losses, which grow like |logit|, stay representable: jnp.mean sums first, so 8 logits near
# float32's maximum (3.4e38) overflow even where their mean would not.
extreme_logits = st.floats(-1e37, 1e37).map(np.float32)


@SETTINGS
@hypothesis.given(hnp.arrays(np.float32, 8, elements=extreme_logits),
                  hnp.arrays(np.float32, 8, elements=extreme_logits))
def test_gan_losses_are_finite_for_extreme_logits(real_B, fake_B):
  values, grads = _gan_losses_and_grads(real_B, fake_B)
  for name, value in values.items():
    assert np.isfinite(value), (name, value)
  assert values["discriminator"] >= 0 and values["nonsaturating"] >= 0
  assert values["minimax"] <= 0
  assert losses.js_estimate(values["discriminator"]) <= math.log(2) + 1e-6
  # Their gradients too: a saturated logit gives a zero gradient, never NaN.
  for grad in grads:
    assert np.all(np.isfinite(grad))


@jax.jit
def _penalties(real, fake, u, key):
  """Penalties of f = k u·x at the same interpolates: k = 1 (both kinds), 0.5 and 3."""
  critic = lambda x: jnp.sum(x * u[None], axis=tuple(range(1, x.ndim)))
  scaled = lambda k: (lambda x: k * critic(x))
  return {
      "two_sided": losses.gradient_penalty(critic, real, fake, key),
      "one_sided": losses.gradient_penalty(critic, real, fake, key, True),
      "half": losses.gradient_penalty(scaled(0.5), real, fake, key),
      "half_one_sided": losses.gradient_penalty(scaled(0.5), real, fake, key, True),
      "triple": losses.gradient_penalty(scaled(3.0), real, fake, key),
  }


@SETTINGS
@hypothesis.given(st.sampled_from([(4, (2,)), (3, (4, 4, 1))]), st.integers(0, 2**32 - 1),
                  st.floats(1e-3, 1e3))
def test_gradient_penalty_vanishes_for_unit_gradient_norm(shapes_, seed, scale):
  """f(x) = u·x with ‖u‖ = 1 has ‖∇f‖ = 1 everywhere, so both penalties are 0 wherever the
  interpolates fall; f = k u·x has ‖∇f‖ = k: the two-sided penalty is (k - 1)², the one-sided
  one 0 for k < 1."""
  batch, sample_shape = shapes_
  rng = np.random.default_rng(seed)
  u = rng.standard_normal(sample_shape)
  u = (u / np.sqrt(np.sum(u * u))).astype(np.float32)
  real = (scale * rng.standard_normal((batch, *sample_shape))).astype(np.float32)
  fake = (scale * rng.standard_normal((batch, *sample_shape))).astype(np.float32)
  penalties = {k: float(v) for k, v in _penalties(real, fake, u, jax.random.key(seed)).items()}
  assert abs(penalties["two_sided"]) < 1e-6 and abs(penalties["one_sided"]) < 1e-6, penalties
  assert abs(penalties["half_one_sided"]) < 1e-6, penalties
  np.testing.assert_allclose(penalties["half"], 0.25, rtol=1e-4)
  np.testing.assert_allclose(penalties["triple"], 4.0, rtol=1e-4)
