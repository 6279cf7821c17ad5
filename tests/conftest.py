import os

# One persistent compilation cache for the session: both test workers and every launcher a test
# starts (they inherit the environment). Most of the suite's time is XLA compiling programs that
# other tests, or other processes, compile again: the same quick configs built anew.
_CACHE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          ".pytest_cache", "jax-compilation")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE_DIR)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import jax  # noqa: E402  (after the environment it reads)
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs",
                  float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))


@pytest.fixture(autouse=True)
def _strict_rank_promotion():
  # Implicit broadcasting between ranks hides shape bugs; make it an error in every test.
  with jax.numpy_rank_promotion("raise"):
    yield
