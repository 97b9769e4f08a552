"""Training of the deep detectors: data and augmentation, recipe lookup, the loop."""
