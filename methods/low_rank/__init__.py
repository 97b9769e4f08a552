"""low rank detectors."""
