"""Sample-quality metrics, one module per family: ``mixtures`` (the 2-D toy mixtures and the
exact W1) and ``images`` (the digit classifier and what it measures)."""
