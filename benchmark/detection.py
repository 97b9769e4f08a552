"""Scoring images with one detector through the score-map cache (the worker side of the runner).

A detector failure on one image (an exception, a non-finite value, a wrong shape) becomes that image's
``error``; a data problem (unreadable image, missing mask, size mismatch) becomes its ``sample_error``.
Neither stops the run.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from benchmark.datasets import Dataset, SampleError
from benchmark.store import Entry, ScoreStore, image_hash, method_key
from methods.registry import Detector, create, get_spec


@dataclass
class ImageRecord:
    """What scoring one image produced (the score map itself lives in the store)."""

    id: str
    img_hash: str = ""
    seconds: float = 0.0
    cached: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # the detector failed on this image
    sample_error: str = ""  # the image/mask pair is unusable

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DetectJob:
    """A method with resolved parameters, bound to a dataset and a store (picklable for workers)."""

    method: str
    params_json: str
    dataset: Dataset
    store_root: str

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json)


@functools.lru_cache(maxsize=8)
def _detector(method: str, params_json: str, dataset: str) -> Detector:
    det = create(method, **json.loads(params_json))
    det.configure(dataset)
    return det


def detector_for(job: DetectJob) -> Detector:
    """The (per-process cached) configured detector of ``job``."""
    return _detector(job.method, job.params_json, job.dataset.name)


def job_key(job: DetectJob) -> str:
    """The store key of ``job``'s method, parameters, version and detector provenance."""
    spec = get_spec(job.method)
    return method_key(spec.name, spec.version, job.params, detector_for(job).provenance())


def check_score(score: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Validate a detector output: an array of the image's shape with finite values (else ``ValueError``)."""
    arr = np.asarray(score)
    if arr.shape != shape:
        raise ValueError(f"detector returned shape {arr.shape}, expected {shape}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"detector returned {bad} non-finite values (NaN/inf)")
    return arr


def score_images(job: DetectJob, ids: list[str]) -> list[ImageRecord]:
    """Score ``ids`` one at a time (traditional detectors), reading and filling the store."""
    store, key = ScoreStore(job.store_root), job_key(job)
    det = detector_for(job)
    records = []
    for sample_id in ids:
        record, image = _load(job.dataset, sample_id)
        if image is None or _cached(store, job.method, key, record):
            records.append(record)
            continue
        start = time.perf_counter()
        try:
            score, meta = det.detect_with_meta(image)
            score = check_score(score, image.shape)
        except Exception as exc:  # a failing detector must not stop the run
            record.error = f"{type(exc).__name__}: {exc}"
            records.append(record)
            continue
        record.seconds, record.meta = time.perf_counter() - start, meta
        store.put(job.method, key, record.img_hash, Entry(score, record.seconds, meta))
        records.append(record)
    return records


def score_batched(job: DetectJob, ids: list[str], batch_size: int) -> list[ImageRecord]:
    """Score ``ids`` in batches in this process (deep detectors), reading and filling the store."""
    store, key = ScoreStore(job.store_root), job_key(job)
    det = detector_for(job)
    records: list[ImageRecord] = []
    pending: list[tuple[ImageRecord, np.ndarray]] = []

    def flush() -> None:
        start = time.perf_counter()
        try:
            scores = det.detect_batch([im for _, im in pending])
            per_image = (time.perf_counter() - start) / len(pending)
            for (record, image), score in zip(pending, scores, strict=True):
                try:
                    arr = check_score(score, image.shape)
                except ValueError as exc:
                    record.error = str(exc)
                    continue
                record.seconds = per_image
                store.put(job.method, key, record.img_hash, Entry(arr, per_image, {}))
        except Exception as exc:
            for record, _ in pending:
                record.error = f"{type(exc).__name__}: {exc}"
        pending.clear()

    for sample_id in ids:
        record, image = _load(job.dataset, sample_id)
        records.append(record)
        if image is not None and not _cached(store, job.method, key, record):
            pending.append((record, image))
            if len(pending) >= batch_size:
                flush()
    if pending:
        flush()
    return records


def _load(dataset: Dataset, sample_id: str) -> tuple[ImageRecord, np.ndarray | None]:
    record = ImageRecord(id=sample_id)
    try:
        image, _ = dataset.load(sample_id)
    except SampleError as exc:
        record.sample_error = str(exc)
        return record, None
    record.img_hash = image_hash(image)
    return record, image


def _cached(store: ScoreStore, method: str, key: str, record: ImageRecord) -> bool:
    entry = store.get(method, key, record.img_hash)
    if entry is None:
        return False
    record.cached, record.seconds, record.meta = True, entry.seconds, entry.meta
    return True
