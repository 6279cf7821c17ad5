"""Sample-quality metrics, one module per family: ``mixtures`` (the 2-D toy mixtures and the
exact W1), ``digits`` (the digit classifier and what it measures), ``inception`` and ``fid`` (the
FID Inception and the statistics on its features: FID, KID, IS, precision/recall), and
``evaluation`` (FID and KID during training)."""
