"""ConfigError and the checks of one field, shared by checks.py (the run-level rules) and the
config modules that check their own sections.

Each check raises ConfigError with one line that names the flag (``--config.<path>.<name>``), the
rule and the value given.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable

import jax

# The step counter, the networks' shapes and the scanned loops' lengths are int32 (JAX without
# x64), so no count can exceed this; a larger one fails deep inside a trace.
MAX_COUNT = 2**31 - 1
# jax.random.key and numpy's generators take any 32-bit seed, and the runs derive a few more
# seeds by adding small offsets, which stay within int64.
MAX_SEED = 2**32 - 1


class ConfigError(ValueError):
  """A config or workdir that cannot run; nothing has been written."""


def memory_bytes() -> int:
  """Memory of the first device: what an accelerator reports, else the host's physical RAM."""
  stats = jax.local_devices()[0].memory_stats() or {}
  if stats.get("bytes_limit"):
    return int(stats["bytes_limit"])
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gib(n: int) -> str:
  return f"{n / 2**30:,.1f} GiB"


def check_count(name: str, value: Any, low: int = 1,
                bytes_of: Callable[[int], int] | None = None, what: str = "") -> None:
  """ConfigError unless ``value`` is an integer in [low, MAX_COUNT] and ``bytes_of(value)``
  bytes (``what`` says of what; growing with the value) fit in the memory of the device; the
  message names the largest value that does."""
  if not is_int(value):
    raise ConfigError(f"{name} must be an integer, got {value!r}")
  if value < low:
    raise ConfigError(f"{name} must be at least {low}, got {value!r}")
  if value > MAX_COUNT:
    raise ConfigError(f"{name} must be at most {MAX_COUNT} (counts and shapes are 32-bit "
                      f"integers), got {value}")
  if bytes_of is not None:
    have = memory_bytes()
    if bytes_of(value) > have:
      fits, too_big = low - 1, value  # bisection: bytes_of(fits) <= have < bytes_of(too_big)
      while too_big - fits > 1:
        middle = (fits + too_big) // 2
        fits, too_big = (middle, too_big) if bytes_of(middle) <= have else (fits, middle)
      raise ConfigError(f"{name}={value} needs at least {gib(bytes_of(value))} for {what}, "
                        f"more than the {gib(have)} of memory here; use at most {fits}")


def check_seed(name: str, value: Any) -> None:
  """ConfigError unless ``value`` is a seed in [0, MAX_SEED]."""
  if not is_int(value):
    raise ConfigError(f"{name} must be an integer, got {value!r}")
  if value < 0:
    raise ConfigError(f"{name} must be at least 0, got {value}")
  if value > MAX_SEED:
    raise ConfigError(f"{name} must be at most {MAX_SEED} (seeds are 32-bit), got {value}")


def is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def at_least(section, path: str, name: str, low: int) -> None:
  check_count(f"--config.{path}.{name}", section[name], low)


def one_of(section, path: str, name: str, choices, what: str) -> None:
  value = section[name]
  if value not in choices:
    raise ConfigError(f"--config.{path}.{name}: unknown {what} {value!r}; "
                      f"choose from {', '.join(choices)}")


def positive(name: str, value: Any) -> None:
  if not is_number(value) or not (math.isfinite(value) and value > 0):
    raise ConfigError(f"--config.{name} must be a finite number above 0, got {value!r}")


def boolean(section, path: str, name: str) -> None:
  if not isinstance(section[name], bool):
    raise ConfigError(f"--config.{path}.{name} must be True or False, got {section[name]!r}")
