import os

# One persistent compilation cache for the session: both test workers and every launcher a test
# starts (they inherit the environment). Most of the suite's time is XLA compiling programs that
# other tests, or other processes, compile again: the same quick configs built anew.
_CACHE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          ".pytest_cache", "jax-compilation")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE_DIR)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
# XLA's backend at its lowest optimisation level unless XLA_FLAGS names one: the same programs
# (the HLO passes still run), compiled by LLVM in about half the time on the CPU; the tests'
# networks are too small for the slower machine code to matter. benchmarks/device_check.sh
# keeps the default level on a GPU.
_FLAGS = os.environ.get("XLA_FLAGS", "")
if "--xla_backend_optimization_level" not in _FLAGS:
  os.environ["XLA_FLAGS"] = f"{_FLAGS} --xla_backend_optimization_level=0".strip()

import jax  # noqa: E402  (after the environment it reads)
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs",
                  float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))


# The longest files first: the workers take files in collection order, so a long file collected
# last keeps one worker busy while the other has nothing left to do.
LONGEST_FIRST = ("test_distributed.py", "test_paper_new_parts.py", "test_reproduce_mnist.py",
                 "test_paths.py", "test_reliability.py", "test_gaussians.py")


def pytest_collection_modifyitems(items):
  rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))  # stable


@pytest.fixture(autouse=True)
def _strict_rank_promotion():
  # Implicit broadcasting between ranks hides shape bugs; make it an error in every test.
  with jax.numpy_rank_promotion("raise"):
    yield
