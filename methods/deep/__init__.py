"""deep detectors."""
