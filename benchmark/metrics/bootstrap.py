"""Bootstrap confidence intervals over images for IoU, Pd and Fa (percentile method, seeded)."""

from __future__ import annotations

import numpy as np

from benchmark.metrics.image import ImageStats


def bootstrap_ci(
    images: list[ImageStats], level: float = 95.0, n_resamples: int = 1000, seed: int = 0
) -> dict[str, list[float]]:
    """``{"iou": [lo, hi], "pd": [lo, hi], "fa": [lo, hi]}``: percentile intervals of the dataset-level
    metrics recomputed on ``n_resamples`` resamples of the images drawn with replacement."""
    if not 0 < level < 100:
        raise ValueError(f"confidence level must be in (0, 100), got {level}")
    if not images:
        return {}
    counts = np.array(
        [[s.inter, s.union, s.n_matched, s.n_gt, s.fa_pixels, s.n_pixels] for s in images], dtype=np.float64
    )
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(images), size=(n_resamples, len(images)))
    weights = np.apply_along_axis(np.bincount, 1, draws, minlength=len(images)).astype(np.float64)
    sums = weights @ counts  # (n_resamples, 6)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = {"iou": sums[:, 0] / sums[:, 1], "pd": sums[:, 2] / sums[:, 3], "fa": sums[:, 4] / sums[:, 5]}
    tail = (100 - level) / 2
    return {k: [float(np.nanpercentile(v, tail)), float(np.nanpercentile(v, 100 - tail))] for k, v in values.items()}
