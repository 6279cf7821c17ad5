"""absl flags generated from a frozen config dataclass, and one-line errors with exit status 2.

Each field becomes ``--<field>`` with the field's ``help`` metadata; the dataclass's
``__post_init__`` validates the values and raises ValueError naming the flag.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from typing import NoReturn

from absl import flags
from absl import logging

FLAGS = flags.FLAGS


def fail(message: str) -> NoReturn:
  """The project's answer to bad input: one line on stderr, exit status 2, no traceback."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def parse_or_exit(argv: list[str]) -> list[str]:
  """absl's flag parser, except that a malformed or unknown flag, or a positional argument
  (no launcher takes one), exits with status 2.

  A config file that raises (ml_collections puts its traceback in the message) is reported by
  its last line; an override of a field the config lacks (``--config.no_such=1``) by its name.
  """
  try:
    rest = FLAGS(argv)
  except flags.Error as e:
    lines = [line for line in str(e).splitlines() if line.strip()]
    fail(lines[0] if len(lines) < 2 else f"{lines[0]} {lines[-1].strip()}")
  except (AttributeError, KeyError) as e:  # ml_collections, for an unknown override
    field = str(e).strip("\"'")
    given = [a.split("=")[0] for a in argv[1:] if a.split("=")[0].endswith(f".{field}")]
    fail(f"{given[0] if given else field}: the config has no field {field!r}")
  if len(rest) > 1:
    fail(f"unexpected arguments: {' '.join(rest[1:])}")
  return rest


def config_or_exit(flag) -> typing.Any:
  """The value of an ml_collections config-file flag; a file that cannot be loaded exits 2."""
  config = flag.value
  try:
    config.get("")  # a config that failed to load raises on any access
  except OSError:
    fail(f"--{flag.name}: cannot load config file {FLAGS[flag.name].config_filename!r}")
  return config


def quiet_logging() -> None:
  """Libraries (orbax, tfds, jax) log every checkpoint and backend probe at INFO: show warnings
  and errors only, unless --verbosity was given."""
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)


def define_flags(config_cls: type) -> None:
  """One absl flag per field of ``config_cls``, defaulting to the field's default."""
  hints = typing.get_type_hints(config_cls)
  for field in dataclasses.fields(config_cls):
    kind, default, help_ = hints[field.name], field.default, field.metadata.get("help", "")
    if kind is bool:
      flags.DEFINE_bool(field.name, default, help_)
    elif kind is int:
      flags.DEFINE_integer(field.name, default, help_)
    elif kind is float:
      flags.DEFINE_float(field.name, default, help_)
    elif kind is str:
      flags.DEFINE_string(field.name, default, help_)
    elif typing.get_origin(kind) is tuple:
      flags.DEFINE_list(field.name, [str(v) for v in default], help_)
    else:
      raise TypeError(f"no flag type for field {field.name}: {kind}")


def config_from_flags(config_cls: type):
  """The config the parsed flags describe; ValueError names a flag whose value cannot be used."""
  hints = typing.get_type_hints(config_cls)
  values = {}
  for field in dataclasses.fields(config_cls):
    value = FLAGS[field.name].value
    if typing.get_origin(hints[field.name]) is tuple:
      item_type = typing.get_args(hints[field.name])[0]
      try:
        value = tuple(item_type(v) for v in value)
      except ValueError:
        raise ValueError(f"--{field.name}: expected a list of {item_type.__name__}, "
                         f"got {','.join(value)}") from None
    values[field.name] = value
  return config_cls(**values)
