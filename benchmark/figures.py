"""Figures of a run (matplotlib, Agg): Pd-Fa and ROC curves per dataset, and a Fig. 5-style panel.

The qualitative panel shows chosen test images, one column per method, with detections framed as in the
MSHNet paper: correct detections in red, missed targets in blue, false alarms in yellow, and a close-up of
the first target in the image's corner.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from benchmark.datasets import display_name, get_dataset  # noqa: E402
from benchmark.metrics import get_protocol  # noqa: E402
from benchmark.metrics.components import components, distances, match  # noqa: E402
from benchmark.policies import parse_policy  # noqa: E402
from benchmark.store import ScoreStore, image_hash  # noqa: E402

COLOURS = {"correct": "red", "missed": "blue", "false alarm": "yellow"}


def _ok_cells(run: dict[str, Any], dataset: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(m, run["cells"][m["name"]][dataset]) for m in run["methods"]
            if run["cells"][m["name"]].get(dataset, {}).get("status") == "ok"]


def plot_curves(run_dir: Path, run: dict[str, Any]) -> list[Path]:
    """``pd_fa_<dataset>.png`` and ``roc_<dataset>.png`` for every dataset whose cells hold curves."""
    written = []
    for d in run["datasets"]:
        cells = [(m, c) for m, c in _ok_cells(run, d["name"]) if c.get("curves")]
        if not cells:
            continue
        for kind in ("pd_fa", "roc"):
            fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
            for m, c in cells:
                curves = c["curves"]
                if kind == "pd_fa":
                    ax.plot(np.asarray(curves["fa"]) * 1e6, curves["pd"], marker=".", label=m["display"])
                else:
                    ax.plot(curves["roc"]["fpr"], curves["roc"]["tpr"], label=m["display"])
            if kind == "pd_fa":
                ax.set(xscale="symlog", xlabel="Fa (1e-6)", ylabel="Pd", title=f"Pd-Fa, {display_name(d['name'])}")
            else:
                ax.set(xscale="log", xlabel="false positive rate (pixels)", ylabel="true positive rate",
                       title=f"ROC, {display_name(d['name'])}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
            fig.text(0.01, 0.01, f"protocol {run['protocol']['name']}", fontsize=6)
            fig.tight_layout()
            path = run_dir / f"{kind}_{d['name']}.png"
            fig.savefig(path)
            plt.close(fig)
            written.append(path)
    return written


def _boxes(pred: np.ndarray, gt: np.ndarray, protocol: str) -> list[tuple[str, tuple[int, int, int, int]]]:
    """(kind, (row0, col0, row1, col1)) for correct, missed and false-alarm components."""
    proto = get_protocol(protocol)
    g, p = components(gt), components(pred)
    pairs = match(distances(g, p), proto.distance, proto.matcher)
    matched_gt, matched_pred = set(pairs[:, 0].tolist()), set(pairs[:, 1].tolist())
    out = []
    for comp, index, kind in ([(g, i, "correct" if i in matched_gt else "missed") for i in range(g.n)]
                              + [(p, j, "false alarm") for j in range(p.n) if j not in matched_pred]):
        rows, cols = np.nonzero(comp.labels == index + 1)
        out.append((kind, (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)))
    return out


def plot_qualitative(run_dir: Path, run: dict[str, Any], dataset: str, n_images: int = 4) -> Path:
    """``qualitative_<dataset>.png``: the first ``n_images`` images with targets, one column per method."""
    ds = get_dataset(dataset, run.get("data_root"), run["split"])
    store = ScoreStore(run["cache"])
    cells = _ok_cells(run, dataset)
    chosen = []
    for sample in ds.ids:
        image, gt = ds.load(sample)
        if gt.any():
            chosen.append((sample, image, gt))
        if len(chosen) == n_images:
            break
    fig, axes = plt.subplots(len(chosen), len(cells) + 1, figsize=(2.2 * (len(cells) + 1), 2.2 * len(chosen)),
                             dpi=120, squeeze=False)
    for r, (sample, image, gt) in enumerate(chosen):
        axes[r, 0].imshow(image, cmap="gray")
        axes[r, 0].set_ylabel(sample, fontsize=7)
        _inset(axes[r, 0], image, gt)
        for c, (m, cell) in enumerate(cells, start=1):
            entry = store.get(m["name"], cell["store_key"], image_hash(image))
            score = entry.score if entry is not None else np.zeros_like(image)
            policy = parse_policy(cell["policy"].split(" ")[0]) if "sweep" not in cell["policy"] else None
            pred = policy.binarise(score) if policy else np.zeros(gt.shape, bool)
            ax = axes[r, c]
            ax.imshow(pred, cmap="gray", vmin=0, vmax=1)
            for kind, (r0, c0, r1, c1) in _boxes(pred, gt, run["protocol"]["name"]):
                ax.add_patch(Rectangle((c0 - 2.5, r0 - 2.5), c1 - c0 + 4, r1 - r0 + 4, fill=False,
                                       edgecolor=COLOURS[kind], linewidth=1))
            _inset(ax, pred.astype(np.float32), gt)
            if r == 0:
                ax.set_title(m["display"], fontsize=8)
    axes[0, 0].set_title("Input", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.text(0.01, 0.005, "red: correct, blue: missed, yellow: false alarm; inset: close-up of the first target",
             fontsize=7)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    path = run_dir / f"qualitative_{dataset}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _inset(ax: Any, picture: np.ndarray, gt: np.ndarray, half: int = 12) -> None:
    targets = components(gt)
    if targets.n == 0:
        return
    cy, cx = (int(v) for v in targets.centroids[0])
    crop = picture[max(cy - half, 0):cy + half, max(cx - half, 0):cx + half]
    inset = ax.inset_axes((0.64, 0.64, 0.35, 0.35))
    inset.imshow(crop, cmap="gray", interpolation="nearest")
    inset.set_xticks([])
    inset.set_yticks([])
    for spine in inset.spines.values():
        spine.set_edgecolor("white")


def make_figures(run_dir: str | Path, n_images: int = 4) -> list[Path]:
    """All figures of ``run_dir`` (curves need a run made with ``--curves``)."""
    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    written = plot_curves(run_dir, run)
    for d in run["datasets"]:
        if _ok_cells(run, d["name"]):
            written.append(plot_qualitative(run_dir, run, d["name"], n_images))
    return written
