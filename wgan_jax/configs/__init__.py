"""The config schema (``base``) and one module per experiment.

A reproduction or paper part that adds fields to the schema checks them in its config module,
``check(config)``, which it hands to ``checks.check_config(config, part=...)``; checks.py holds the
run-level rules alone.
"""
