"""The launchers' command line: flags parsed with one-line errors and exit status 2.

Every launcher in experiments/ takes ``--config=<file>[:variant]`` and ``--config.<field>=<value>``
(ml_collections ``config_flags``); ``parse_or_exit`` turns whatever the flags or the config file
raise into one line (a required flag left out by its name), ``run`` is the launchers' ``app.run``,
and ``quiet_logging`` keeps the libraries' log lines below WARNING off stderr.
"""

from __future__ import annotations

import logging as python_logging  # the levels of logging.Handler, not absl's verbosities
import os
import re
import sys
import traceback
import typing
from typing import NoReturn

from absl import app
from absl import flags
from absl import logging

FLAGS = flags.FLAGS


def fail(message: str) -> NoReturn:
  """The project's answer to bad input: one line on stderr, exit status 2, no traceback."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def parse_or_exit(argv: list[str]) -> list[str]:
  """absl's flag parser, except that a malformed or unknown flag, a positional argument (no
  launcher takes one) or a config file that cannot be loaded exits with status 2.

  A config file is run while the flags are parsed: whatever it raises (a syntax error, an
  exception in ``get_config``) is reported by its file, line and message; a ``get_config`` that
  returns None, or none at all, by the file. An override of a field the config lacks
  (``--config.no_such=1``) is reported by its name.
  """
  # ml_collections warns through absl logging while parsing, before absl has its flags; the
  # errors below say the same in one line.
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)
  try:
    rest = FLAGS(argv)
  except flags.Error as e:
    lines = [line for line in str(e).splitlines() if line.strip()]
    config_file = _config_file(argv)
    # absl says the same of a required flag left out and of a config file that gave None.
    missing = re.findall(r"Flag --(\S+) must have a value other than None", str(e))
    if config_file and "config" in missing:
      fail(f"--config: get_config() of {config_file} returned None; it must return a "
           f"ml_collections.ConfigDict")
    if missing:
      fail(_missing(missing))
    fail(lines[0] if len(lines) < 2 else f"{lines[0]} {lines[-1].strip()}")
  except (AttributeError, KeyError) as e:  # ml_collections, for an unknown override
    config_file = _config_file(argv)
    if isinstance(e, AttributeError) and "get_config" in str(e) and config_file:
      fail(f"--config: {config_file} defines no get_config() function")
    field = str(e).strip("\"'")
    given = [a.split("=")[0] for a in argv[1:]
             if a.split("=")[0].endswith(f".{field}") or f".{field}." in a.split("=")[0]]
    fail(f"{given[0] if given else field}: the config has no field {field!r}")
  except Exception as e:  # raised by the config file itself
    fail(f"--config: {_where(e, _config_file(argv))} raised {type(e).__name__}: "
         f"{_first_line(e)}; fix the config file")
  finally:
    if not FLAGS.is_parsed() or not FLAGS["verbosity"].present:
      logging.set_verbosity(verbosity)
  if len(rest) > 1:
    fail(f"unexpected arguments: {' '.join(rest[1:])}")
  return rest


def _missing(names: list[str]) -> str:
  """The error for required flags left out, with what the flag is for when there is one."""
  if len(names) > 1:
    return f"{', '.join(f'--{n}' for n in names[:-1])} and --{names[-1]} are required"
  meaning = (FLAGS[names[0]].help or "").strip().rstrip(".")
  return f"--{names[0]} is required" + (f": {meaning[:1].lower()}{meaning[1:]}" if meaning else "")


def _config_file(argv: list[str]) -> str | None:
  """The file of ``--config=<file>[:variant]`` in ``argv``, if there is one."""
  for i, arg in enumerate(argv[1:], 1):
    if arg.startswith("--config="):
      return arg[len("--config="):].split(":")[0]
    if arg == "--config" and i + 1 < len(argv):
      return argv[i + 1].split(":")[0]
  return None


def _where(error: Exception, config_file: str | None) -> str:
  """``<file> line <n>`` of the config file's line that raised ``error``."""
  if isinstance(error, SyntaxError) and error.filename:
    return f"{error.filename} line {error.lineno}"
  frames = [f for f in traceback.extract_tb(error.__traceback__)
            if config_file and os.path.abspath(f.filename) == os.path.abspath(config_file)]
  if frames:
    return f"{frames[-1].filename} line {frames[-1].lineno}"
  return config_file or "the config file"


def _first_line(error: Exception) -> str:
  if isinstance(error, SyntaxError):
    return error.msg
  return (str(error).strip().splitlines() or ["(no message)"])[0]


def run(main, config=None, default: bool = False) -> None:
  """``app.run(main)`` with ``parse_or_exit``; Ctrl-C outside a training loop (which turns it
  into a checkpoint, see ``train.STOP_SIGNALS``) ends with one line and status 130, the shell's
  code for SIGINT.

  ``config`` is the config module (wgan_jax/configs/) whose fields ``--help`` lists; with
  ``default``, a command line without ``--config`` loads that module's file. (A default given to
  ``DEFINE_config_file`` itself would be loaded, with the command line's overrides, while the
  launcher is imported: an unknown override there ends in a traceback, not in one line.)
  """
  parser = parse_or_exit
  if config is not None:
    module = sys.modules["__main__"]
    module.__doc__ = ((module.__doc__ or "").rstrip("\n") + "\n\nFields of the config, with "
                      "their defaults (set one with --config.<field>=<value>):\n"
                      + "\n".join(_fields(config.get_config())) + "\n")
    if default:
      parser = lambda argv: parse_or_exit(
          argv if _config_file(argv) else [argv[0], f"--config={config.__file__}", *argv[1:]])
  try:
    app.run(main, flags_parser=parser)
  except KeyboardInterrupt:
    print("error: interrupted (Ctrl-C)", file=sys.stderr)
    sys.exit(130)


def _fields(config, prefix: str = "--config") -> list[str]:
  lines = []
  for name, value in config.items():
    if hasattr(value, "items"):
      lines += _fields(value, f"{prefix}.{name}")
    else:
      lines.append(f"  {prefix}.{name}={value!r}")
  return lines


def config_or_exit(flag) -> typing.Any:
  """The value of an ml_collections config-file flag; a file that cannot be loaded exits 2."""
  config = flag.value
  try:
    config.get("")  # a config that failed to load raises on any access
  except OSError:
    fail(f"--{flag.name}: cannot load config file {FLAGS[flag.name].config_filename!r}")
  return config


def quiet_logging() -> None:
  """Library log lines below WARNING (orbax logs every checkpoint at INFO, jax its backend
  probes) stay off stderr unless --verbosity was given: absl's verbosity, and the level of its
  handler, which every logger's records reach, a library logger set to a lower level of its own
  included."""
  if FLAGS["verbosity"].present:
    return
  logging.set_verbosity(logging.WARNING)
  logging.get_absl_handler().setLevel(python_logging.WARNING)
