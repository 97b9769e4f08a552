"""Training of the deep detectors: data and augmentation, per-model recipes, the loop, Tables 3-6."""
