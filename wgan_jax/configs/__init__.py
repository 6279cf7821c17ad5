"""The config schema (``base``) and one module per experiment; see base.py."""
