"""Dataset-level detection metrics as a streaming accumulator (``update`` / ``compute`` / ``reset``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from benchmark.metrics.image import BUCKETS, ImageStats, evaluate_image
from benchmark.metrics.protocols import Protocol, get_protocol


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


class DetectionMetrics:
    """IoU, nIoU, Pd, Fa, target precision/recall/F1 and Table 2 buckets under one protocol.

    All outputs are raw fractions: IoU = sum inter / sum union; nIoU = mean per-image IoU; Pd = matched
    targets / targets; Fa = false-alarm pixels / pixels; precision = matched / predicted components;
    recall = Pd; F1 their harmonic mean.
    """

    higher_is_better = {"iou": True, "niou": True, "pd": True, "fa": False, "precision": True, "recall": True,
                        "f1": True}

    def __init__(self, protocol: Protocol | str = "irbench") -> None:
        self.protocol = get_protocol(protocol)
        self.images: list[ImageStats] = []

    def update(self, pred: np.ndarray, gt: np.ndarray) -> ImageStats:
        """Evaluate one bool prediction against its bool ground truth and accumulate it."""
        stats = evaluate_image(pred, gt, self.protocol)
        self.add(stats)
        return stats

    def add(self, stats: ImageStats) -> None:
        """Accumulate an already-evaluated image."""
        self.images.append(stats)

    def reset(self) -> None:
        self.images = []

    def compute(self) -> dict[str, Any]:
        s = self.images
        total = {k: sum(getattr(x, k) for x in s) for k in
                 ("inter", "union", "n_pixels", "n_gt", "n_matched", "n_pred", "fa_pixels")}
        pd = _ratio(total["n_matched"], total["n_gt"])
        precision = _ratio(total["n_matched"], total["n_pred"])
        scales = {}
        for b, name in enumerate(BUCKETS):
            n_gt = sum(x.n_gt_b[b] for x in s)
            scales[name] = {
                "iou": _ratio(sum(x.inter_b[b] for x in s), sum(x.union_b[b] for x in s)),
                "pd": _ratio(sum(x.n_matched_b[b] for x in s), n_gt),
                "fa": _ratio(sum(x.fa_pixels_b[b] for x in s), total["n_pixels"]),
                "n_targets": n_gt,
                "n_images": sum(1 for x in s if x.n_gt_b[b]),
            }
        return {
            "protocol": self.protocol.name,
            "n_images": len(s),
            "n_targets": total["n_gt"],
            "iou": _ratio(total["inter"], total["union"]),
            "niou": float(np.mean([x.niou for x in s])) if s else 0.0,
            "pd": pd,
            "fa": _ratio(total["fa_pixels"], total["n_pixels"]),
            "precision": precision,
            "recall": pd,
            "f1": _ratio(2 * precision * pd, precision + pd),
            "scales": scales,
        }


def detection_metrics(preds: Iterable[np.ndarray], gts: Iterable[np.ndarray],
                      protocol: Protocol | str = "irbench") -> dict[str, Any]:
    """Functional form: evaluate pairs of bool masks and return :meth:`DetectionMetrics.compute`."""
    acc = DetectionMetrics(protocol)
    for pred, gt in zip(preds, gts, strict=True):
        acc.update(pred, gt)
    return acc.compute()
