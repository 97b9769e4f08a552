"""Scoring score maps: score map -> protocol resolution -> binarisation policy -> metric accumulators.

:func:`score_maps` is the one scoring path: ``irbench run`` (through :func:`evaluate`), ``irbench evaluate``,
the figures and ``irbench reproduce`` call it with ``(id, score map, native ground truth)`` samples.
A detector failure on an image counts as an empty prediction there (every target missed, no false alarm),
so a method cannot gain by failing; such images are listed in the report. Images whose data is unusable are
left out for every method and listed too. In a run, score maps come from a ``score_of(record)`` callable
(the runner's reads the store and recomputes a map that vanished from it), so nothing here knows where maps
live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmark.datasets import Dataset
from benchmark.detection import ImageRecord
from benchmark.metrics import CurveMetrics, DetectionMetrics, ImageStats, Protocol, bootstrap_ci, get_protocol
from benchmark.metrics.curves import curve_thresholds
from benchmark.policies import Policy, parse_policy
from benchmark.record import PolicyRecord

DENSE_MASK_FRACTION = 0.25  # a mask marking more of its image as target is reported (inverted or corrupt?)
ScoreOf = Callable[[ImageRecord], np.ndarray]
Sample = tuple[str, np.ndarray | None, np.ndarray]  # (id, score map or None: failed image, native bool gt)


@dataclass
class Evaluation:
    """The dataset-level metrics of one method on one dataset, with per-image statistics."""

    metrics: dict[str, Any]
    policy: PolicyRecord
    per_image: dict[str, dict[str, Any]]
    curves: dict[str, Any] | None = None
    dense_masks: dict[str, float] = field(default_factory=dict)  # id -> target fraction above the limit
    predictions: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # id -> (pred, gt)


def _prepared(
    samples: Iterable[Sample], protocol: Protocol
) -> Iterator[tuple[str, bool, np.ndarray, np.ndarray, float]]:
    """``(id, failed, score, gt, native target fraction)`` per sample, score and gt at the protocol's
    resolution; a failed image's score is all zeros."""
    for sample_id, score, native in samples:
        failed = score is None
        score, gt = protocol.prepare(np.zeros(native.shape, np.float32) if failed else score, native)
        yield sample_id, failed, score, gt, np.count_nonzero(native) / native.size


def score_maps(
    samples: Iterable[Sample],
    protocol: Protocol | str,
    policy: str | Policy,
    curves: bool | int = False,
    ci: float | None = None,
    keep: bool = False,
) -> Evaluation:
    """Score ``(id, score map or None, native gt)`` samples under ``protocol`` and ``policy``.

    Each map and mask is brought to the protocol's resolution (:meth:`Protocol.prepare`), binarised by the
    policy and accumulated in :class:`DetectionMetrics`; a ``None`` map (a failed image) is an empty
    prediction, and an all-zero map for the policy's fit and the curves. A policy that needs fitting
    (``sweep``) is fitted on a first pass, so ``samples`` must then be re-iterable (a list, :class:`RecordMaps`).
    ``curves`` (``True``: 256 thresholds, or their number) adds the Pd-Fa, IoU and ROC curves at every
    threshold (on the policy's normalised maps); ``ci`` (e.g. 95) adds
    bootstrap confidence intervals of IoU, Pd and Fa over images as ``metrics["ci"]``; ``keep=True`` keeps
    each image's ``(prediction, gt)`` at the protocol's resolution, what the metrics counted.
    """
    proto = get_protocol(protocol)
    pol = parse_policy(policy) if isinstance(policy, str) else policy
    if pol.needs_fit:
        if iter(samples) is samples:
            raise TypeError(
                f"policy {pol.name!r} is fitted in a first pass: samples must be re-iterable (a list), not an iterator"
            )
        for _, _, score, gt, _ in _prepared(samples, proto):
            pol.fit_update(score, gt)
        pol.fit_done()
    acc = DetectionMetrics(proto)
    n_thresholds = curve_thresholds(curves)
    curve = CurveMetrics(proto, n_thresholds) if n_thresholds else None
    image_stats: list[ImageStats] = []
    result = Evaluation(metrics={}, policy=pol.record(), per_image={})
    for sample_id, failed, score, gt, fraction in _prepared(samples, proto):
        if fraction > DENSE_MASK_FRACTION:
            result.dense_masks[sample_id] = fraction
        pred = np.zeros(gt.shape, bool) if failed else pol.binarise(score)
        image_stats.append(acc.update(pred, gt))
        result.per_image[sample_id] = image_stats[-1].to_dict()
        if curve is not None:
            curve.update(pol.normalise(score), gt)
        if keep:
            result.predictions[sample_id] = (pred, gt)
    result.metrics = acc.compute()
    if ci:
        result.metrics["ci"] = {"level": ci, **bootstrap_ci(image_stats, ci)}
    result.curves = curve.compute() if curve is not None else None
    return result


class RecordMaps:
    """The usable records of a run cell as re-iterable samples: each map from ``score_of`` (``None`` for a
    failed image) and each mask read once (:meth:`Dataset.load_mask`, no image decoded) and kept for a second
    pass."""

    def __init__(self, dataset: Dataset, records: list[ImageRecord], score_of: ScoreOf) -> None:
        self.dataset, self.records, self.score_of = dataset, records, score_of
        self._masks: dict[str, np.ndarray] = {}

    def __iter__(self) -> Iterator[Sample]:
        for record in self.records:
            if record.sample_error:
                continue
            gt = self._masks.get(record.id)
            if gt is None:
                gt = self._masks[record.id] = self.dataset.load_mask(record.id)
            score = None if record.error else self.score_of(record)
            if record.error:  # score_of fails an image whose map vanished and could not be recomputed
                score = None
            yield record.id, score, gt


def evaluate(
    dataset: Dataset,
    records: list[ImageRecord],
    score_of: ScoreOf,
    protocol: Protocol,
    policy: str | Policy,
    curves: bool | int = False,
    ci: float | None = None,
) -> Evaluation:
    """:func:`score_maps` of the usable ``records`` of a run cell (maps from ``score_of``)."""
    return score_maps(RecordMaps(dataset, records, score_of), protocol, policy, curves, ci)
