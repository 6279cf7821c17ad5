"""clip_params against optax's L∞-ball projection, and the optimiser factories."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wgan_jax import optim


def _params():
  keys = jax.random.split(jax.random.key(0), 3)
  # A BatchNorm-like scale near 1 must be clipped too.
  return {"dense": {"kernel": 0.05 * jax.random.normal(keys[0], (3, 4)), "bias": jnp.zeros(4)},
          "bn": {"scale": jnp.ones(4), "bias": 0.02 * jax.random.normal(keys[1], (4,))}}


@pytest.mark.parametrize("c", [0.01, 0.1])
def test_clip_params_equals_projection_onto_the_linf_ball(c):
  params = _params()
  grads = jax.tree.map(lambda p: jnp.sin(37.0 * p) + 0.3, params)
  rms = optax.rmsprop(5e-3)
  tx = optax.chain(optax.rmsprop(5e-3), optim.clip_params(c))
  state, rms_state = tx.init(params), rms.init(params)
  for _ in range(3):
    updates, state = tx.update(grads, state, params)
    new_params = optax.apply_updates(params, updates)
    # The oracle: the unconstrained RMSProp step, projected onto {‖p‖∞ ≤ c}.
    raw, rms_state = rms.update(grads, rms_state, params)
    expected = optax.projections.projection_linf_ball(optax.apply_updates(params, raw), c)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-7), new_params, expected)
    assert all(jnp.max(jnp.abs(leaf)) <= np.float32(c) for leaf in jax.tree.leaves(new_params))
    params = new_params


def test_clip_params_needs_params_and_a_positive_c():
  tx = optim.clip_params(0.01)
  params = _params()
  with pytest.raises(ValueError, match="params"):
    tx.update(params, tx.init(params))
  for c in (0.0, -1.0):
    with pytest.raises(ValueError, match="c > 0"):
      optim.clip_params(c)


def test_clip_params_does_not_recompile():
  params = _params()
  tx = optax.chain(optax.rmsprop(1e-3), optim.clip_params(0.01))
  update = jax.jit(tx.update)
  state = tx.init(params)
  for _ in range(2):
    updates, state = update(params, state, params)
  assert update._cache_size() == 1


def test_torch_rmsprop_matches_the_torch_formula():
  # PyTorch: v = 0.99 v + 0.01 g²; p -= lr g / (sqrt(v) + eps).
  g = jnp.array([0.5, -2.0])
  tx = optim.torch_rmsprop(0.1)
  updates, _ = tx.update(g, tx.init(g))
  v = 0.01 * np.asarray(g) ** 2
  np.testing.assert_allclose(updates, -0.1 * np.asarray(g) / (np.sqrt(v) + 1e-8), rtol=1e-6)


def test_paper_optimizers():
  params = _params()
  for method in optim.PAPER_OPTIMIZERS:
    critic_tx = optim.make_optimizer(optim.PAPER_OPTIMIZERS[method][1])
    updates, _ = critic_tx.update(jax.tree.map(jnp.ones_like, params), critic_tx.init(params), params)
    new = optax.apply_updates(params, updates)
    clipped = all(float(jnp.max(jnp.abs(leaf))) <= 0.01 for leaf in jax.tree.leaves(new))
    assert clipped == (method == "wgan")  # only WGAN clips
  assert optim.PAPER_OPTIMIZERS["wgan"][1] == optim.OptimizerConfig("rmsprop", 5e-5, clip=0.01)
  assert optim.PAPER_OPTIMIZERS["wgan-gp"][1] == optim.OptimizerConfig("adam", 1e-4, 0.0, 0.9)
