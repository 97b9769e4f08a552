"""Paper-style reports of a run: Table 1 (IoU, Pd, Fa per dataset) and Table 2 (the same per target scale).

Every table carries, as notes under it, the protocol, each method's binarisation policy, the split, the
machine and versions, failed and skipped images, and methods without weights. Values in Markdown/LaTeX/CSV
are in the paper's units (IoU and Pd in %, Fa in 1e-6); the JSON keeps raw fractions.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from benchmark.datasets import display_name
from benchmark.metrics import BUCKETS
from benchmark.render import Table, fmt, to_latex, to_markdown

FORMATS = ("md", "tex", "csv", "json")
REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference" / "mshnet_cvpr2024.json"
METRICS = (("iou", "IoU(%) ↑", 100.0, max), ("pd", "Pd(%) ↑", 100.0, max), ("fa", "Fa(1e-6) ↓", 1e6, min))


def load_reference() -> dict[str, Any]:
    """The MSHNet paper's Table 1 and Table 2 values (paper units) as shipped in ``results/reference``."""
    return json.loads(REFERENCE.read_text())


def _value(cell: dict[str, Any] | None, key: str, scale: float) -> float | None:
    if not cell or cell.get("status") != "ok":
        return None
    value = cell["metrics"].get(key)
    return None if value is None else value * scale


def _best(values: list[float | None], pick: Any) -> float | None:
    present = [v for v in values if v is not None]
    return pick(present) if len(present) > 1 else None


def _notes(run: dict[str, Any]) -> list[str]:
    env = run["environment"]
    policies = sorted({f"{m['display']}: {c.get('policy', m['policy'])}" for m in run["methods"]
                       for c in run["cells"][m["name"]].values() if c.get("status") == "ok"})
    notes = [f"Protocol `{run['protocol']['name']}`: {run['protocol']['description']}",
             f"Binarisation policy per method: {'; '.join(policies) or 'none'}."]
    if any("sweep" in p for p in policies):
        notes.append("`sweep` picks the best of 256 thresholds on the test data itself: optimistic, not a "
                     "deployable operating point.")
    datasets = ", ".join(f"{display_name(d['name'])} {d['split']} ({d['n_images']} images, {d['layout']} layout)"
                         for d in run["datasets"])
    notes.append(f"Split: {datasets}. Best value per column in bold.")
    levels = {c["metrics"]["ci"]["level"] for cells in run["cells"].values() for c in cells.values()
              if c.get("status") == "ok" and "ci" in c["metrics"]}
    if levels:
        notes.append(f"In brackets: {', '.join(f'{x:g}' for x in sorted(levels))}% bootstrap confidence intervals "
                     "over images (1000 resamples, percentile method).")
    if run.get("compare_paper"):
        notes.append("In parentheses: the value reported in the MSHNet paper (CVPR 2024), whose numbers come "
                     "from the `mshnet` protocol with unstated thresholds for traditional methods.")
    for m in run["methods"]:
        for dataset, cell in run["cells"][m["name"]].items():
            if cell.get("status") != "ok":  # "no weights" / "not run": the runner's hint says why
                notes.append(f"{m['display']} on {display_name(dataset)}: {cell['status']}. {cell['hint']}")
    if run["failures"]:
        counts: dict[str, int] = {}
        for f in run["failures"]:
            counts[f"{f['method']} on {f['dataset']}"] = counts.get(f"{f['method']} on {f['dataset']}", 0) + 1
        notes.append("Detector failures (scored as empty predictions): "
                     + "; ".join(f"{k}: {v} image(s)" for k, v in counts.items()) + " (see run.json).")
    if run["skipped"]:
        notes.append("Skipped images (unusable data, left out for every method): "
                     + "; ".join(f"{s['dataset']}/{s['id']}: {s['error']}" for s in run["skipped"]))
    versions = ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v)
    notes.append(f"Machine: {env['platform']}, {env['cpu_count']} CPUs, GPU {env['gpu'] or 'none'}; "
                 f"Python {env['python']}; {versions}; commit {env['git_commit'] or 'unknown'}.")
    return notes


def _paper(ref: dict[str, Any] | None, method: str, dataset: str, key: str) -> float | None:
    if ref is None:
        return None
    return ref.get(method, {}).get(dataset, {}).get(key)


def _metric_rows(run: dict[str, Any], cells_of: Any, ref: dict[str, Any] | None,
                 lead_of: Any) -> tuple[list[list[str]], list[list[bool]]]:
    """Rows of formatted values (with paper values in parentheses) and bold marks per column."""
    datasets = [d["name"] for d in run["datasets"]]
    methods = run["methods"]
    values = [[_value(cells_of(m["name"], d), key, scale) for d in datasets for key, _, scale, _ in METRICS]
              for m in methods]
    picks = [pick for _ in datasets for _, _, _, pick in METRICS]
    best = [_best([row[j] for row in values], picks[j]) for j in range(len(picks))]
    rows, bold = [], []
    for m, row in zip(methods, values, strict=True):
        cells = []
        for j, v in enumerate(row):
            dataset, key = datasets[j // len(METRICS)], METRICS[j % len(METRICS)][0]
            cell = cells_of(m["name"], dataset)
            text = cell["status"] if cell and cell.get("status") != "ok" else fmt(v)
            interval = (cell or {}).get("metrics", {}).get("ci", {}).get(key) if v is not None else None
            if interval:
                text += f" [{fmt(interval[0] * METRICS[j % len(METRICS)][2])}, " \
                        f"{fmt(interval[1] * METRICS[j % len(METRICS)][2])}]"
            paper = _paper(ref, m["name"], dataset, key)
            cells.append(f"{text} ({fmt(paper)})" if paper is not None else text)
        lead = lead_of(m)
        rows.append(lead + cells)
        bold.append([False] * len(lead) + [v is not None and v == b for v, b in zip(row, best, strict=True)])
    return rows, bold


def table1(run: dict[str, Any]) -> Table:
    """Table 1: methods grouped by family, IoU/Pd/Fa per dataset side by side."""
    ref = load_reference()["table1"] if run.get("compare_paper") else None
    shown: set[str] = set()

    def lead(m: dict[str, Any]) -> list[str]:
        first = m["description"] not in shown
        shown.add(m["description"])
        return [m["display"], m["description"] if first else ""]

    rows, bold = _metric_rows(run, lambda name, d: run["cells"][name].get(d), ref, lead)
    families = [m["description"] for m in run["methods"]]
    rules = [i for i in range(1, len(families)) if families[i] != families[i - 1]]
    datasets = [d["name"] for d in run["datasets"]]
    return Table(
        caption="Table 1. IoU(%), Pd(%) and Fa(1e-6) per dataset.",
        lead=["Method", "Description"],
        groups=[(display_name(d), len(METRICS)) for d in datasets],
        columns=[label for _ in datasets for _, label, _, _ in METRICS],
        rows=rows, bold=bold, rules=rules, notes=_notes(run),
    )


def table2(run: dict[str, Any]) -> Table:
    """Table 2: per target-scale bucket (rows: bucket x method), IoU/Pd/Fa and target counts per dataset."""
    ref = load_reference()["table2"] if run.get("compare_paper") else None
    rows: list[list[str]] = []
    bold: list[list[bool]] = []
    rules = []
    for bucket in BUCKETS:
        def cell_of(name: str, dataset: str, b: str = bucket) -> dict[str, Any] | None:
            cell = run["cells"][name].get(dataset)
            if not cell or cell.get("status") != "ok":
                return cell
            return {"status": "ok", "metrics": cell["metrics"]["scales"][b]}

        first = [True]

        def lead(m: dict[str, Any], b: str = bucket, first: list[bool] = first) -> list[str]:
            label = b if first[0] else ""
            first[0] = False
            return [label, m["display"]]

        block_rows, block_bold = _metric_rows(run, cell_of, ref.get(bucket) if ref else None, lead)
        rules.append(len(rows))
        rows += block_rows
        bold += block_bold
    datasets = [d["name"] for d in run["datasets"]]
    counts = []
    for d in datasets:
        some = next((c for c in (run["cells"][m["name"]].get(d) for m in run["methods"])
                     if c and c.get("status") == "ok"), None)
        if some:
            counts.append(f"{display_name(d)}: " + ", ".join(
                f"{b} {some['metrics']['scales'][b]['n_targets']} targets in "
                f"{some['metrics']['scales'][b]['n_images']} images" for b in BUCKETS))
    notes = ["Scale buckets by ground-truth target area in pixels at the evaluation resolution. Pd per bucket: "
             "matched targets of the bucket / targets of the bucket. IoU per bucket: target-restricted (each "
             "target with the predicted components that overlap or match it). Fa per bucket: unmatched "
             "predicted components whose own area falls in the bucket (bucket Fa values add up to the total).",
             "Targets per bucket: " + ("; ".join(counts) or "none") + ".", *_notes(run)]
    return Table(
        caption="Table 2. IoU(%), Pd(%) and Fa(1e-6) per target scale.",
        lead=["Scale", "Method"],
        groups=[(display_name(d), len(METRICS)) for d in datasets],
        columns=[label for _ in datasets for _, label, _, _ in METRICS],
        rows=rows, bold=bold, rules=rules, notes=notes,
    )


def _csv(run: dict[str, Any], with_scales: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["method", "family", "dataset", "scale", "status", "protocol", "policy", "iou_pct", "pd_pct",
                     "fa_1e-6", "niou_pct", "precision_pct", "f1_pct", "n_images", "n_targets"])
    for m in run["methods"]:
        for dataset, cell in run["cells"][m["name"]].items():
            base = [m["name"], m["description"], dataset]
            if cell.get("status") != "ok":
                writer.writerow(base + ["all", cell.get("status"), run["protocol"]["name"], ""] + [""] * 7)
                continue
            met = cell["metrics"]
            if not with_scales:
                writer.writerow(base + ["all", "ok", met["protocol"], cell["policy"], met["iou"] * 100,
                                        met["pd"] * 100, met["fa"] * 1e6, met["niou"] * 100,
                                        met["precision"] * 100, met["f1"] * 100, met["n_images"],
                                        met["n_targets"]])
                continue
            for b in BUCKETS:
                s = met["scales"][b]
                writer.writerow(base + [b, "ok", met["protocol"], cell["policy"], s["iou"] * 100, s["pd"] * 100,
                                        s["fa"] * 1e6, "", "", "", s["n_images"], s["n_targets"]])
    return buffer.getvalue()


def _json(run: dict[str, Any]) -> str:
    cells: dict[str, dict[str, Any]] = {}
    for m in run["methods"]:
        cells[m["name"]] = {}
        for dataset, cell in run["cells"][m["name"]].items():
            if cell.get("status") != "ok":
                cells[m["name"]][dataset] = {"status": cell.get("status"), "hint": cell.get("hint")}
            else:
                cells[m["name"]][dataset] = {**cell["metrics"], "policy": cell["policy"], "status": "ok",
                                             "seconds_per_image": cell.get("seconds_per_image")}
    doc = {"protocol": run["protocol"], "split": run["split"], "datasets": run["datasets"],
           "methods": run["methods"], "units": "raw fractions (iou, pd, fa are not scaled)", "cells": cells,
           "failures": run["failures"], "skipped": run["skipped"], "environment": run["environment"]}
    return json.dumps(doc, indent=1, default=str)


def _curves_csv(run: dict[str, Any]) -> str | None:
    """Long-format curve data (Pd-Fa: x = Fa, y = Pd; ROC: x = FPR, y = TPR), or None without curves."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["method", "dataset", "curve", "threshold", "x", "y"])
    found = False
    for name, cells in run["cells"].items():
        for dataset, cell in cells.items():
            curves = cell.get("curves")
            if not curves:
                continue
            found = True
            for t, fa, pd in zip(curves["thresholds"], curves["fa"], curves["pd"], strict=True):
                writer.writerow([name, dataset, "pd-fa", t, fa, pd])
            roc = curves["roc"]
            for t, fpr, tpr in zip(roc["thresholds"], roc["fpr"], roc["tpr"], strict=True):
                writer.writerow([name, dataset, "roc", t, fpr, tpr])
    return buffer.getvalue() if found else None


def write_reports(run_dir: str | Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write ``table1.*`` and ``table2.*`` in ``formats`` from ``run_dir/run.json``; return the paths."""
    run_dir = Path(run_dir)
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"Unknown report format(s) {', '.join(sorted(unknown))}. Available: {', '.join(FORMATS)}")
    run = json.loads((run_dir / "run.json").read_text())
    written = []
    for stem, build, with_scales in (("table1", table1, False), ("table2", table2, True)):
        table = build(run)
        texts = {"md": lambda t=table: to_markdown(t), "tex": lambda t=table: to_latex(t),
                 "csv": lambda w=with_scales: _csv(run, w), "json": lambda: _json(run)}
        for fmt_name in formats:
            path = run_dir / f"{stem}.{fmt_name}"
            path.write_text(texts[fmt_name]())
            written.append(path)
    curves = _curves_csv(run)
    if curves is not None:
        (run_dir / "curves.csv").write_text(curves)
        written.append(run_dir / "curves.csv")
    return written
