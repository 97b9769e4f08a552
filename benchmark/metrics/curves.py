"""Pd-Fa, IoU and ROC curves at every threshold, from one component tree per image.

The score maps are normalised to [0, 1] first (``Policy.normalise``). A pixel is predicted at threshold
``t_k = k / n`` (k = 0..n-1, compared in float32 like the map) when its score is ``> t_k``.

* Target level: Pd = matched targets / targets and Fa = false-alarm pixels / all pixels, with the
  protocol's matcher and Fa rule, equal at every threshold to binarising there and scoring with
  :func:`~benchmark.metrics.image.evaluate_image` (:mod:`benchmark.metrics.tree` computes all thresholds
  in one pass). Neither is monotone in general: raising the threshold can split a component and move its
  centroid onto a target.
* Pixel level, from per-level histograms: dataset IoU = target pixels above t / (targets + predicted -
  target pixels above t); ROC: TPR = target pixels above t / target pixels and FPR = background pixels
  above t / background pixels, both non-increasing in t.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics.components import components
from benchmark.metrics.protocols import Protocol, get_protocol
from benchmark.metrics.tree import threshold_counts

DEFAULT_THRESHOLDS = 256  # the resolution of an 8-bit map


def curve_thresholds(curves: bool | int) -> int:
    """Thresholds asked for by a ``curves`` option: ``True`` the default 256, an integer >= 2 that many,
    ``False`` or 0 none (0)."""
    if curves is True:
        return DEFAULT_THRESHOLDS
    if curves is False or curves == 0:
        return 0
    if not isinstance(curves, (int, np.integer)) or curves < 2:
        raise ValueError(f"curves must be True, False or a number of thresholds >= 2, got {curves!r}")
    return int(curves)


def above(hist: np.ndarray) -> np.ndarray:
    """From a histogram over levels 0..n, the number of pixels above each threshold k (level > k), k < n."""
    return np.cumsum(hist[::-1])[::-1][1:]


class CurveMetrics:
    """Accumulate Pd-Fa, IoU and ROC curves: ``update(normalised_score, gt)`` per image, then ``compute()``.

    Parameters
    ----------
    protocol : Protocol or str
        Matcher, Fa rule and evaluation resolution (the maps must already be at it).
    n_thresholds : int
        Thresholds 0, 1/n, ..., (n-1)/n (default 256).
    """

    def __init__(self, protocol: Protocol | str = "irbench", n_thresholds: int = DEFAULT_THRESHOLDS) -> None:
        if isinstance(n_thresholds, bool) or not isinstance(n_thresholds, (int, np.integer)) or n_thresholds < 2:
            raise ValueError(f"n_thresholds must be an int >= 2, got {n_thresholds!r}")
        self.protocol = get_protocol(protocol)
        self.n_thresholds = int(n_thresholds)
        self.reset()

    def reset(self) -> None:
        """Forget every accumulated image."""
        n = self.n_thresholds
        self._matched = np.zeros(n, dtype=np.int64)
        self._fa = np.zeros(n, dtype=np.int64)
        self._predicted = np.zeros(n, dtype=np.int64)
        self._hist_gt = np.zeros(n + 1, dtype=np.int64)
        self._hist_bg = np.zeros(n + 1, dtype=np.int64)
        self._targets = 0

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
        gt = gt.astype(bool, copy=False)
        g = components(gt)
        counts = threshold_counts(score, g, gt, self.protocol, self.n_thresholds)  # checks score in [0, 1]
        self._targets += g.n
        self._matched += counts.matched
        self._fa += counts.fa_pixels
        self._predicted += counts.predicted
        self._hist_gt += counts.hist_gt
        self._hist_bg += counts.hist_bg

    def compute(self) -> dict[str, Any]:
        """``thresholds``, target-level ``pd`` and ``fa``, pixel-level dataset ``iou`` and ``roc``
        (``thresholds``, ``tpr``, ``fpr``), each a list over the thresholds."""
        thresholds = (np.arange(self.n_thresholds) / self.n_thresholds).tolist()
        inter, above_bg = above(self._hist_gt), above(self._hist_bg)
        pos, neg = int(self._hist_gt.sum()), int(self._hist_bg.sum())
        union = pos + self._predicted - inter
        return {
            "protocol": self.protocol.name,
            "thresholds": thresholds,
            "pd": (self._matched / max(self._targets, 1)).tolist(),
            "fa": (self._fa / max(pos + neg, 1)).tolist(),
            "iou": np.where(union > 0, inter / np.maximum(union, 1), 0.0).tolist(),
            "roc": {
                "thresholds": thresholds,
                "tpr": (inter / max(pos, 1)).tolist(),
                "fpr": (above_bg / max(neg, 1)).tolist(),
            },
        }
