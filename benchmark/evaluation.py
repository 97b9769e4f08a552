"""Scoring cached maps: score map -> protocol resolution -> binarisation policy -> metric accumulators.

A detector failure on an image counts as an empty prediction there (every target missed, no false alarm),
so a method cannot gain by failing; such images are listed in the report. Images whose data is unusable are
left out for every method and listed too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.datasets import Dataset
from benchmark.detection import ImageRecord
from benchmark.metrics import CurveMetrics, DetectionMetrics, Protocol, bootstrap_ci
from benchmark.policies import Policy, parse_policy
from benchmark.store import ScoreStore


@dataclass
class Evaluation:
    """The dataset-level metrics of one method on one dataset, with per-image statistics."""

    metrics: dict[str, Any]
    policy: str
    per_image: dict[str, dict[str, Any]]
    curves: dict[str, Any] | None = None


def _maps(dataset: Dataset, store: ScoreStore, method: str, key: str, records: list[ImageRecord],
          protocol: Protocol) -> Iterator[tuple[ImageRecord, np.ndarray, np.ndarray]]:
    """Yield ``(record, score, gt)`` at the protocol's resolution for every usable image."""
    for record in records:
        if record.sample_error:
            continue
        _, gt = dataset.load(record.id)
        entry = None if record.error else store.get(method, key, record.img_hash)
        if entry is None:
            if not record.error:
                record.error = "score map missing from the store"
            score = np.zeros(gt.shape, dtype=np.float32)
        else:
            score = entry.score
        score, gt = protocol.prepare(score, gt)
        yield record, score, gt


def evaluate(dataset: Dataset, store: ScoreStore, method: str, key: str, records: list[ImageRecord],
             protocol: Protocol, policy: str | Policy, curves: bool = False,
             ci: float | None = None) -> Evaluation:
    """Evaluate the cached maps of ``records`` under ``protocol`` and ``policy``.

    The ``sweep`` policy first fits its dataset-level threshold in a pass over the cached maps.
    ``curves=True`` also computes the Pd-Fa and ROC curves (on the policy's normalised maps); ``ci`` (e.g.
    95) adds bootstrap confidence intervals of IoU, Pd and Fa over images as ``metrics["ci"]``.
    """
    pol = parse_policy(policy) if isinstance(policy, str) else policy
    if pol.needs_fit:
        for record, score, gt in _maps(dataset, store, method, key, records, protocol):
            pol.fit_update(score if not record.error else np.zeros_like(score), gt)
        pol.fit_done()
    acc = DetectionMetrics(protocol)
    curve = CurveMetrics(protocol) if curves else None
    per_image: dict[str, dict[str, Any]] = {}
    image_stats = []
    for record, score, gt in _maps(dataset, store, method, key, records, protocol):
        pred = np.zeros(gt.shape, bool) if record.error else pol.binarise(score)
        image_stats.append(acc.update(pred, gt))
        per_image[record.id] = image_stats[-1].to_dict()
        if curve is not None:
            curve.update(pol.normalise(score), gt)
    metrics = acc.compute()
    if ci:
        metrics["ci"] = {"level": ci, **bootstrap_ci(image_stats, ci)}
    return Evaluation(metrics=metrics, policy=pol.name, per_image=per_image,
                      curves=curve.compute() if curve is not None else None)
