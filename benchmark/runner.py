"""The runner: every (method x image) task through the cache, then evaluation, then the run record.

Traditional detectors are scheduled over worker processes with joblib (``jobs``, default all cores) or
over a Dask cluster (``backend="dask"``); deep detectors run batched in this process. Finished score maps are in the store the moment they are
computed, so a killed run (even ``kill -9``) resumes with every finished image kept.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchmark.backends import Backend, make_backend
from benchmark.datasets import Dataset, get_dataset
from benchmark.detection import DetectJob, ImageRecord, detector_for, job_key, score_batched, score_images
from benchmark.environment import environment
from benchmark.evaluation import evaluate
from benchmark.metrics import get_protocol
from benchmark.policies import parse_policy
from benchmark.store import ScoreStore
from methods.registry import MissingWeightsError, NotConfigurableError, create, get_spec


class RunError(RuntimeError):
    """A run cannot start or was asked to stop on a data error (``on_error="fail"``)."""


@dataclass
class RunConfig:
    """What to run; mirrors ``irbench run``'s options."""

    methods: list[str]
    datasets: list[str]
    data_root: str | None = None
    split: str = "test"
    protocol: str = "irbench"
    policy: str | None = None  # None: each method's default policy
    jobs: int = -1
    out: Path = Path("results")
    cache: Path | None = None  # default: <out>/cache
    on_error: str = "skip"
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    name: str | None = None
    curves: bool = False
    ci: float | None = None  # bootstrap confidence level in percent (e.g. 95)
    compare_paper: bool = False
    backend: str = "joblib"
    scheduler: str | None = None  # Dask scheduler address; None with backend "dask": a local cluster


def _resolve_params(config: RunConfig) -> dict[str, dict[str, Any]]:
    resolved = {}
    for method in config.methods:
        spec = get_spec(method)
        params = {k: v for k, v in config.params.get(spec.name, {}).items() if v is not None}
        create(spec.name, **params)  # validates names and values before any work starts
        resolved[spec.name] = {**spec.defaults, **params}
    unused = set(config.params) - set(resolved)
    if unused:
        raise RunError(f"Parameters given for methods not in this run: {', '.join(sorted(unused))}")
    return resolved


def _chunks(items: list[str], n: int) -> list[list[str]]:
    return [items[i:i + n] for i in range(0, len(items), n)] if items else []


def _guided_chunks(items: list[str], workers: int, cap: int = 16) -> list[list[str]]:
    """Chunks that shrink toward the end (guided scheduling): each a quarter of the remaining items' share
    per worker, at most ``cap`` and at least 1, so that the workers finish together instead of one of them
    running a last full chunk alone (IRSTD-1k with 2 workers: 37 chunks from 16 images down to 1)."""
    chunks, start = [], 0
    while start < len(items):
        size = max(1, min(cap, (len(items) - start) // (4 * workers)))
        chunks.append(items[start:start + size])
        start += size
    return chunks


def _detect(job: DetectJob, backend: Backend, progress: Callable[[int], None]) -> list[ImageRecord]:
    ids = job.dataset.ids
    det = detector_for(job)
    if det.batched:
        batch = int(job.params.get("batch_size", 8))
        records: list[ImageRecord] = []
        for chunk in _chunks(ids, batch * 4):
            records += score_batched(job, chunk, batch)
            progress(len(chunk))
        return records
    by_id: dict[str, ImageRecord] = {}
    for result in backend.map_unordered(score_images, job, _guided_chunks(ids, backend.n_workers)):
        by_id.update((r.id, r) for r in result)
        progress(len(result))
    return [by_id[i] for i in ids]


def _cell(records: list[ImageRecord], metrics: dict[str, Any], policy: str) -> dict[str, Any]:
    times = [r.seconds for r in records if not (r.error or r.sample_error)]
    return {
        "status": "ok",
        "policy": policy,
        "metrics": metrics,
        "seconds_per_image": statistics.median(times) if times else None,
        "n_failed": sum(bool(r.error) for r in records),
        "n_cached": sum(r.cached for r in records),
    }


def run(config: RunConfig, log: Callable[[str], None] = print) -> Path:
    """Execute ``config``; return the run directory holding ``run.json``, per-image records and tables."""
    from benchmark.report import write_reports

    protocol = get_protocol(config.protocol)
    if config.policy:
        parse_policy(config.policy)
    if config.on_error not in ("skip", "fail"):
        raise RunError(f"on_error must be 'skip' or 'fail', got {config.on_error!r}")
    methods = [get_spec(m).name for m in config.methods]
    params = _resolve_params(config)
    datasets: list[Dataset] = [get_dataset(d, config.data_root, config.split) for d in config.datasets]
    out = Path(config.out)
    store = ScoreStore(config.cache or out / "cache")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_dir = out / (config.name or f"{stamp}_{'+'.join(d.name for d in datasets)}")
    run_dir.mkdir(parents=True, exist_ok=True)

    record: dict[str, Any] = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "protocol": {"name": protocol.name, "description": protocol.description},
        "split": config.split,
        "data_root": str(Path(config.data_root).resolve()) if config.data_root else None,
        "cache": str(store.root.resolve()),
        "compare_paper": config.compare_paper,
        "environment": environment(),
        "datasets": [d.describe() for d in datasets],
        "methods": [],
        "cells": {},
        "failures": [],
        "skipped": [],
    }
    per_image_path = run_dir / "per_image.jsonl"
    total = len(methods) * sum(len(d) for d in datasets)
    started = time.perf_counter()
    with make_backend(config.backend, config.jobs, config.scheduler) as backend, \
            per_image_path.open("w") as per_image, \
            tqdm(total=total, unit="img", desc="irbench", disable=None) as bar:
        for name in methods:
            spec = get_spec(name)
            policy = config.policy or spec.policy
            provenance: dict[str, Any] = {}
            record["cells"][name] = {}
            for dataset in datasets:
                bar.set_postfix_str(f"{name} on {dataset.name}")
                job = DetectJob(name, json.dumps(params[name], sort_keys=True), dataset, str(store.root.resolve()))
                try:
                    key = job_key(job)
                except (MissingWeightsError, NotConfigurableError) as exc:
                    status = "no weights" if isinstance(exc, MissingWeightsError) else "not run"
                    record["cells"][name][dataset.name] = {"status": status, "hint": str(exc)}
                    bar.update(len(dataset))
                    continue
                provenance = detector_for(job).provenance()
                store.sweep(name, key)  # temporary files of writers killed mid-write
                records = _detect(job, backend, bar.update)
                bad = [r for r in records if r.sample_error]
                if bad and config.on_error == "fail":
                    raise RunError(f"{dataset.name}: {bad[0].sample_error} (use --on-error skip to leave "
                                   f"such images out; {len(bad)} image(s) affected)")
                result = evaluate(dataset, store, name, key, records, protocol, policy, curves=config.curves,
                                  ci=config.ci)
                record["cells"][name][dataset.name] = {**_cell(records, result.metrics, result.policy),
                                                       "store_key": key}
                if result.curves is not None:
                    record["cells"][name][dataset.name]["curves"] = result.curves
                for r in records:
                    if r.error:
                        record["failures"].append({"dataset": dataset.name, "method": name, "id": r.id,
                                                   "error": r.error})
                    per_image.write(json.dumps({"dataset": dataset.name, "method": name, **r.to_dict(),
                                                "stats": result.per_image.get(r.id)}) + "\n")
                for r in bad:
                    entry = {"dataset": dataset.name, "id": r.id, "error": r.sample_error}
                    if entry not in record["skipped"]:
                        record["skipped"].append(entry)
            record["methods"].append(_method_record(name, params[name], config.policy or spec.policy, provenance))
    record["wall_seconds"] = time.perf_counter() - started
    (run_dir / "run.json").write_text(json.dumps(record, indent=1, default=str))
    write_reports(run_dir)
    for entry in record["skipped"]:
        log(f"skipped {entry['dataset']}/{entry['id']}: {entry['error']}")
    return run_dir


def _method_record(name: str, params: dict[str, Any], policy: str, provenance: dict[str, Any]) -> dict[str, Any]:
    spec = get_spec(name)
    return {"name": spec.name, "display": spec.label, "family": spec.family, "description": spec.description,
            "kind": spec.kind, "paper": spec.paper, "year": spec.year, "version": spec.version,
            "params": params, "policy": policy, "provenance": provenance}
