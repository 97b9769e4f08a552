"""Reproduction of the MSHNet paper's Tables 3-6: train every cell's configuration, score it, write the table.

Each cell is a training run (:func:`benchmark.training.loop.train`, the method's recipe with the cell's loss or
number of supervised scales) followed by scoring the best-on-validation checkpoint on the dataset's test split
with the engine (the registered detector, the method's binarisation policy and the one scoring function
:func:`benchmark.evaluation.score_maps`). The cells and the paper's values come from the package data
:mod:`benchmark.reference` (``mshnet_cvpr2024_training``; the paper's numbers are on IRSTD-1k); tables are
written in the paper's layout, ours beside the paper's value in parentheses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.datasets import Dataset, SampleError, get_dataset
from benchmark.detection import protocol_params
from benchmark.evaluation import Sample, score_maps
from benchmark.metrics import get_protocol
from benchmark.policies import parse_policy
from benchmark.reference import load_paper, paper_units
from benchmark.training.loop import TrainConfig, train
from methods.registry import Detector, create, get_spec

__all__ = ["CELLS", "ReproduceConfig", "Cell", "paper_table", "score_checkpoint", "render_table", "reproduce"]

PAPER = "mshnet_cvpr2024_training"


@dataclass(frozen=True)
class Cell:
    """One trained configuration: a table row label, a method and its training overrides."""

    row: str
    method: str
    loss: str
    scales: int | None = None

    @property
    def slug(self) -> str:
        return f"{self.method}_{self.loss}" + (f"_s{self.scales}" if self.scales is not None else "")


def _cells() -> dict[int, list[Cell]]:
    paper = load_paper(PAPER)
    return {
        int(key.removeprefix("table")): [Cell(*entry) for entry in value["cells"]]
        for key, value in paper.items()
        if key.startswith("table")
    }


CELLS: dict[int, list[Cell]] = _cells()


@dataclass
class ReproduceConfig:
    """Which table, on which data, and how small (``None``: each recipe's value)."""

    table: int
    dataset: str = "synth"
    data_root: str | None = None
    epochs: int | None = None
    limit: int | None = None
    test_limit: int | None = None
    crop: int | None = None
    base: int | None = None
    batch: int | None = None
    warmup: int | None = None
    out: Path = Path("results/reproduce")
    device: str = "auto"
    threads: int | None = None
    protocol: str = "irbench"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.table not in CELLS:
            raise ValueError(f"parameter 'table' must be one of {sorted(CELLS)}, got {self.table!r}")
        if self.test_limit is not None and self.test_limit < 1:
            raise ValueError(f"parameter 'test_limit' must be >= 1, got {self.test_limit!r}")


def paper_table(table: int) -> dict[str, Any]:
    """The paper's caption, cells and rows of ``table`` (paper units)."""
    data = load_paper(PAPER)
    key = f"table{table}"
    if key not in data:
        raise ValueError(f"Unknown table {table!r}. Available: {', '.join(str(t) for t in CELLS)}")
    return data[key]


def _checkpoint_maps(det: Detector, data: Dataset, ids: list[str], batch: int) -> Iterator[Sample]:
    """``(id, probability map, gt)`` of the usable ``ids``, scored ``batch`` images at a time."""
    for start in range(0, len(ids), batch):
        chunk = []
        for sample_id in ids[start : start + batch]:
            try:
                chunk.append((sample_id, *data.load(sample_id)))
            except SampleError:
                continue  # unusable data is left out, as in ``irbench run``
        scores = det.detect_batch([image for _, image, _ in chunk]) if chunk else []
        yield from ((sample_id, score, gt) for (sample_id, _, gt), score in zip(chunk, scores))


def score_checkpoint(
    method: str,
    weights: Path,
    dataset: str,
    data_root: str | None = None,
    protocol: str = "irbench",
    limit: int | None = None,
    device: str = "auto",
    method_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score ``weights`` on the test split with the engine's detector, the method's policy and
    :func:`~benchmark.evaluation.score_maps` (raw fractions)."""
    given = method_params or {}
    by_protocol = protocol_params(get_spec(method), get_protocol(protocol).eval_size, given)
    det = create(method, weights=str(weights), device=device, **{**by_protocol, **given})
    det.configure(dataset)
    data = get_dataset(dataset, data_root, "test")
    policy = parse_policy(get_spec(method).policy)
    maps = _checkpoint_maps(det, data, data.ids[:limit] if limit else data.ids, det.batch_size)
    return score_maps(list(maps) if policy.needs_fit else maps, protocol, policy).metrics


def _fmt(value: float | None, paper: float | None, digits: int = 2) -> str:
    ours = "–" if value is None else f"{value:.{digits}f}"
    return ours if paper is None else f"{ours} ({paper:g})"


def render_table(table: int, results: dict[tuple[str, str], dict[str, float]], dataset: str, protocol: str) -> str:
    """Markdown in the paper's layout: ours (paper) per cell; ``results`` maps (row, method) to paper units."""
    paper = paper_table(table)
    methods = list(dict.fromkeys(c.method for c in CELLS[table]))
    rows = list(dict.fromkeys(c.row for c in CELLS[table]))
    lines = [
        f"Table {table} (ours on {dataset}, protocol {protocol}; paper on {paper_dataset()} in "
        f"parentheses). {paper['caption']}. IoU (%), Pd (%), Fa (1e-6).",
        "",
    ]
    if table == 3:
        head = "| Loss | " + " | ".join(f"{get_spec(m).label} IoU | Pd | Fa" for m in methods) + " |"
    elif table == 6:
        head = "| Num. of Scales | Supervised Predictions | IoU | Pd | Fa |"
    else:
        head = "| Loss | IoU | Pd | Fa |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        cells = []
        for m in methods:
            ours = results.get((row, m), {})
            ref = paper["rows"].get(row, {}).get(m, {})
            cells += [_fmt(ours.get(k), ref.get(k)) for k in ("iou", "pd", "fa")]
        label = " | ".join(part.strip() for part in row.split("|")) if table == 6 else row
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def paper_dataset() -> str:
    """The dataset the paper's Tables 3-6 were measured on."""
    return str(load_paper(PAPER)["dataset"])


def reproduce(config: ReproduceConfig, log: Callable[[str], None] = print) -> list[Path]:
    """Train and score every cell of ``config.table``; return ``[table<N>.md, table<N>.json]``."""
    out = Path(config.out) / f"table{config.table}_{config.dataset}"
    out.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[str, str], dict[str, float]] = {}
    records = []
    trained: dict[str, tuple[Path, dict[str, Any]]] = {}
    for cell in CELLS[config.table]:
        if cell.slug not in trained:  # a configuration shared by two rows is trained once
            log(f"table {config.table}: training {cell.slug}")
            result = train(
                TrainConfig(
                    method=cell.method,
                    dataset=config.dataset,
                    data_root=config.data_root,
                    out=out / cell.slug,
                    loss=cell.loss,
                    epochs=config.epochs,
                    batch=config.batch,
                    crop=config.crop,
                    base=config.base,
                    warmup=config.warmup,
                    scales=cell.scales,
                    resume=True,
                    seed=config.seed,
                    limit=config.limit,
                    device=config.device,
                    threads=config.threads,
                    progress=False,
                ),
                log=log,
            )
            metrics = score_checkpoint(
                cell.method,
                result.best,
                config.dataset,
                config.data_root,
                config.protocol,
                config.test_limit,
                config.device,
            )
            trained[cell.slug] = (
                result.best,
                {"best_epoch": result.best_epoch, "best_val_iou": result.best_val_iou, "metrics": metrics},
            )
        best, info = trained[cell.slug]
        results[(cell.row, cell.method)] = paper_units(info["metrics"])
        records.append(
            {
                "row": cell.row,
                "method": cell.method,
                "loss": cell.loss,
                "scales": cell.scales,
                "weights": str(best),
                **{k: v for k, v in info.items() if k != "metrics"},
                "ours": results[(cell.row, cell.method)],
                "paper": paper_table(config.table)["rows"].get(cell.row, {}).get(cell.method),
            }
        )
    md = out / f"table{config.table}.md"
    md.write_text(render_table(config.table, results, config.dataset, config.protocol))
    js = out / f"table{config.table}.json"
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(config).items()}
    js.write_text(
        json.dumps(
            {"settings": settings, "units": {"iou": "percent", "pd": "percent", "fa": "1e-6"}, "cells": records},
            indent=1,
            default=float,
        )
    )
    return [md, js]
