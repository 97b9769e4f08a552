"""The typed run record: what ``run.json`` holds, written by the runner and read by reports and figures.

A run has method entries and one :class:`Cell` per (method, dataset). A cell's ``status`` is one of
:data:`STATUSES`; only an ``ok`` cell carries metrics, every other status carries its ``reason``, and
tables show such cells by their status, never as numbers. The run is ``complete`` only once every cell
is written; a killed run leaves ``complete: false``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from benchmark.files import dumps, write_text

OK, NO_WEIGHTS, NOT_RUN, FAILED, NO_USABLE = "ok", "no weights", "not run", "failed", "no usable images"
STATUSES = (OK, NO_WEIGHTS, NOT_RUN, FAILED, NO_USABLE)
FAILING = (FAILED, NO_USABLE)  # statuses that make the run's exit status non-zero
FORMAT_VERSION = 2


class RecordError(ValueError):
    """A ``run.json`` that cannot be read as a run record; names the file."""


@dataclass
class PolicyRecord:
    """A binarisation policy as applied: ``kind``, its ``value`` (T or K), the ``threshold`` fitted on the
    data (``sweep`` only) and whether it was tuned on the evaluated data (``optimistic``)."""

    kind: str
    value: float | None = None
    threshold: float | None = None
    optimistic: bool = False

    @property
    def name(self) -> str:
        """Display form: ``minmax:0.5``, ``adaptive``, ``sweep (fitted threshold 0.2344)``."""
        if self.kind == "sweep":
            return "sweep" if self.threshold is None else f"sweep (fitted threshold {self.threshold:.4f})"
        return self.kind if self.value is None else f"{self.kind}:{self.value:g}"

    @property
    def rule(self) -> str:
        """A policy string that binarises one map exactly as this record did (``sweep`` -> ``minmax:T``)."""
        if self.kind == "sweep":
            if self.threshold is None:
                raise ValueError("an unfitted sweep policy has no per-image rule")
            return f"minmax:{self.threshold!r}"
        return self.name if self.value is None else f"{self.kind}:{self.value!r}"


@dataclass
class Cell:
    """One (method, dataset) result. ``metrics`` (raw fractions) only when ``status`` is ``ok``."""

    status: str
    reason: str = ""
    policy: PolicyRecord | None = None
    metrics: dict[str, Any] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    store_key: str | None = None
    seconds_per_image: float | None = None
    n_failed: int = 0
    n_cached: int = 0
    curves: dict[str, Any] | None = None
    leakage: dict[str, Any] | None = None  # evaluated images the checkpoint was trained on (benchmark.leakage)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"cell status must be one of {STATUSES}, got {self.status!r}")
        if (self.metrics is not None) != (self.status == OK):
            raise ValueError(f"a cell has metrics exactly when its status is 'ok' (status {self.status!r})")

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclass
class MethodEntry:
    """A method of the run: registry facts, resolved parameters and default policy."""

    name: str
    display: str
    family: str
    description: str
    kind: str
    paper: str
    year: int | None
    version: str
    params: dict[str, Any]
    policy: str


@dataclass
class ImageIssue:
    """An image-level event: a detector failure, a skipped image, or a warning about its data."""

    dataset: str
    id: str
    message: str
    method: str | None = None


@dataclass
class RunRecord:
    """Everything a run did; ``cells[method][dataset]`` holds the :class:`Cell` results."""

    created: str
    command: list[str]
    protocol: dict[str, str]
    split: str
    data_root: str | None
    cache: str
    settings: dict[str, Any]
    environment: dict[str, Any]
    datasets: list[dict[str, Any]]
    methods: list[MethodEntry] = field(default_factory=list)
    cells: dict[str, dict[str, Cell]] = field(default_factory=dict)
    failures: list[ImageIssue] = field(default_factory=list)
    skipped: list[ImageIssue] = field(default_factory=list)
    warnings: list[ImageIssue] = field(default_factory=list)
    complete: bool = False
    wall_seconds: float | None = None
    format: int = FORMAT_VERSION

    @property
    def compare_paper(self) -> bool:
        return bool(self.settings.get("compare_paper"))

    def cell(self, method: str, dataset: str) -> Cell | None:
        """The cell of ``method`` on ``dataset``, ``None`` when it was not reached (incomplete run)."""
        return self.cells.get(method, {}).get(dataset)

    def ok_cells(self, dataset: str) -> list[tuple[MethodEntry, Cell]]:
        """The methods with an ``ok`` cell on ``dataset``, in table order."""
        return [(m, c) for m in self.methods if (c := self.cell(m.name, dataset)) is not None and c.ok]

    def counts(self) -> dict[str, int]:
        """How many cells have each status."""
        out = dict.fromkeys(STATUSES, 0)
        for cells in self.cells.values():
            for cell in cells.values():
                out[cell.status] += 1
        return out

    def exit_code(self) -> int:
        """0 when the run completed and no cell is ``failed`` or ``no usable images``, else 1."""
        counts = self.counts()
        return 0 if self.complete and not any(counts[s] for s in FAILING) else 1

    def to_json(self) -> str:
        return dumps(asdict(self), indent=1)

    def write(self, path: str | Path) -> Path:
        """Write the record atomically to ``path``."""
        return write_text(path, self.to_json())

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> RunRecord:
        """The record of a parsed ``run.json``; a document of another shape is a ``ValueError`` naming the part."""
        if not isinstance(doc, dict):
            raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
        for key, kind in (("cells", dict), ("methods", list), ("datasets", list)):
            if not isinstance(doc.get(key, kind()), kind):
                raise ValueError(f"'{key}' must be a JSON {'object' if kind is dict else 'array'}")
        for method, cells in doc.get("cells", {}).items():
            bad = [d for d, c in cells.items() if not isinstance(c, dict)] if isinstance(cells, dict) else [""]
            if bad:
                raise ValueError(f"cell {method!r}/{bad[0]!r} is not a JSON object")
        if doc.get("format") != FORMAT_VERSION:
            raise ValueError(f"run record format {doc.get('format')!r}, this irbench reads {FORMAT_VERSION}")
        doc = dict(doc)
        doc["methods"] = [MethodEntry(**m) for m in doc.get("methods", [])]
        doc["cells"] = {m: {d: _cell(c) for d, c in cells.items()} for m, cells in doc.get("cells", {}).items()}
        for key in ("failures", "skipped", "warnings"):
            doc[key] = [ImageIssue(**i) for i in doc.get(key, [])]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})

    @classmethod
    def read(cls, run_dir: str | Path) -> RunRecord:
        """Read ``run_dir/run.json``; :class:`RecordError` names the file when it is absent or unreadable."""
        path = Path(run_dir) / "run.json"
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise RecordError(f"{path}: no run record here (expected a folder written by irbench run)") from None
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise RecordError(f"{path}: not a readable irbench run record ({exc})") from None


def _cell(doc: dict[str, Any]) -> Cell:
    policy = doc.get("policy")
    return Cell(**{**doc, "policy": PolicyRecord(**policy) if policy else None})
