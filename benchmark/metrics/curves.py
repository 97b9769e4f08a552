"""Pd-Fa and ROC curves over thresholds, in one pass over the images.

The score maps are normalised to [0, 1] first (``Policy.normalise``). A pixel is predicted at threshold t
when its score is ``> t``.

* Target-level curve: at each of ``n_thresholds`` thresholds k / n_thresholds, Pd = matched targets /
  targets and Fa = false-alarm pixels / normaliser pixels, with the protocol's matcher and Fa rule (the
  same counts as :func:`evaluate_image`). Neither is monotone in general: raising the threshold can split
  a component and move its centroid onto a target.
* Pixel ROC: 256-bin histograms of target and background scores (one ``bincount`` each per image);
  at threshold k / roc_bins, TPR = target pixels above it / target pixels and FPR = background pixels
  above it / background pixels. Both are non-increasing in the threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics.components import components, match_components
from benchmark.metrics.protocols import Protocol, get_protocol


def _levels(score: np.ndarray, bins: int) -> np.ndarray:
    """Level L of each score: the pixel is above threshold k / bins exactly when k < L."""
    return np.clip(np.ceil(score * bins).astype(np.int64), 0, bins)


class CurveMetrics:
    """Accumulate Pd-Fa and ROC curves: ``update(normalised_score, gt)`` per image, then ``compute()``.

    Parameters
    ----------
    protocol : Protocol or str
        Matcher, Fa rule and evaluation resolution (the maps must already be at it).
    n_thresholds : int
        Thresholds of the target-level curve: 0, 1/n, ..., (n-1)/n.
    roc_bins : int
        Thresholds of the pixel ROC: 0, 1/bins, ..., (bins-1)/bins.
    """

    def __init__(self, protocol: Protocol | str = "irbench", n_thresholds: int = 64, roc_bins: int = 256) -> None:
        for name, value in (("n_thresholds", n_thresholds), ("roc_bins", roc_bins)):
            if not isinstance(value, (int, np.integer)) or value < 2:
                raise ValueError(f"{name} must be an int >= 2, got {value!r}")
        self.protocol = get_protocol(protocol)
        self.n_thresholds = int(n_thresholds)
        self.roc_bins = int(roc_bins)
        self.reset()

    def reset(self) -> None:
        """Forget every accumulated image."""
        self._matched = np.zeros(self.n_thresholds, dtype=np.int64)
        self._fa = np.zeros(self.n_thresholds, dtype=np.int64)
        self._targets = 0
        self._pixels = 0
        self._hist_pos = np.zeros(self.roc_bins + 1, dtype=np.int64)
        self._hist_neg = np.zeros(self.roc_bins + 1, dtype=np.int64)

    def update(self, normalised_score: np.ndarray, gt: np.ndarray) -> None:
        """Add one image: a score map with values in [0, 1] and a bool mask of the same shape."""
        score, gt = np.asarray(normalised_score, dtype=np.float32), np.asarray(gt)
        if score.ndim != 2 or score.shape != gt.shape:
            raise ValueError(f"score shape {score.shape} and ground-truth shape {gt.shape} must be equal and 2-D")
        size = self.protocol.eval_size
        if size is not None and score.shape != (size, size):
            raise ValueError(
                f"protocol {self.protocol.name!r} evaluates at {size}x{size}, got shape "
                f"{score.shape}; call Protocol.prepare first"
            )
        if not (np.all(score >= 0) and np.all(score <= 1)):
            raise ValueError("normalised_score must lie in [0, 1] (use Policy.normalise)")
        gt = gt.astype(bool, copy=False)
        g = components(gt)
        self._targets += g.n
        self._pixels += gt.size
        # thresholds at or above the image maximum predict nothing: no match, no false alarm
        top = _levels(np.array(score.max()), self.n_thresholds)
        for k in range(int(top)):
            m = match_components(score > k / self.n_thresholds, g, self.protocol)
            self._matched[k] += len(m.pairs)
            self._fa[k] += int(m.pred.areas[m.false_alarm].sum())
        level = _levels(score, self.roc_bins)
        self._hist_pos += np.bincount(level[gt], minlength=self.roc_bins + 1)
        self._hist_neg += np.bincount(level[~gt], minlength=self.roc_bins + 1)

    def compute(self) -> dict[str, Any]:
        """Return ``thresholds``, ``pd``, ``fa`` (target level) and ``roc`` (``thresholds``, ``tpr``, ``fpr``)."""
        above_pos = np.cumsum(self._hist_pos[::-1])[::-1][1:]  # pixels with level > k
        above_neg = np.cumsum(self._hist_neg[::-1])[::-1][1:]
        pos, neg = max(int(self._hist_pos.sum()), 1), max(int(self._hist_neg.sum()), 1)
        return {
            "protocol": self.protocol.name,
            "thresholds": (np.arange(self.n_thresholds) / self.n_thresholds).tolist(),
            "pd": (self._matched / max(self._targets, 1)).tolist(),
            "fa": (self._fa / max(self._pixels, 1)).tolist(),
            "roc": {
                "thresholds": (np.arange(self.roc_bins) / self.roc_bins).tolist(),
                "tpr": (above_pos / pos).tolist(),
                "fpr": (above_neg / neg).tolist(),
            },
        }
