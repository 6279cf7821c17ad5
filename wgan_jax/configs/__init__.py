"""The config schema (``base``) and one module per experiment; see base.py."""

import os


def path(name: str) -> str:
  """The file of the config module ``name`` (``gaussians``), for ``--config`` defaults."""
  return os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
