"""The convergence rule of wgan_jax/paper/convergence.py, on series whose answer is known."""

import jax
import jax.numpy as jnp
import numpy as np

from wgan_jax.paper import convergence


def test_converged_compares_the_estimate_with_the_one_at_half_the_steps():
  # 1.00 -> 1.04 is a 3.8% change of the current estimate; 1.00 -> 1.06 is 5.7%.
  assert convergence.converged(1.00, 1.04)
  assert not convergence.converged(1.00, 1.06)
  # A falling estimate: |0.5 - 0.52| = 0.02 < 0.05 * 0.5 = 0.025.
  assert convergence.converged(0.52, 0.5)
  assert not convergence.converged(0.53, 0.5)
  assert not convergence.converged(0.0, 0.0)
  assert not convergence.converged(np.nan, 1.0)
  np.testing.assert_array_equal(convergence.converged([1.0, 1.0], [1.01, 2.0]), [True, False])


def test_convergence_step_on_a_saturating_series():
  # e(t) = 1 - exp(-t / 1000), recorded every 250 steps, checked every 500. By hand: at
  # t = 3000, e(1500) = 0.7769 and e(3000) = 0.9502, a change of 18%; at t = 5000, e(2500) =
  # 0.9179, e(5000) = 0.99326, 7.6%; at t = 5500, e(2750) = 0.93607, e(5500) = 0.99591, 6.0%;
  # at t = 6000, e(3000) = 0.95021, e(6000) = 0.99752, 4.7%: the first check under 5%.
  steps_T = np.arange(0, 10_001, 250)
  estimates_T = 1 - np.exp(-steps_T / 1000)
  assert convergence.convergence_step(steps_T, estimates_T, check_every=500) == 6000
  # A series that still climbs linearly never meets the rule: e(t)/e(t/2) = 2.
  assert convergence.convergence_step(steps_T, steps_T.astype(float), check_every=500) is None


def test_train_to_convergence_freezes_each_critic_at_its_check():
  # Two "critics" whose state x moves toward a target at rates r; the estimate is x itself.
  # x(t) = 1 - (1 - r)^t: critic 0 (r = 0.01) converges at the first check where x(t) and x(t/2)
  # differ by less than 5% (t = 500: x(250) = 0.919, x(500) = 0.9934, 7.5%; t = 1000: 0.7%);
  # critic 1 (r = 0) never moves: its estimate 0 never converges.
  rates = jnp.asarray([0.01, 0.0])

  def advance(x_G, key, num_steps):
    del key
    return 1 - (1 - x_G) * (1 - rates) ** num_steps

  trained = convergence.train_to_convergence(advance, np.asarray, jnp.zeros(2), jax.random.key(0),
                                             check_every=500, max_steps=2000)
  x = lambda t: 1 - 0.99 ** t
  # At t = 500 the change since t = 250 is (x(500) - x(250)) / x(500).
  first = next(t for t in (500, 1000, 1500, 2000) if (x(t) - x(t / 2)) / x(t) < 0.05)
  assert first == 1000
  assert trained.converged_at_G.tolist() == [first, -1]
  assert not trained.all_converged
  assert trained.steps_G.tolist() == [first, 2000]
  np.testing.assert_allclose(float(trained.states[0]), x(first), rtol=1e-5)  # frozen there
  np.testing.assert_array_equal(trained.steps_T, np.arange(0, 2001, 250))
  np.testing.assert_allclose(trained.estimates_TxG[-1], [x(first), 0.0], rtol=1e-5)
