"""Scoring images with one detector through the score-map cache (the worker side of the runner).

A detector failure on one image (any exception, ``SystemExit`` included, a non-finite value, a wrong shape)
becomes that image's ``error``; a data problem (unreadable image, missing mask, size mismatch, too many
pixels) becomes its ``sample_error``. Neither stops the run. A :class:`DetectJob` carries everything a worker
needs (the registered target, resolved parameters, store key), so workers never consult the registry.
"""

from __future__ import annotations

import functools
import inspect
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from benchmark.datasets import Dataset, SampleError
from benchmark.store import Entry, ScoreStore, image_hash, method_key
from methods.registry import Detector, MethodSpec, create

PROBE_SHAPE = (64, 64)


@dataclass
class ImageRecord:
    """What scoring one image produced (the score map itself lives in the store)."""

    id: str
    img_hash: str = ""
    shape: tuple[int, ...] = ()
    seconds: float = 0.0
    cached: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # the detector failed on this image
    sample_error: str = ""  # the image/mask pair is unusable
    note: str = ""  # e.g. a cache entry that was corrupt or bound to another image, and was recomputed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DetectJob:
    """A method with resolved parameters, bound to a dataset and a store (picklable for workers)."""

    method: str
    version: str
    target: Any  # the registered function or Detector class (pickled by reference)
    params_json: str
    dataset: Dataset
    store_root: str
    key: str = ""  # the store key; set by :func:`bind`

    @classmethod
    def of(cls, spec: MethodSpec, params: dict[str, Any], dataset: Dataset, store_root: str) -> DetectJob:
        return cls(spec.name, spec.version, spec.target, json.dumps(params, sort_keys=True), dataset, store_root)

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json)


def protocol_params(spec: MethodSpec, eval_size: int | None, given: dict[str, Any]) -> dict[str, Any]:
    """The parameters ``spec``'s detector takes under a protocol evaluating at ``eval_size`` squared
    (:meth:`Detector.protocol_params`), unless the ``given`` parameters set the resolution themselves."""
    hook = getattr(spec.target, "protocol_params", None) if inspect.isclass(spec.target) else None
    return {} if hook is None or given.get("input_size") is not None else hook(eval_size)


@functools.lru_cache(maxsize=8)
def _detector(method: str, params_json: str, dataset: str) -> Detector:
    det = create(method, **json.loads(params_json))  # create() gives the detector its registered name
    det.configure(dataset)
    return det


def detector_for(job: DetectJob) -> Detector:
    """The (per-process cached) configured detector of ``job`` (a worker has imported ``job.target``'s module,
    and so registered the method, by unpickling the job)."""
    return _detector(job.method, job.params_json, job.dataset.name)


def bind(job: DetectJob) -> DetectJob:
    """``job`` with its store key: method name, version, parameters and detector provenance (configuring the
    detector may raise the registry's ``MissingWeightsError`` / ``NotConfigurableError``)."""
    key = method_key(job.method, job.version, job.params, detector_for(job).provenance())
    return DetectJob(job.method, job.version, job.target, job.params_json, job.dataset, job.store_root, key)


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


def probe_image() -> np.ndarray:
    """A small fixed image (seeded clutter with one bright blob, 0-255) for checking a detector."""
    rng = np.random.default_rng(0)
    image = rng.normal(60.0, 8.0, PROBE_SHAPE).astype(np.float32)
    image[30:33, 40:43] += 80.0
    return np.clip(image, 0, 255)


def probe(job: DetectJob) -> None:
    """Run ``job``'s detector once on :func:`probe_image` so that its own parameter checks run before any
    dataset image; raises what the detector raised."""
    image = probe_image()
    score, _meta = detector_for(job).detect_with_meta(image)
    check_score(score, image.shape)


def score_image(job: DetectJob, sample_id: str) -> ImageRecord:
    """Score one image (traditional detectors), reading and filling the store."""
    store = ScoreStore(job.store_root)
    record, image = _load(job.dataset, sample_id)
    if image is None or _cached(store, job, record):
        return record
    start = time.perf_counter()
    try:
        score, meta = detector_for(job).detect_with_meta(image)
        score = check_score(score, image.shape)
    except BaseException as exc:  # noqa: BLE001 - a failing detector (even sys.exit) costs its image only
        record.error = f"{type(exc).__name__}: {exc}"
        return record
    record.seconds, record.meta = time.perf_counter() - start, meta
    store.put(job.method, job.key, record.img_hash, Entry(score, record.seconds, meta))
    return record


def score_batched(job: DetectJob, ids: list[str], batch_size: int) -> list[ImageRecord]:
    """Score ``ids`` in batches in this process (deep detectors), reading and filling the store."""
    store = ScoreStore(job.store_root)
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
                store.put(job.method, job.key, record.img_hash, Entry(arr, per_image, {}))
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - Ctrl-C (KeyboardInterrupt) still stops the run
            for record, _ in pending:
                record.error = f"{type(exc).__name__}: {exc}"
        pending.clear()

    for sample_id in ids:
        record, image = _load(job.dataset, sample_id)
        records.append(record)
        if image is not None and not _cached(store, job, record):
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
    record.img_hash, record.shape = image_hash(image), image.shape
    return record, image


def _cached(store: ScoreStore, job: DetectJob, record: ImageRecord) -> bool:
    entry, problem = store.lookup(job.method, job.key, record.img_hash, record.shape)
    record.note = problem
    if entry is None:
        return False
    record.cached, record.seconds, record.meta = True, entry.seconds, entry.meta
    return True
