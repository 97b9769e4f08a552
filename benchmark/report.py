"""Paper-style reports of a run: Table 1 (IoU, Pd, Fa per dataset) and Table 2 (the same per target scale).

Every table carries, as notes under it, the protocol, each method's binarisation policy, the split, the
machine and versions, failed and skipped images, and methods without weights. Values in Markdown/LaTeX/CSV
are in the paper's units (IoU and Pd in %, Fa in 1e-6); the JSON keeps raw fractions.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmark.datasets import display_name
from benchmark.files import dumps, write_text
from benchmark.html_report import html_report
from benchmark.metrics import BUCKETS
from benchmark.record import OK, Cell, MethodEntry, RunRecord
from benchmark.reference import PAPER_SCALE, load_paper, paper_units
from benchmark.render import Table, fmt, to_latex, to_markdown
from methods.registry import FAMILIES, KINDS

FORMATS = ("md", "tex", "csv", "json", "html")  # html: one report.html for both tables
METRICS = (
    ("iou", "IoU(%) ↑", PAPER_SCALE["iou"], max),
    ("pd", "Pd(%) ↑", PAPER_SCALE["pd"], max),
    ("fa", "Fa(1e-6) ↓", PAPER_SCALE["fa"], min),
)


def _value(cell: Cell | None, key: str, scale: float) -> float | None:
    if cell is None or not cell.ok:
        return None
    value = cell.metrics.get(key)  # type: ignore[union-attr]
    if key == "pd" and cell.metrics.get("n_targets") == 0:  # type: ignore[union-attr]
        return None  # no target: Pd is undefined, not 0
    return None if value is None else value * scale


def _best(values: list[float | None], pick: Any) -> float | None:
    present = [v for v in values if v is not None]
    return pick(present) if len(present) > 1 else None


def _ok(run: RunRecord) -> list[tuple[MethodEntry, Cell]]:
    return [(m, c) for d in run.datasets for m, c in run.ok_cells(d["name"])]


def _paper_shown(run: RunRecord, refs: list[dict[str, Any]]) -> bool:
    """Whether any of the run's method and dataset pairs has a paper value in ``refs``."""
    return any(
        _paper(ref, m.name, d["name"], key) is not None
        for ref in refs
        for m in run.methods
        for d in run.datasets
        for key, *_ in METRICS
    )


def _zoo_cells(run: RunRecord, m: MethodEntry) -> list[tuple[str, dict[str, Any]]]:
    """``(dataset, zoo record)`` of the method's cells scored with irbench's own zoo weights."""
    return [(d, c.provenance["zoo"]) for d, c in run.cells.get(m.name, {}).items() if "zoo" in c.provenance]


def _scored_seen(cell: Cell) -> bool:
    """Whether the cell's numbers include images its checkpoint was trained on."""
    leak = cell.leakage or {}
    return bool(leak.get("n_seen")) and not leak.get("excluded")


def _left_out_seen(cell: Cell) -> bool:
    """Whether ``--exclude-seen`` left images out of the cell (its numbers cover a subset of the split)."""
    return bool((cell.leakage or {}).get("excluded"))


def _subset(cell: Cell | None) -> tuple[str, ...]:
    """The images a cell's numbers cover, as the ids left out of its split (none: the whole split)."""
    return tuple(cell.leakage["seen"]) if cell is not None and _left_out_seen(cell) else ()


def row_label(run: RunRecord, m: MethodEntry) -> str:
    """A method's row label: its display name, marked ``(irbench zoo: E epochs, DEVICE)`` when any of its
    cells was scored with zoo weights (irbench's training, not the authors' checkpoint), ``†`` when any
    of its numbers includes images its weights were trained on, ``‡`` when ``--exclude-seen`` left such
    images out of any of them."""
    labels = sorted({z["label"] for _, z in _zoo_cells(run, m)})
    label = f"{m.display} ({'; '.join(labels)})" if labels else m.display
    cells = run.cells.get(m.name, {}).values()
    marks = "".join(mark for mark, test in (("†", _scored_seen), ("‡", _left_out_seen)) if any(map(test, cells)))
    return f"{label} {marks}" if marks else label


def _leakage_notes(run: RunRecord) -> list[str]:
    """Train/test overlap of every checked cell: seen images, none, or why it could not be checked."""
    seen, left_out, clean, unknown = [], [], [], []
    for m in ordered_methods(run):
        for dataset, cell in run.cells.get(m.name, {}).items():
            leak = cell.leakage
            if not leak:
                continue
            where = f"{m.display} on {display_name(dataset, run.datasets)}"
            if "unresolved" in leak:
                applied = "; --exclude-seen not applied, every image scored" if "exclude_seen" in leak else ""
                unknown.append(f"{where} ({leak['unresolved']}{applied})")
            elif leak["n_seen"]:
                found = (
                    f"{where}: {leak['n_seen']} of {leak['n_images']} evaluated images are in its weights' "
                    f"training set ({leak['training_set']})"
                )
                if leak["excluded"]:
                    left_out.append(f"{found}, left out: scored on the other {leak['n_images'] - leak['n_seen']}")
                else:
                    seen.append(f"{found}, included in its numbers (--exclude-seen scores only the others)")
            else:
                clean.append(f"{where} ({leak['training_set']})")
    notes = []
    if seen:
        notes.append("† Train/test overlap, matched by image content: " + "; ".join(seen) + ".")
    if left_out:
        notes.append("‡ --exclude-seen, overlap matched by image content: " + "; ".join(left_out) + ".")
    if clean:
        notes.append("No train/test overlap found: " + "; ".join(clean) + ".")
    if unknown:
        notes.append("Train/test overlap not checked: " + "; ".join(unknown) + ".")
    return notes


def _zoo_note(run: RunRecord) -> str | None:
    """Which cells used zoo weights, with the command that trained them and their own test figures."""
    parts = []
    for m in ordered_methods(run):
        for dataset, z in _zoo_cells(run, m):
            test = z["test"]
            where = display_name(dataset, run.datasets)
            precision = run.cells[m.name][dataset].provenance.get("precision", "float32")
            quantised = (
                f"; {z['bits']}-bit weights, quantised from fp16 ones of test IoU {z['fp16']['test']['iou'] * 100:.2f}"
                if z.get("bits")
                else ""
            )
            parts.append(
                f"{m.display} on {where}, scored in {precision}: `{z['command']}` (commit "
                f"{z.get('commit') or 'unknown'}; test IoU {test['iou'] * 100:.2f}, Pd {test['pd'] * 100:.2f}, "
                f"Fa {test['fa'] * 1e6:.2f} under `{test['protocol']}`, {test['policy']}, "
                f"{test.get('precision', 'float32')}{quantised})"
            )
    if not parts:
        return None
    return (
        "irbench zoo: weights irbench trained itself (not the authors' checkpoints; fewer epochs than the "
        "official recipes), shipped with the package, scored in the precision they were trained in where the "
        "device has it (bfloat16 autocast): " + "; ".join(parts) + "."
    )


def _notes(run: RunRecord, paper_shown: bool = False) -> list[str]:
    env = run.environment
    notes = []
    if not run.complete:
        done = sum(len(c) for c in run.cells.values())
        planned = len(run.settings.get("methods", [])) * len(run.datasets)
        notes.append(
            f"INCOMPLETE RUN: {done} of {planned} cells finished when this record was last written (the "
            "run was stopped or is still going); cells not reached are marked so."
        )
    policies = sorted({f"{m.display}: {c.policy.name}" for m, c in _ok(run) if c.policy is not None})
    notes += [
        f"Protocol `{run.protocol['name']}`: {run.protocol['description']}",
        f"Binarisation policy per method: {'; '.join(policies) or 'none'}.",
    ]
    resized = sorted(
        {
            f"{m.display}: {m.params.get('input_size')}x{m.params.get('input_size')} ({c.provenance['resize']})"
            for m, c in _ok(run)
            if "resize" in c.provenance
        }
    )
    if resized:
        notes.append(f"Network input resized: {'; '.join(resized)}.")
    if any(c.policy is not None and c.policy.optimistic for _, c in _ok(run)):
        notes.append(
            "`sweep` picks the best of 256 thresholds on the test data itself: optimistic, not a "
            "deployable operating point."
        )

    def listed(d: dict[str, Any]) -> str:
        unusable = sum(s.dataset == d["name"] for s in run.skipped)
        scored = f"{d['n_images'] - unusable} scored, {unusable} unusable" if unusable else "all scored"
        some = next((c for _, c in run.ok_cells(d["name"])), None)
        if some is not None and some.metrics.get("n_background"):  # type: ignore[union-attr]
            scored += f", {some.metrics['n_background']} of them background-only"  # type: ignore[index]
        listed = (
            f"first {d['n_images']} of {d['limited_from']} images (--limit)"
            if d.get("limited_from")
            else f"{d['n_images']} images listed"
        )
        where = "no split file: every image that has a mask" if d.get("unsplit") else f"{d['layout']} layout"
        masks = (
            f"; masks {d['mask_encoding']} ({d.get('mask_encoding_source', 'spec')})"
            + (f", {len(d['mask_encoding_mismatches'])} disagree" if d.get("mask_encoding_mismatches") else "")
            if d.get("mask_encoding")
            else ""
        )
        return f"{display_name(d['name'], run.datasets)} {d['split']} ({listed}, {scored}; {where}{masks})"

    datasets = ", ".join(listed(d) for d in run.datasets)
    notes.append(f"Split: {datasets}. Best value per column in bold.")
    for d in run.datasets:
        cells = run.ok_cells(d["name"])
        if len({_subset(c) for _, c in cells}) > 1:
            counts = "; ".join(f"{m.display}: {c.metrics['n_images']}" for m, c in cells)
            notes.append(
                f"Rows scored on different images of {display_name(d['name'], run.datasets)} (--exclude-seen); "
                f"bold marks the best among rows scored on the same images. Images per row: {counts}."
            )
    levels = {c.metrics["ci"]["level"] for _, c in _ok(run) if "ci" in c.metrics}  # type: ignore[operator]
    if levels:
        notes.append(
            f"In brackets: {', '.join(f'{x:g}' for x in sorted(levels))}% bootstrap confidence intervals "
            "over images (1000 resamples, percentile method)."
        )
    if run.compare_paper and paper_shown:
        notes.append(
            "In parentheses: the value reported in the MSHNet paper (CVPR 2024), whose numbers come "
            "from the `mshnet` protocol with unstated thresholds for traditional methods."
        )
    elif run.compare_paper:
        notes.append(
            "--compare-paper: the MSHNet paper (CVPR 2024) reports no value for these methods and datasets "
            "(its Table 1 covers IRSTD-1k and NUDT-SIRST, its Table 2 IRSTD-1k)."
        )
    zoo = _zoo_note(run)
    if zoo:
        notes.append(zoo)
    notes += _leakage_notes(run)
    notes += _status_notes(run)
    if run.failures:
        counts: dict[str, int] = {}
        for f in run.failures:
            counts[f"{f.method} on {f.dataset}"] = counts.get(f"{f.method} on {f.dataset}", 0) + 1
        notes.append(
            "Detector failures (scored as empty predictions): "
            + "; ".join(f"{k}: {v} image(s)" for k, v in counts.items())
            + " (see run.json)."
        )
    if run.skipped:
        notes.append(
            "Skipped images (unusable data, left out for every method): "
            + "; ".join(f"{s.dataset}/{s.id}: {s.message}" for s in run.skipped)
        )
    if run.warnings:
        notes.append(
            "Warnings: "
            + "; ".join(f"{w.dataset}/{w.id}{f' ({w.method})' if w.method else ''}: {w.message}" for w in run.warnings)
        )
    versions = ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v)
    notes.append(
        f"Machine: {env['platform']}, {env['cpu_count']} CPUs, GPU {env['gpu'] or 'none'}; "
        f"Python {env['python']}; {versions}; commit {env['git_commit'] or 'unknown'}."
    )
    return notes


def _status_notes(run: RunRecord) -> list[str]:
    """One line per status of the cells without numbers: which cells, and why (the reason, once per cell
    only where it is specific to the cell: failures)."""
    by_status: dict[str, list[str]] = {}
    for m in ordered_methods(run):
        for dataset, cell in run.cells.get(m.name, {}).items():
            if cell.ok:
                continue
            where = f"{m.display} on {display_name(dataset, run.datasets)}"
            by_status.setdefault(cell.status, []).append(
                f"{where} ({cell.reason})" if cell.status in ("failed", "no usable images") else where
            )
    hints = {
        "no weights": " (pass --weights METHOD=PATH; the paths tried are in run.json)",
        "not run": " (see run.json for why)",
    }
    return [f"{status}: {'; '.join(cells)}{hints.get(status, '')}." for status, cells in by_status.items()]


def _latex_note(run: RunRecord) -> str:
    """The short note of a LaTeX caption: protocol and binarisation policies."""
    by_policy: dict[str, list[str]] = {}
    for m, c in _ok(run):
        if c.policy is not None and m.display not in by_policy.setdefault(c.policy.name, []):
            by_policy[c.policy.name].append(m.display)
    if len(by_policy) == 1:
        policies = f"binarisation `{next(iter(by_policy))}`"
    else:
        policies = "binarisation " + "; ".join(f"`{p}` for {', '.join(ms)}" for p, ms in by_policy.items())
    return f"Protocol `{run.protocol['name']}`, {policies}." if by_policy else f"Protocol `{run.protocol['name']}`."


def ordered_methods(run: RunRecord) -> list[MethodEntry]:
    """The run's methods in table order: traditional families, then deep; within a family the MSHNet
    paper's Table 1 order, then the other methods by name."""
    paper = list(load_paper()["table1"])
    families = list(FAMILIES)

    def key(m: MethodEntry) -> tuple[int, int, int, str]:
        family = families.index(m.family) if m.family in families else len(families)
        rank = paper.index(m.name) if m.name in paper else len(paper)
        return (KINDS.index(m.kind) if m.kind in KINDS else len(KINDS), family, rank, m.name)

    return sorted(run.methods, key=key)


def _paper(ref: dict[str, Any] | None, method: str, dataset: str, key: str) -> float | None:
    if ref is None:
        return None
    return ref.get(method, {}).get(dataset, {}).get(key)


def _status_text(cell: Cell | None) -> str:
    return "not reached" if cell is None else cell.status


def _metric_rows(
    run: RunRecord, cells_of: Any, ref: dict[str, Any] | None, lead_of: Any
) -> tuple[list[list[str]], list[list[bool]]]:
    """Rows of formatted values (with paper values in parentheses) and bold marks per column; a cell that
    is not ``ok`` shows its status instead of numbers."""
    datasets = [d["name"] for d in run.datasets]
    methods = ordered_methods(run)
    values = [
        [_value(cells_of(m.name, d), key, scale) for d in datasets for key, _, scale, _ in METRICS] for m in methods
    ]
    picks = [pick for _ in datasets for _, _, _, pick in METRICS]
    # bold marks the best among rows scored on the same images (--exclude-seen scores subsets)
    subsets = [[_subset(cells_of(m.name, d)) for d in datasets for _ in METRICS] for m in methods]
    best = [
        {
            key: _best([row[j] for row, keys in zip(values, subsets, strict=True) if keys[j] == key], picks[j])
            for key in {keys[j] for keys in subsets}
        }
        for j in range(len(picks))
    ]
    rows, bold = [], []
    for m, row, keys in zip(methods, values, subsets, strict=True):
        cells = []
        for j, v in enumerate(row):
            dataset, key = datasets[j // len(METRICS)], METRICS[j % len(METRICS)][0]
            cell = cells_of(m.name, dataset)
            text = fmt(v) if cell is not None and cell.ok else _status_text(cell)
            interval = cell.metrics.get("ci", {}).get(key) if v is not None else None
            if interval:
                text += (
                    f" [{fmt(interval[0] * METRICS[j % len(METRICS)][2])}, "
                    f"{fmt(interval[1] * METRICS[j % len(METRICS)][2])}]"
                )
            paper = _paper(ref, m.name, dataset, key)
            cells.append(f"{text} ({fmt(paper)})" if paper is not None else text)
        lead = lead_of(m)
        rows.append(lead + cells)
        bold.append(
            [False] * len(lead) + [v is not None and v == b[k] for v, b, k in zip(row, best, keys, strict=True)]
        )
    return rows, bold


def table1(run: RunRecord) -> Table:
    """Table 1: methods grouped by family, IoU/Pd/Fa per dataset side by side."""
    ref = load_paper()["table1"] if run.compare_paper else None
    shown: set[str] = set()

    def lead(m: MethodEntry) -> list[str]:
        first = m.description not in shown
        shown.add(m.description)
        return [row_label(run, m), m.description if first else ""]

    rows, bold = _metric_rows(run, run.cell, ref, lead)
    families = [m.description for m in ordered_methods(run)]
    rules = [i for i in range(1, len(families)) if families[i] != families[i - 1]]
    datasets = [d["name"] for d in run.datasets]
    return Table(
        title="Table 1",
        caption="IoU(%), Pd(%) and Fa(1e-6) per dataset.",
        latex_note=_latex_note(run),
        lead=["Method", "Description"],
        groups=[(display_name(d, run.datasets), len(METRICS)) for d in datasets],
        columns=[label for _ in datasets for _, label, _, _ in METRICS],
        rows=rows,
        bold=bold,
        rules=rules,
        notes=_notes(run, ref is not None and _paper_shown(run, [ref])),
    )


def _scale_metrics(scale: dict[str, Any]) -> dict[str, Any]:
    """A bucket's metrics with IoU and Pd undefined (None) when the dataset has no target of that scale."""
    return scale if scale["n_targets"] else {**scale, "iou": None, "pd": None}


def table2(run: RunRecord) -> Table:
    """Table 2: per target-scale bucket (rows: bucket x method), IoU/Pd/Fa and target counts per dataset."""
    ref = load_paper()["table2"] if run.compare_paper else None
    rows: list[list[str]] = []
    bold: list[list[bool]] = []
    rules = []
    for bucket in BUCKETS:

        def cell_of(name: str, dataset: str, b: str = bucket) -> Cell | None:
            cell = run.cell(name, dataset)
            if cell is None or not cell.ok:
                return cell
            return Cell(OK, metrics=_scale_metrics(cell.metrics["scales"][b]))  # type: ignore[index]

        first = [True]

        def lead(m: MethodEntry, b: str = bucket, first: list[bool] = first) -> list[str]:
            label = b if first[0] else ""
            first[0] = False
            return [label, row_label(run, m)]

        block_rows, block_bold = _metric_rows(run, cell_of, ref.get(bucket) if ref else None, lead)
        rules.append(len(rows))
        rows += block_rows
        bold += block_bold
    datasets = [d["name"] for d in run.datasets]
    counts = []
    for d in datasets:
        some = next((c for _, c in run.ok_cells(d)), None)
        if some:
            scales = some.metrics["scales"]  # type: ignore[index]
            counts.append(
                f"{display_name(d, run.datasets)}: "
                + ", ".join(f"{b} {scales[b]['n_targets']} targets in {scales[b]['n_images']} images" for b in BUCKETS)
            )
    notes = [
        "Scale buckets by ground-truth target area in pixels at the evaluation resolution. Pd per bucket: "
        "matched targets of the bucket / targets of the bucket. IoU per bucket: target-restricted (each "
        "target with the predicted components that overlap or match it). Fa per bucket: unmatched "
        "predicted components whose own area falls in the bucket (bucket Fa values add up to the total).",
        "Targets per bucket: " + ("; ".join(counts) or "none") + ". '-': no target of that scale, so IoU and Pd "
        "are undefined there.",
        *_notes(run, ref is not None and _paper_shown(run, list(ref.values()))),
    ]
    return Table(
        title="Table 2",
        caption="IoU(%), Pd(%) and Fa(1e-6) per target scale.",
        latex_note=_latex_note(run),
        lead=["Scale", "Method"],
        groups=[(display_name(d, run.datasets), len(METRICS)) for d in datasets],
        columns=[label for _ in datasets for _, label, _, _ in METRICS],
        rows=rows,
        bold=bold,
        rules=rules,
        notes=notes,
    )


def evaluation_table(result: dict[str, Any]) -> Table:
    """The metrics of ``irbench evaluate`` (raw fractions in ``result``) as a one-row table in paper units."""
    keys = (("iou", "IoU(%) ↑"), ("niou", "nIoU(%) ↑"), ("pd", "Pd(%) ↑"), ("fa", "Fa(1e-6) ↓"))
    pd = None if result["n_targets"] == 0 else result["pd"]  # no target: Pd undefined
    values = {**result, "pd": pd}
    return Table(
        caption="Saved predictions scored against the ground truth.",
        lead=["Images", "Targets"],
        groups=[("", len(keys))],
        columns=[label for _, label in keys],
        rows=[
            [str(result["n_images"]), str(result["n_targets"])]
            + [fmt(None if values[k] is None else values[k] * PAPER_SCALE[k]) for k, _ in keys]
        ],
        bold=[[False] * (2 + len(keys))],
        notes=[
            f"Protocol `{result['protocol']}`; policy `{result['policy']}`; missing or unreadable predictions "
            f"scored as empty: {result['n_missing_predictions']}; ground truths left out: {len(result['skipped'])}.",
        ],
    )


def _csv(run: RunRecord, with_scales: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "method",
            "family",
            "dataset",
            "scale",
            "status",
            "protocol",
            "policy",
            "iou_pct",
            "pd_pct",
            "fa_1e-6",
            "niou_pct",
            "precision_pct",
            "f1_pct",
            "n_images",
            "n_targets",
        ]
    )
    for m in ordered_methods(run):
        for dataset, cell in run.cells.get(m.name, {}).items():
            base = [m.name, m.description, dataset]
            if not cell.ok:
                writer.writerow(base + ["all", cell.status, run.protocol["name"], ""] + [""] * 7)
                continue
            met, policy = cell.metrics, cell.policy.name  # type: ignore[union-attr]
            if not with_scales:
                scaled = paper_units(met, ("iou", "pd", "fa", "niou", "precision", "f1")).values()
                writer.writerow(
                    base + ["all", "ok", met["protocol"], policy, *scaled, met["n_images"], met["n_targets"]]
                )
                continue
            for b in BUCKETS:
                s = _scale_metrics(met["scales"][b])
                writer.writerow(
                    base
                    + [
                        b,
                        "ok",
                        met["protocol"],
                        policy,
                        *("" if s[k] is None else s[k] * PAPER_SCALE[k] for k in ("iou", "pd", "fa")),
                        "",
                        "",
                        "",
                        s["n_images"],
                        s["n_targets"],
                    ]
                )
    return buffer.getvalue()


def _json(run: RunRecord, table: str) -> str:
    cells: dict[str, dict[str, Any]] = {}
    for m in ordered_methods(run):
        cells[m.name] = {}
        for dataset, cell in run.cells.get(m.name, {}).items():
            if not cell.ok:
                cells[m.name][dataset] = {"status": cell.status, "reason": cell.reason}
            else:
                cells[m.name][dataset] = {
                    **cell.metrics,
                    "policy": asdict(cell.policy),  # type: ignore[arg-type]
                    "status": OK,
                    "seconds_per_image": cell.seconds_per_image,
                }
    doc = {
        "table": table,
        "complete": run.complete,
        "protocol": run.protocol,
        "split": run.split,
        "datasets": run.datasets,
        "methods": [asdict(m) for m in ordered_methods(run)],
        "units": "raw fractions (iou, pd, fa are not scaled)",
        "cells": cells,
        "failures": [asdict(f) for f in run.failures],
        "skipped": [asdict(s) for s in run.skipped],
        "warnings": [asdict(w) for w in run.warnings],
        "environment": run.environment,
    }
    return dumps(doc, indent=1)


def _curves_csv(run: RunRecord) -> str | None:
    """Long-format curve data (Pd-Fa: x = Fa, y = Pd; ROC: x = FPR, y = TPR; IoU: x = threshold, y = IoU),
    or None without curves."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["method", "dataset", "curve", "threshold", "x", "y"])
    found = False
    for name, cells in run.cells.items():
        for dataset, cell in cells.items():
            curves = cell.curves
            if not curves:
                continue
            found = True
            for t, fa, pd in zip(curves["thresholds"], curves["fa"], curves["pd"], strict=True):
                writer.writerow([name, dataset, "pd-fa", t, fa, pd])
            roc = curves["roc"]
            for t, fpr, tpr in zip(roc["thresholds"], roc["fpr"], roc["tpr"], strict=True):
                writer.writerow([name, dataset, "roc", t, fpr, tpr])
            for t, iou in zip(curves["thresholds"], curves.get("iou", ()), strict=False):  # older runs: none
                writer.writerow([name, dataset, "iou", t, t, iou])
    return buffer.getvalue() if found else None


def write_reports(run_dir: str | Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write ``table1.*`` and ``table2.*`` in ``formats`` (``html``: one ``report.html`` with both tables and
    the figures present) from ``run_dir/run.json``; return the paths.

    Each file is written atomically; an incomplete run's tables say so in their notes.
    """
    run_dir = Path(run_dir)
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"Unknown report format(s) {', '.join(sorted(unknown))}. Available: {', '.join(FORMATS)}")
    run = RunRecord.read(run_dir)
    written, tables = [], []
    for stem, build, with_scales in (("table1", table1, False), ("table2", table2, True)):
        table = build(run)
        tables.append(table)
        texts = {
            "md": lambda t=table: to_markdown(t),
            "tex": lambda t=table: to_latex(t),
            "csv": lambda w=with_scales: _csv(run, w),
            "json": lambda s=stem: _json(run, s),
        }
        for fmt_name in formats:
            if fmt_name != "html":
                written.append(write_text(run_dir / f"{stem}.{fmt_name}", texts[fmt_name]()))
    if "html" in formats:
        written.append(write_text(run_dir / "report.html", html_report(run_dir, run, tables, _latex_note(run))))
    curves = _curves_csv(run)
    if curves is not None:
        written.append(write_text(run_dir / "curves.csv", curves))
    return written
