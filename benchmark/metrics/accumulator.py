"""Dataset-level detection metrics as a streaming accumulator (``update`` / ``add`` / ``compute`` / ``reset``).

All outputs are raw fractions (not percent, not x1e-6):

* IoU = sum of intersections / sum of unions over the dataset; nIoU = mean of the per-image IoU.
* Pd = matched targets / targets; Fa = false-alarm pixels / sum of the protocol's normaliser pixels.
* Target-level precision = matched targets / predicted components (dataset sums), recall = Pd,
  F1 = their harmonic mean.
* ``n_background``: images without any target (they count for Fa and nIoU, not for Pd).
* ``scales``: per Table 2 bucket, IoU (target-restricted), Pd, Fa (the bucket Fa add up to Fa), the
  number of targets and of images holding at least one target of the bucket.

A ratio whose denominator is 0 is reported as 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from benchmark.metrics.image import BUCKETS, ImageStats, evaluate_image
from benchmark.metrics.protocols import Protocol, get_protocol

TOTALS = ("inter", "union", "n_pixels", "n_gt", "n_matched", "n_pred", "fa_pixels")
BUCKET_TOTALS = ("n_gt_b", "n_matched_b", "inter_b", "union_b", "fa_pixels_b")


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


class DetectionMetrics:
    """IoU, nIoU, Pd, Fa, target precision/recall/F1 and Table 2 buckets under one protocol.

    Parameters
    ----------
    protocol : Protocol or str
        The evaluation protocol (default ``irbench``).
    """

    higher_is_better = {
        "iou": True,
        "niou": True,
        "pd": True,
        "fa": False,
        "precision": True,
        "recall": True,
        "f1": True,
    }

    def __init__(self, protocol: Protocol | str = "irbench") -> None:
        self.protocol = get_protocol(protocol)
        self.reset()

    def reset(self) -> None:
        """Forget every accumulated image."""
        self._totals = dict.fromkeys(TOTALS, 0)
        self._buckets = {k: np.zeros(3, dtype=np.int64) for k in BUCKET_TOTALS}
        self._bucket_images = np.zeros(3, dtype=np.int64)
        self._niou_sum = 0.0
        self._n_images = 0
        self._n_background = 0

    def update(self, pred: np.ndarray, gt: np.ndarray) -> ImageStats:
        """Evaluate one bool prediction against its bool ground truth, accumulate and return its stats."""
        stats = evaluate_image(pred, gt, self.protocol)
        self.add(stats)
        return stats

    def add(self, stats: ImageStats) -> None:
        """Accumulate an already evaluated image (e.g. read back with ``ImageStats.from_dict``)."""
        for k in TOTALS:
            self._totals[k] += getattr(stats, k)
        for k in BUCKET_TOTALS:
            self._buckets[k] += getattr(stats, k)
        self._bucket_images += np.asarray(stats.n_gt_b) > 0
        self._niou_sum += stats.niou_i
        self._n_images += 1
        self._n_background += stats.n_gt == 0

    def compute(self) -> dict[str, Any]:
        """Return the dataset-level metrics (raw fractions) described in the module docstring."""
        t, b = self._totals, self._buckets
        pd = _ratio(t["n_matched"], t["n_gt"])
        precision = _ratio(t["n_matched"], t["n_pred"])
        scales = {
            name: {
                "iou": _ratio(b["inter_b"][i], b["union_b"][i]),
                "pd": _ratio(b["n_matched_b"][i], b["n_gt_b"][i]),
                "fa": _ratio(b["fa_pixels_b"][i], t["n_pixels"]),
                "n_targets": int(b["n_gt_b"][i]),
                "n_images": int(self._bucket_images[i]),
            }
            for i, name in enumerate(BUCKETS)
        }
        return {
            "protocol": self.protocol.name,
            "n_images": self._n_images,
            "n_background": self._n_background,
            "n_targets": t["n_gt"],
            "iou": _ratio(t["inter"], t["union"]),
            "niou": _ratio(self._niou_sum, self._n_images),
            "pd": pd,
            "fa": _ratio(t["fa_pixels"], t["n_pixels"]),
            "precision": precision,
            "recall": pd,
            "f1": _ratio(2 * precision * pd, precision + pd),
            "scales": scales,
        }


def detection_metrics(
    preds: Iterable[np.ndarray], gts: Iterable[np.ndarray], protocol: Protocol | str = "irbench"
) -> dict[str, Any]:
    """Functional twin of :class:`DetectionMetrics`: evaluate pairs of bool masks and return ``compute()``."""
    acc = DetectionMetrics(protocol)
    for pred, gt in zip(preds, gts, strict=True):
        acc.update(pred, gt)
    return acc.compute()
