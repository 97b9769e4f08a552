"""Per-image evaluation: the counts every dataset-level metric is built from.

Table 2 buckets (ground-truth target area in pixels): ``(0,10]``, ``(10,40]``, ``(40,inf)``.

* Pd of a bucket: matched targets of the bucket / targets of the bucket (one matching per image).
* IoU of a bucket (target-restricted): for each target t of the bucket let R_t be t's pixels plus the pixels
  of every predicted component that overlaps t or is matched to it; Inter = sum_t |pred & gt & R_t| and
  Union = sum_t |(pred | gt) & R_t|.
* Fa of a bucket: pixels of counted false-alarm components whose own area lies in the bucket, over all
  pixels, so the bucket values add up to the image's Fa.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from benchmark.metrics.components import components, distances, match
from benchmark.metrics.protocols import Protocol, get_protocol

BUCKETS = ("(0,10]", "(10,40]", "(40,inf)")
BUCKET_EDGES = np.array([10, 40])  # inclusive upper bounds


def bucket_of(areas: np.ndarray) -> np.ndarray:
    """Bucket index (0, 1, 2) of each area: (0,10], (10,40], (40,inf)."""
    return np.searchsorted(BUCKET_EDGES, areas, side="left")


@dataclass
class ImageStats:
    """Counts of one evaluated image (JSON-serialisable via :meth:`to_dict`)."""

    inter: int
    union: int
    n_pixels: int
    n_gt: int
    n_matched: int
    n_pred: int
    fa_pixels: int
    niou: float
    n_gt_b: list[int] = field(default_factory=lambda: [0, 0, 0])
    n_matched_b: list[int] = field(default_factory=lambda: [0, 0, 0])
    inter_b: list[int] = field(default_factory=lambda: [0, 0, 0])
    union_b: list[int] = field(default_factory=lambda: [0, 0, 0])
    fa_pixels_b: list[int] = field(default_factory=lambda: [0, 0, 0])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ImageStats":
        return cls(**data)


def _per_bucket(values: np.ndarray, buckets: np.ndarray) -> list[int]:
    return [int(v) for v in np.bincount(buckets, weights=values, minlength=3)[:3].round()]


def evaluate_image(pred: np.ndarray, gt: np.ndarray, protocol: Protocol | str = "irbench") -> ImageStats:
    """Compare a bool prediction with a bool ground truth of the same shape under ``protocol``.

    The masks must already be at the protocol's evaluation resolution (see ``Protocol.prepare``).
    """
    protocol = get_protocol(protocol)
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(f"prediction shape {pred.shape} and ground-truth shape {gt.shape} must be equal and 2-D")
    pred, gt = pred.astype(bool, copy=False), gt.astype(bool, copy=False)
    g, p = components(gt), components(pred)
    pairs = match(distances(g, p), protocol.distance, protocol.matcher)
    matched_pred = np.zeros(p.n, dtype=bool)
    matched_pred[pairs[:, 1]] = True
    matched_gt = np.zeros(g.n, dtype=bool)
    matched_gt[pairs[:, 0]] = True

    false = ~matched_pred
    if protocol.fa_counting == "area_value":
        false &= ~np.isin(p.areas, p.areas[matched_pred])
    fa_pixels = int(p.areas[false].sum())

    overlap = np.flatnonzero(pred & gt)
    inter = len(overlap)
    union = int(np.count_nonzero(pred)) + int(np.count_nonzero(gt)) - inter
    niou = inter / union if union else protocol.niou_empty

    gt_b = bucket_of(g.areas)
    # co-occurrence C[t, q] = pixels shared by target t and predicted component q
    co = np.zeros((g.n, p.n), dtype=np.int64)
    np.add.at(co, (g.labels.ravel()[overlap] - 1, p.labels.ravel()[overlap] - 1), 1)
    member = co > 0
    member[pairs[:, 0], pairs[:, 1]] = True
    gt_pixels_in_pred = co.sum(axis=0)
    inter_t = member @ gt_pixels_in_pred
    union_t = g.areas + member @ p.areas - co.sum(axis=1)
    return ImageStats(
        inter=inter, union=union, n_pixels=int(gt.size), n_gt=g.n, n_matched=len(pairs), n_pred=p.n,
        fa_pixels=fa_pixels, niou=float(niou),
        n_gt_b=_per_bucket(np.ones(g.n), gt_b),
        n_matched_b=_per_bucket(matched_gt.astype(float), gt_b),
        inter_b=_per_bucket(inter_t.astype(float), gt_b),
        union_b=_per_bucket(union_t.astype(float), gt_b),
        fa_pixels_b=_per_bucket(np.where(false, p.areas, 0).astype(float), bucket_of(p.areas)),
    )
