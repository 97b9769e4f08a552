"""Reproduction of the MSHNet paper's Tables 3-6: train every cell's configuration, score it, write the table.

Each cell is a training run (:func:`benchmark.training.loop.train`, the method's recipe with the cell's loss or
number of supervised scales) followed by scoring the best-on-validation checkpoint on the dataset's test split
with the engine (the registered detector, the method's binarisation policy and
:class:`benchmark.metrics.DetectionMetrics` under the chosen protocol). Tables are written in the paper's
layout, ours beside the paper's value in parentheses (``results/reference/mshnet_cvpr2024_training.json``;
the paper's numbers are on IRSTD-1k).

    python -m benchmark.training.tables --table 4 --dataset synth --epochs 2 --limit 16 --crop 64
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.datasets import get_dataset
from benchmark.metrics import DetectionMetrics, get_protocol
from benchmark.policies import parse_policy
from benchmark.training.loop import TrainConfig, train
from methods.registry import create, get_spec

__all__ = ["CELLS", "ReproduceConfig", "Cell", "load_paper", "score_checkpoint", "render_table", "reproduce"]

REFERENCE = Path(__file__).resolve().parents[2] / "results" / "reference" / "mshnet_cvpr2024_training.json"


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


CELLS: dict[int, list[Cell]] = {
    3: [Cell(row, m, loss) for row, losses in (("L_IoU", {"dnanet": "iou-batch", "isnet": "iou-batch",
                                                            "mshnet": "iou"}),
                                               ("L_Dice", {"dnanet": "dice", "isnet": "dice", "mshnet": "dice"}),
                                               ("L_SLS", {"dnanet": "sls", "isnet": "sls", "mshnet": "sls"}))
        for m, loss in losses.items()],
    4: [Cell("L_S w/o w", "mshnet", "iou"), Cell("L_S", "mshnet", "sls-s"), Cell("L_S + L_L", "mshnet", "sls")],
    5: [Cell("L_S + L_L2", "mshnet", "sls-l2"), Cell("L_S + L_L1", "mshnet", "sls-l1"),
        Cell("L_S + L_L", "mshnet", "sls")],
    6: [Cell(row, "mshnet", "sls", scales) for scales, row in enumerate(
        ("1 | p", "1 | p4, p", "2 | p3, p4, p", "3 | p2, p3, p4, p", "4 | p1, p2, p3, p4, p"))],
}


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


def load_paper(table: int) -> dict[str, Any]:
    """The paper's rows of ``table`` (paper units)."""
    data = json.loads(REFERENCE.read_text())
    key = f"table{table}"
    if key not in data:
        raise ValueError(f"{REFERENCE}: no {key}")
    return data[key]


def score_checkpoint(method: str, weights: Path, dataset: str, data_root: str | None = None,
                     protocol: str = "irbench", limit: int | None = None, device: str = "auto",
                     method_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score ``weights`` on the test split with the engine's detector, policy and metrics (raw fractions)."""
    det = create(method, weights=str(weights), device=device, **(method_params or {}))
    det.configure(dataset)
    data = get_dataset(dataset, data_root, "test")
    proto = get_protocol(protocol)
    policy = parse_policy(get_spec(method).policy)
    acc = DetectionMetrics(proto)
    ids = data.ids[:limit] if limit else data.ids
    batch = int(det.params.get("batch_size", 8))
    for start in range(0, len(ids), batch):
        pairs = [data.load(i) for i in ids[start:start + batch]]
        for score, (_, gt) in zip(det.detect_batch([img for img, _ in pairs]), pairs):
            score, gt = proto.prepare(score, gt)
            acc.update(policy.binarise(score), gt)
    return acc.compute()


def _fmt(value: float | None, paper: float | None, digits: int = 2) -> str:
    ours = "–" if value is None else f"{value:.{digits}f}"
    return ours if paper is None else f"{ours} ({paper:g})"


def _paper_units(metrics: dict[str, Any]) -> dict[str, float]:
    return {"iou": 100 * metrics["iou"], "pd": 100 * metrics["pd"], "fa": 1e6 * metrics["fa"]}


def render_table(table: int, results: dict[tuple[str, str], dict[str, float]], dataset: str,
                 protocol: str) -> str:
    """Markdown in the paper's layout: ours (paper) per cell; ``results`` maps (row, method) to paper units."""
    paper = load_paper(table)
    methods = list(dict.fromkeys(c.method for c in CELLS[table]))
    rows = list(dict.fromkeys(c.row for c in CELLS[table]))
    lines = [f"Table {table} (ours on {dataset}, protocol {protocol}; paper on {paper_dataset()} in "
             f"parentheses). {paper['caption']}. IoU (%), Pd (%), Fa (1e-6).", ""]
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
    return str(json.loads(REFERENCE.read_text())["dataset"])


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
            result = train(TrainConfig(method=cell.method, dataset=config.dataset, data_root=config.data_root,
                                       out=out / cell.slug, loss=cell.loss, epochs=config.epochs,
                                       batch=config.batch, crop=config.crop, base=config.base,
                                       warmup=config.warmup, scales=cell.scales, resume=True, seed=config.seed,
                                       limit=config.limit, device=config.device, threads=config.threads,
                                       progress=False), log=log)
            metrics = score_checkpoint(cell.method, result.best, config.dataset, config.data_root,
                                       config.protocol, config.test_limit, config.device)
            trained[cell.slug] = (result.best, {"best_epoch": result.best_epoch,
                                                "best_val_iou": result.best_val_iou, "metrics": metrics})
        best, info = trained[cell.slug]
        results[(cell.row, cell.method)] = _paper_units(info["metrics"])
        records.append({"row": cell.row, "method": cell.method, "loss": cell.loss, "scales": cell.scales,
                        "weights": str(best), **{k: v for k, v in info.items() if k != "metrics"},
                        "ours": results[(cell.row, cell.method)],
                        "paper": load_paper(config.table)["rows"].get(cell.row, {}).get(cell.method)})
    md = out / f"table{config.table}.md"
    md.write_text(render_table(config.table, results, config.dataset, config.protocol))
    js = out / f"table{config.table}.json"
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(config).items()}
    js.write_text(json.dumps({"settings": settings, "units": {"iou": "percent", "pd": "percent", "fa": "1e-6"},
                              "cells": records}, indent=1, default=float))
    return [md, js]


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmark.training.tables``: the same as ``irbench reproduce``."""
    from benchmark.cli import main as cli_main

    return cli_main(["reproduce", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    raise SystemExit(main())
