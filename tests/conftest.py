import jax
import pytest


@pytest.fixture(autouse=True)
def _strict_rank_promotion():
  # Implicit broadcasting between ranks hides shape bugs; make it an error in every test.
  with jax.numpy_rank_promotion("raise"):
    yield
