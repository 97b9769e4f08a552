"""The runner: every (method x image) task through the cache, then evaluation, then the run record.

Before any image is scored, each method's parameters go through the detector's own checks (a call on a small
probe image for traditional detectors) and each deep detector's weights are read and strictly loaded once per
dataset; a failure there is one ``failed`` cell, reported once. Traditional detectors then run one image at
a time in isolated worker processes (``jobs``, default all usable cores; per-image time limit ``timeout``);
deep detectors run batched in this process. Finished score maps are in the store the moment they are
computed and ``run.json`` is rewritten after every cell, marked incomplete until the run ends, so a killed
run (even ``kill -9``) resumes with every finished image kept.
"""

from __future__ import annotations

import inspect
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.backends import Backend, make_backend
from benchmark.datasets import DEFAULT_MAX_PIXELS, Dataset, get_dataset
from benchmark.detection import (
    PROBE_SHAPE,
    DetectJob,
    ImageRecord,
    bind,
    detector_for,
    probe,
    protocol_params,
    score_batched,
    score_image,
)
from benchmark.environment import environment
from benchmark.evaluation import DENSE_MASK_FRACTION, Evaluation, evaluate
from benchmark.files import dumps, make_folder, write_text
from benchmark.leakage import Overlap, TrainingHashes
from benchmark.metrics import Protocol, get_protocol
from benchmark.policies import parse_policy
from benchmark.progress import Progress
from benchmark.record import (
    FAILED,
    NO_USABLE,
    NO_WEIGHTS,
    NOT_RUN,
    OK,
    Cell,
    ImageIssue,
    MethodEntry,
    RecordError,
    RunRecord,
)
from benchmark.store import ScoreStore
from methods.registry import MethodSpec, MissingWeightsError, NotConfigurableError, create, get_spec

DEFAULT_TIMEOUT = 600.0  # seconds per image; the slowest IRSTD-1k image of any built-in method takes < 100 s


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
    curves: bool | int = False  # Pd-Fa/IoU/ROC curves: True (256 thresholds) or their number
    ci: float | None = None  # bootstrap confidence level in percent (e.g. 95)
    compare_paper: bool = False
    backend: str = "local"
    scheduler: str | None = None  # Dask scheduler address; None with backend "dask": a local cluster
    timeout: float | None = DEFAULT_TIMEOUT  # per image, traditional detectors; None or 0: no limit
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    overwrite: bool = False
    limit: int | None = None  # only the first N images of each dataset (a smoke run); None: all
    exclude_seen: bool = False  # score each cell on the images its checkpoint was not trained on
    command: list[str] = field(default_factory=list)


def _is_batched(spec: MethodSpec) -> bool:
    return inspect.isclass(spec.target) and bool(spec.target.batched)


def _resolve_params(config: RunConfig, protocol: Protocol) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Resolved parameters per method (defaults, then what the detector takes under ``protocol``, then the
    user's), and the reason for each method whose parameters are rejected."""
    resolved, rejected = {}, {}
    for method in config.methods:
        spec = get_spec(method)
        params = {k: v for k, v in config.params.get(spec.name, {}).items() if v is not None}
        by_protocol = protocol_params(spec, protocol.eval_size, params)
        resolved[spec.name] = {**spec.defaults, **by_protocol, **params}
        try:
            create(spec.name, **params)  # parameter names, and values a Detector class checks itself
        except Exception as exc:  # noqa: BLE001 - a bad parameter costs its method's cells, not the run
            rejected[spec.name] = f"{type(exc).__name__}: {exc}"
    unused = set(config.params) - set(resolved)
    if unused:
        raise RunError(f"Parameters given for methods not in this run: {', '.join(sorted(unused))}")
    return resolved, rejected


def _run_dir(config: RunConfig, datasets: list[Dataset], log: Callable[[str], None]) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = Path(config.out) / (config.name or f"{stamp}_{'+'.join(d.name for d in datasets)}")
    if run_dir.exists() and any(run_dir.iterdir()) and not config.overwrite:
        try:
            previous = RunRecord.read(run_dir)
        except RecordError:
            previous = None
        if previous is None or previous.complete:
            raise RunError(
                f"{run_dir} already holds {'a finished run' if previous else 'other files'}; pass "
                f"--overwrite to replace it or choose another --name"
            )
        log(f"irbench: resuming the incomplete run in {run_dir} (finished images come from the cache)")
    return make_folder(run_dir)


def _probe_all(jobs: list[DetectJob], backend: Backend, timeout: float | None) -> dict[str, str]:
    """Run each traditional job's detector on the probe image in the workers; method -> failure reason."""

    def failed(job: DetectJob, message: str) -> tuple[str, str]:
        return job.method, message

    h, w = PROBE_SHAPE
    return {
        m: f"failed on a {w}x{h} probe image, before any dataset image: {why}"
        for m, why in backend.map_unordered(_probe_task, None, jobs, failed, timeout)
        if why
    }


def _probe_task(_: None, job: DetectJob) -> tuple[str, str]:
    probe(job)
    return job.method, ""


def _detect(
    job: DetectJob, batched: bool, backend: Backend, timeout: float | None, progress: Callable[[int], None]
) -> list[ImageRecord]:
    ids = job.dataset.ids
    if batched:
        batch = int(job.params.get("batch_size", 8))
        records: list[ImageRecord] = []
        for start in range(0, len(ids), batch * 4):
            records += score_batched(job, ids[start : start + batch * 4], batch)
            progress(len(records) - start)
        return records

    def failed(sample_id: str, message: str) -> ImageRecord:
        return ImageRecord(id=sample_id, error=message)

    by_id: dict[str, ImageRecord] = {}
    for record in backend.map_unordered(score_image, job, ids, failed, timeout):
        by_id[record.id] = record
        progress(1)
    return [by_id[i] for i in ids]


def _score_of(
    job: DetectJob, batched: bool, backend: Backend, timeout: float | None
) -> Callable[[ImageRecord], np.ndarray]:
    """The map of a record from the store; one that vanished since detection is recomputed (in a worker for
    traditional detectors), and one that cannot be recomputed fails its image."""
    store = ScoreStore(job.store_root)

    def score_of(record: ImageRecord) -> np.ndarray:
        entry = store.get(job.method, job.key, record.img_hash, record.shape)
        if entry is None:
            [redo] = (
                score_batched(job, [record.id], 1)
                if batched
                else list(
                    backend.map_unordered(
                        score_image, job, [record.id], lambda i, m: ImageRecord(id=i, error=m), timeout
                    )
                )
            )
            entry = None if redo.error else store.get(job.method, job.key, record.img_hash, record.shape)
            if entry is None:
                record.error = f"score map vanished from the store and could not be recomputed: {redo.error}"
                return np.zeros(record.shape, np.float32)
            record.note = "score map vanished from the store after detection; recomputed"
        return entry.score

    return score_of


def _cell_of(records: list[ImageRecord], result: Evaluation | None) -> Cell:
    usable = [r for r in records if not r.sample_error]
    times = [r.seconds for r in usable if not r.error]
    common = {
        "seconds_per_image": statistics.median(times) if times else None,
        "n_failed": sum(bool(r.error) for r in usable),
        "n_cached": sum(r.cached for r in usable),
    }
    if not usable:
        return Cell(
            NO_USABLE, reason=f"none of the {len(records)} images could be used (see the skipped images)", **common
        )
    if result is None:
        first = next(r for r in usable if r.error)
        return Cell(
            FAILED,
            reason=f"the detector failed on every one of the {len(usable)} usable images; first "
            f"({first.id}): {first.error}",
            **common,
        )
    return Cell(OK, policy=result.policy, metrics=result.metrics, curves=result.curves, **common)


def _method_entry(spec: MethodSpec, params: dict[str, Any], policy: str) -> MethodEntry:
    return MethodEntry(
        name=spec.name,
        display=spec.label,
        family=spec.family,
        description=spec.description,
        kind=spec.kind,
        paper=spec.paper,
        year=spec.year,
        version=spec.version,
        params=params,
        policy=policy,
    )


class _Run:
    """One run in progress: its record, its per-image lines and where they are written."""

    def __init__(
        self,
        config: RunConfig,
        protocol: Protocol,
        datasets: list[Dataset],
        store: ScoreStore,
        run_dir: Path,
        log: Callable[[str], None],
    ) -> None:
        self.run_dir, self.log = run_dir, log
        settings = {
            k: getattr(config, k)
            for k in (
                "policy",
                "on_error",
                "jobs",
                "backend",
                "scheduler",
                "timeout",
                "max_pixels",
                "limit",
                "exclude_seen",
                "curves",
                "ci",
                "compare_paper",
            )
        }
        settings["methods"] = [get_spec(m).name for m in config.methods]
        self.record = RunRecord(
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            command=list(config.command),
            protocol={"name": protocol.name, "description": protocol.description},
            split=config.split,
            data_root=str(Path(config.data_root).resolve()) if config.data_root else None,
            cache=str(store.root.resolve()),
            settings=settings,
            environment=environment(),
            datasets=[d.describe() for d in datasets],
        )
        self.lines: list[str] = []
        self.save()

    def save(self) -> None:
        self.record.write(self.run_dir / "run.json")
        write_text(self.run_dir / "per_image.jsonl", "".join(self.lines))

    def add(
        self, method: str, dataset: Dataset, cell: Cell, records: list[ImageRecord], result: Evaluation | None
    ) -> None:
        """Record a finished cell with its images' failures, skips and warnings, then save."""
        self.record.cells.setdefault(method, {})[dataset.name] = cell
        if cell.status != OK:
            self.log(f"irbench: {method} on {dataset.name}: {cell.status}: {cell.reason}")
        failed = [r for r in records if r.error]
        if cell.ok and failed:
            self.log(
                f"irbench: {method} on {dataset.name}: {len(failed)} image(s) failed, scored as empty "
                f"predictions; first ({failed[0].id}): {failed[0].error}"
            )
        issues = self.record  # failures, skipped and warnings live on the record
        for r in records:
            if r.error:
                issues.failures.append(ImageIssue(dataset.name, r.id, r.error, method))
            if r.note:
                issues.warnings.append(ImageIssue(dataset.name, r.id, r.note, method))
            if r.sample_error and not any(s.dataset == dataset.name and s.id == r.id for s in issues.skipped):
                issues.skipped.append(ImageIssue(dataset.name, r.id, r.sample_error))
            stats = result.per_image.get(r.id) if result else None
            self.lines.append(dumps({"dataset": dataset.name, "method": method, **r.to_dict(), "stats": stats}) + "\n")
        for sample_id, fraction in result.dense_masks.items() if result else ():
            text = (
                f"the mask marks {fraction:.0%} of the image as target (over {DENSE_MASK_FRACTION:.0%}: "
                "inverted or corrupt?); scored as it is"
            )
            if not any(w.dataset == dataset.name and w.id == sample_id and w.method is None for w in issues.warnings):
                issues.warnings.append(ImageIssue(dataset.name, sample_id, text))
        self.save()


def run(config: RunConfig, log: Callable[[str], None] = print) -> Path:
    """Execute ``config``; return the run directory holding ``run.json``, per-image records and tables."""
    from benchmark.report import write_reports

    protocol = get_protocol(config.protocol)
    if config.policy:
        parse_policy(config.policy)
    if config.on_error not in ("skip", "fail"):
        raise RunError(f"on_error must be 'skip' or 'fail', got {config.on_error!r}")
    if config.limit is not None and (isinstance(config.limit, bool) or config.limit < 1):
        raise RunError(f"limit must be a number of images >= 1, got {config.limit!r}")
    if config.timeout is not None and config.timeout < 0:
        raise RunError(f"timeout must be >= 0 seconds (0: no limit), got {config.timeout:g}")
    specs = [get_spec(m) for m in config.methods]
    params, rejected = _resolve_params(config, protocol)
    datasets = [get_dataset(d, config.data_root, config.split, max_pixels=config.max_pixels) for d in config.datasets]
    if config.limit:
        for dataset in datasets:
            dataset.limit(config.limit)
    run_dir = _run_dir(config, datasets, log)
    store = ScoreStore(make_folder(config.cache or Path(config.out) / "cache"))
    state = _Run(config, protocol, datasets, store, run_dir, log)
    timeout = config.timeout or None
    root = str(store.root.resolve())
    training_hashes = TrainingHashes(config.data_root, config.max_pixels)
    started = time.perf_counter()
    with (
        make_backend(config.backend, config.jobs, config.scheduler) as backend,
        Progress(len(specs) * sum(len(d) for d in datasets)) as bar,
    ):
        probes = [
            DetectJob.of(s, params[s.name], datasets[0], root)
            for s in specs
            if s.name not in rejected and not _is_batched(s)
        ]
        rejected.update(_probe_all(probes, backend, timeout) if probes else {})
        for spec in specs:
            policy = config.policy or spec.policy
            state.record.methods.append(_method_entry(spec, params[spec.name], policy))
            for dataset in datasets:
                bar.describe(f"{spec.name} on {dataset.name}")
                cell, records, result = _run_cell(
                    spec,
                    params[spec.name],
                    rejected.get(spec.name),
                    dataset,
                    root,
                    backend,
                    timeout,
                    protocol,
                    policy,
                    config,
                    bar.update,
                    training_hashes,
                )
                state.add(spec.name, dataset, cell, records, result)
                bar.update(len(dataset) - len(records))
                if config.exclude_seen and cell.leakage and "unresolved" in cell.leakage:
                    log(
                        f"irbench: warning: --exclude-seen could not act on {spec.name} on {dataset.name}: its "
                        f"training set {cell.leakage['unresolved']}; all its images were scored"
                    )
    state.record.complete = True
    state.record.wall_seconds = time.perf_counter() - started
    state.save()
    write_reports(run_dir)
    for entry in state.record.skipped:
        log(f"skipped {entry.dataset}/{entry.id}: {entry.message}")
    return run_dir


def _run_cell(
    spec: MethodSpec,
    params: dict[str, Any],
    rejected: str | None,
    dataset: Dataset,
    root: str,
    backend: Backend,
    timeout: float | None,
    protocol: Protocol,
    policy: str,
    config: RunConfig,
    progress: Callable[[int], None],
    training_hashes: TrainingHashes,
) -> tuple[Cell, list[ImageRecord], Evaluation | None]:
    """Validate, detect and evaluate one (method, dataset) cell."""
    if rejected:
        return Cell(FAILED, reason=rejected), [], None
    batched = _is_batched(spec)
    try:
        job = bind(DetectJob.of(spec, params, dataset, root))
        provenance = detector_for(job).provenance()
        if batched:
            getattr(detector_for(job), "network", None)  # read and strictly load the weights once, now
    except MissingWeightsError as exc:
        return Cell(NO_WEIGHTS, reason=str(exc)), [], None
    except NotConfigurableError as exc:
        return Cell(NOT_RUN, reason=str(exc)), [], None
    except Exception as exc:  # noqa: BLE001 - unreadable weights, a detector that cannot be configured
        return Cell(FAILED, reason=f"{type(exc).__name__}: {exc}"), [], None
    ScoreStore(root).sweep(spec.name, job.key)  # temporary files of writers killed mid-write
    records = _detect(job, batched, backend, timeout, progress)
    bad = [r for r in records if r.sample_error]
    if bad and config.on_error == "fail":
        raise RunError(
            f"{dataset.name}: {bad[0].sample_error} (use --on-error skip to leave "
            f"such images out; {len(bad)} image(s) affected)"
        )
    usable = [r for r in records if not r.sample_error]
    training = detector_for(job).training_set()
    leakage, scored = None, records
    if training is not None:
        overlap = Overlap.of(training, training_hashes.resolve(training), [(r.id, r.img_hash) for r in usable])
        leakage = overlap.record(config.exclude_seen)
        if leakage.get("excluded"):  # --exclude-seen: score the images the checkpoint has not seen
            seen = set(overlap.seen)
            scored = [r for r in records if r.id not in seen]
            usable = [r for r in usable if r.id not in seen]
    result = None
    if usable and not all(r.error for r in usable):
        result = evaluate(
            dataset,
            scored,
            _score_of(job, batched, backend, timeout),
            protocol,
            policy,
            curves=config.curves,
            ci=config.ci,
        )
    cell = _cell_of(scored, result)
    if leakage is not None and leakage.get("excluded") and not usable:
        cell.reason = f"every usable image is in the checkpoint's training set ({training.description}; --exclude-seen)"
    cell.provenance, cell.store_key, cell.leakage = provenance, job.key, leakage
    return cell, records, result
