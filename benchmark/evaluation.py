"""Scoring cached maps: score map -> protocol resolution -> binarisation policy -> metric accumulators.

A detector failure on an image counts as an empty prediction there (every target missed, no false alarm),
so a method cannot gain by failing; such images are listed in the report. Images whose data is unusable are
left out for every method and listed too. Score maps come from a ``score_of(record)`` callable (the runner's
reads the store and recomputes a map that vanished from it), so nothing here knows where maps live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmark.datasets import Dataset
from benchmark.detection import ImageRecord
from benchmark.metrics import CurveMetrics, DetectionMetrics, Protocol, bootstrap_ci
from benchmark.policies import Policy, parse_policy
from benchmark.record import PolicyRecord

DENSE_MASK_FRACTION = 0.25  # a mask marking more of its image as target is reported (inverted or corrupt?)
ScoreOf = Callable[[ImageRecord], np.ndarray]


@dataclass
class Evaluation:
    """The dataset-level metrics of one method on one dataset, with per-image statistics."""

    metrics: dict[str, Any]
    policy: PolicyRecord
    per_image: dict[str, dict[str, Any]]
    curves: dict[str, Any] | None = None
    dense_masks: dict[str, float] = field(default_factory=dict)  # id -> target fraction above the limit


def _maps(dataset: Dataset, records: list[ImageRecord], score_of: ScoreOf,
          protocol: Protocol) -> Iterator[tuple[ImageRecord, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(record, score, gt, native gt)`` (the first two at the protocol's resolution) for every usable
    image; a failed image's score is all zeros."""
    for record in records:
        if record.sample_error:
            continue
        _, native = dataset.load(record.id)
        score = np.zeros(native.shape, dtype=np.float32) if record.error else score_of(record)
        score, gt = protocol.prepare(score, native)
        yield record, score, gt, native


def evaluate(dataset: Dataset, records: list[ImageRecord], score_of: ScoreOf, protocol: Protocol,
             policy: str | Policy, curves: bool = False, ci: float | None = None) -> Evaluation:
    """Evaluate the maps of ``records`` (from ``score_of``) under ``protocol`` and ``policy``.

    The ``sweep`` policy first fits its dataset-level threshold in a pass over the cached maps.
    ``curves=True`` also computes the Pd-Fa and ROC curves (on the policy's normalised maps); ``ci`` (e.g.
    95) adds bootstrap confidence intervals of IoU, Pd and Fa over images as ``metrics["ci"]``.
    """
    pol = parse_policy(policy) if isinstance(policy, str) else policy
    if pol.needs_fit:
        for _, score, gt, _ in _maps(dataset, records, score_of, protocol):
            pol.fit_update(score, gt)
        pol.fit_done()
    acc = DetectionMetrics(protocol)
    curve = CurveMetrics(protocol) if curves else None
    per_image: dict[str, dict[str, Any]] = {}
    image_stats = []
    dense: dict[str, float] = {}
    for record, score, gt, native in _maps(dataset, records, score_of, protocol):
        if native.mean() > DENSE_MASK_FRACTION:
            dense[record.id] = float(native.mean())
        pred = np.zeros(gt.shape, bool) if record.error else pol.binarise(score)
        image_stats.append(acc.update(pred, gt))
        per_image[record.id] = image_stats[-1].to_dict()
        if curve is not None:
            curve.update(pol.normalise(score), gt)
    metrics = acc.compute()
    if ci:
        metrics["ci"] = {"level": ci, **bootstrap_ci(image_stats, ci)}
    return Evaluation(metrics=metrics, policy=pol.record(), per_image=per_image,
                      curves=curve.compute() if curve is not None else None, dense_masks=dense)
