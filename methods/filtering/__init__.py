"""filtering detectors."""
