"""Pd-Fa and ROC curves over thresholds, in one pass over the images.

The maps are normalised to [0, 1] (by the policy). The pixel ROC uses 256-bin histograms of target and
background pixels (one ``bincount`` per image); the target-level Pd-Fa curve labels the mask at each of
``n_thresholds`` thresholds with the protocol's matcher and false-alarm rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics.image import evaluate_image
from benchmark.metrics.protocols import Protocol, get_protocol


class CurveMetrics:
    """Accumulate curves: ``update(normalised_score, gt)``, then ``compute()``."""

    def __init__(self, protocol: Protocol | str = "irbench", n_thresholds: int = 64, roc_bins: int = 256) -> None:
        if n_thresholds < 2 or roc_bins < 2:
            raise ValueError("n_thresholds and roc_bins must be >= 2")
        self.protocol = get_protocol(protocol)
        self.thresholds = np.arange(n_thresholds) / n_thresholds
        self.roc_bins = roc_bins
        self.reset()

    def reset(self) -> None:
        n = len(self.thresholds)
        self._matched = np.zeros(n, dtype=np.int64)
        self._fa = np.zeros(n, dtype=np.int64)
        self._targets = 0
        self._pixels = 0
        self._hist_pos = np.zeros(self.roc_bins + 1, dtype=np.int64)
        self._hist_neg = np.zeros(self.roc_bins + 1, dtype=np.int64)

    def update(self, score: np.ndarray, gt: np.ndarray) -> None:
        """Add one image: ``score`` in [0, 1] and a bool ``gt`` of the same shape."""
        score = np.asarray(score, dtype=np.float32)
        gt = np.asarray(gt, dtype=bool)
        for k, t in enumerate(self.thresholds):
            stats = evaluate_image(score > t, gt, self.protocol)
            self._matched[k] += stats.n_matched
            self._fa[k] += stats.fa_pixels
        self._targets += stats.n_gt
        self._pixels += gt.size
        level = np.clip(np.ceil(score * self.roc_bins).astype(np.int64), 0, self.roc_bins)
        self._hist_pos += np.bincount(level[gt], minlength=self.roc_bins + 1)
        self._hist_neg += np.bincount(level[~gt], minlength=self.roc_bins + 1)

    def compute(self) -> dict[str, Any]:
        """``thresholds``, ``pd``, ``fa`` (target level) and ``roc`` (pixel ``tpr`` / ``fpr``) as lists."""
        above_pos = np.cumsum(self._hist_pos[::-1])[::-1][1:]  # pixels with score > k / bins
        above_neg = np.cumsum(self._hist_neg[::-1])[::-1][1:]
        pos, neg = max(int(self._hist_pos.sum()), 1), max(int(self._hist_neg.sum()), 1)
        return {
            "protocol": self.protocol.name,
            "thresholds": self.thresholds.tolist(),
            "pd": (self._matched / max(self._targets, 1)).tolist(),
            "fa": (self._fa / max(self._pixels, 1)).tolist(),
            "roc": {"thresholds": (np.arange(self.roc_bins) / self.roc_bins).tolist(),
                    "tpr": (above_pos / pos).tolist(), "fpr": (above_neg / neg).tolist()},
        }
