"""Figures of a run (matplotlib, Agg): Pd-Fa and ROC curves per dataset, a Fig. 5-style panel and, when
the run folder holds a ``profile.json`` (``irbench profile --run``), a Fig. 1-style speed chart.

The qualitative panel shows chosen test images, one column per method, with detections framed as in the
MSHNet paper: correct detections in red, missed targets in blue, false alarms in yellow, and a close-up of
the first target in the image's corner. Every panel is at the protocol's evaluation resolution and shows what
the metrics counted: the predictions come from :func:`benchmark.evaluation.score_maps`, the boxes from
:func:`benchmark.metrics.match_components`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
from scipy import ndimage

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from benchmark.datasets import Dataset, SampleError, display_name, get_dataset  # noqa: E402
from benchmark.evaluation import score_maps  # noqa: E402
from benchmark.metrics import Matching, get_protocol, match_components  # noqa: E402
from benchmark.metrics.components import components  # noqa: E402
from benchmark.record import Cell, MethodEntry, RunRecord  # noqa: E402
from benchmark.report import ordered_methods  # noqa: E402
from benchmark.store import ScoreStore, image_hash  # noqa: E402

COLOURS = {"correct": "red", "missed": "blue", "false alarm": "yellow"}


def _ok_cells(run: RunRecord, dataset: str) -> list[tuple[MethodEntry, Cell]]:
    """The ok cells of ``dataset`` in the tables' row order."""
    order = [m.name for m in ordered_methods(run)]
    return sorted(run.ok_cells(dataset), key=lambda mc: order.index(mc[0].name))


def roc_auc(fpr: list[float], tpr: list[float]) -> float:
    """Area under the ROC of thresholds ``fpr``/``tpr`` (decreasing thresholds), closed by (0, 0) and the
    point (1, 1) of a threshold below every score, by the trapezoid rule."""
    x = np.concatenate([[1.0], np.asarray(fpr, float), [0.0]])
    y = np.concatenate([[1.0], np.asarray(tpr, float), [0.0]])
    return float(np.sum((x[:-1] - x[1:]) * (y[:-1] + y[1:]) / 2))


def plot_curves(run_dir: Path, run: RunRecord) -> list[Path]:
    """``pd_fa_<dataset>.png`` and ``roc_<dataset>.png`` for every dataset whose cells hold curves.

    The Pd-Fa axis is symmetric-log, linear below 1e-6, so thresholds without false alarms (Fa = 0) stay
    on it; a large marker shows the operating point of each method's table row. The ROC is closed by (0, 0)
    and (1, 1), and its area (AUC) is in the legend.
    """
    written = []
    for d in run.datasets:
        cells = [(m, c) for m, c in _ok_cells(run, d["name"]) if c.curves]
        if not cells:
            continue
        for kind in ("pd_fa", "roc"):
            fig, ax = plt.subplots(figsize=(5.5, 4.2), dpi=120)
            for m, c in cells:
                curves = c.curves
                if kind == "pd_fa":
                    (line,) = ax.plot(np.asarray(curves["fa"]) * 1e6, curves["pd"], lw=1, label=m.display)
                    ax.plot(
                        c.metrics["fa"] * 1e6,  # type: ignore[index]
                        c.metrics["pd"],  # type: ignore[index]
                        marker="o",
                        ms=7,
                        mfc="none",
                        mec=line.get_color(),
                        mew=1.5,
                    )
                else:
                    roc = curves["roc"]
                    fpr, tpr = [1.0, *roc["fpr"], 0.0], [1.0, *roc["tpr"], 0.0]
                    ax.plot(fpr, tpr, label=f"{m.display} (AUC {roc_auc(roc['fpr'], roc['tpr']):.3f})")
            if kind == "pd_fa":
                ax.set_xscale("symlog", linthresh=1.0)
                ax.set(
                    xlabel="Fa (1e-6; linear below 1)",
                    ylabel="Pd",
                    title=f"Pd-Fa, {display_name(d['name'], run.datasets)}",
                )
                note = (
                    f"protocol {run.protocol['name']}; circles: the table's operating point. At low thresholds "
                    "components merge, so Pd can fall as Fa rises (a curve may turn back)."
                )
            else:
                ax.set(
                    xscale="log",
                    xlabel="false positive rate (pixels)",
                    ylabel="true positive rate",
                    title=f"ROC, {display_name(d['name'], run.datasets)}",
                )
                note = f"protocol {run.protocol['name']}; closed by (0, 0) and (1, 1); AUC by the trapezoid rule"
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
            fig.text(0.01, 0.01, note, fontsize=6, wrap=True)
            fig.tight_layout(rect=(0, 0.05, 1, 1))
            path = run_dir / f"{kind}_{d['name']}.png"
            fig.savefig(path)
            plt.close(fig)
            written.append(path)
    return written


def _boxes(matching: Matching) -> list[tuple[str, tuple[int, int, int, int]]]:
    """(kind, (row0, col0, row1, col1)) for correct, missed and false-alarm components."""
    gt_boxes, pred_boxes = ndimage.find_objects(matching.gt.labels), ndimage.find_objects(matching.pred.labels)
    kinds = [(gt_boxes[i], "correct" if hit else "missed") for i, hit in enumerate(matching.matched_gt)] + [
        (pred_boxes[j], "false alarm") for j in np.flatnonzero(matching.false_alarm)
    ]
    return [(kind, (rows.start, cols.start, rows.stop, cols.stop)) for (rows, cols), kind in kinds]


def _per_image_stats(run_dir: Path, dataset: str) -> dict[str, dict[str, int]]:
    """Per image of ``dataset``: targets, hits, misses and false-alarm pixels summed over the run's methods
    (from ``per_image.jsonl``)."""
    totals: dict[str, dict[str, int]] = {}
    path = run_dir / "per_image.jsonl"
    for line in path.read_text().splitlines() if path.is_file() else ():
        row = json.loads(line)
        stats = row.get("stats")
        if row["dataset"] != dataset or not stats:
            continue
        t = totals.setdefault(row["id"], {"targets": stats["n_gt"], "hits": 0, "misses": 0, "fa": 0})
        t["hits"] += stats["n_matched"]
        t["misses"] += stats["n_gt"] - stats["n_matched"]
        t["fa"] += stats["fa_pixels"]
    return totals


def choose_examples(totals: dict[str, dict[str, int]], ids: list[str], n_images: int) -> list[str]:
    """Images with targets that show what the methods got right and wrong: in turn the one with the most
    misses, the most false-alarm pixels and the most hits (summed over methods) not yet taken, until
    ``n_images``; ties go to the earlier id. Without per-image records, the first images with targets."""
    order = {sample: i for i, sample in enumerate(ids)}
    pool = [i for i in ids if totals.get(i, {}).get("targets", 0) > 0]
    if not pool:
        return []
    chosen: list[str] = []
    criteria = ("misses", "fa", "hits")
    while len(chosen) < min(n_images, len(pool)):
        key = criteria[len(chosen) % 3]
        rest = [i for i in pool if i not in chosen]
        chosen.append(max(rest, key=lambda i: (totals[i][key], -order[i])))
    return chosen


def _chosen(run_dir: Path, ds: Dataset, n_images: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(id, image, native gt)`` of the examples :func:`choose_examples` picks (usable images only)."""
    totals = _per_image_stats(run_dir, ds.name)
    if not totals:  # a run without per-image records: the first images with targets
        totals = {}
        for sample in ds.ids:
            try:
                totals[sample] = {"targets": int(ds.load_mask(sample).any()), "hits": 0, "misses": 0, "fa": 0}
            except SampleError:
                continue
    chosen = []
    for sample in choose_examples(totals, ds.ids, n_images):
        try:
            chosen.append((sample, ds.load_image(sample), ds.load_mask(sample)))
        except SampleError:
            continue
    return chosen


def plot_qualitative(run_dir: Path, run: RunRecord, dataset: str, n_images: int = 4) -> Path:
    """``qualitative_<dataset>.png``: ``n_images`` images chosen by :func:`choose_examples`, the input, the
    ground truth and one column per method, each binarised by the policy its cell applied (a ``sweep`` cell
    by its fitted threshold), at the protocol's resolution."""
    recorded = next((d for d in run.datasets if d["name"] == dataset), {})
    spec = recorded.get("spec")
    ds = get_dataset(spec if spec and Path(spec).exists() else dataset, run.data_root, run.split)
    proto = get_protocol(run.protocol["name"])
    store = ScoreStore(run.cache)
    cells = _ok_cells(run, dataset)
    chosen = _chosen(run_dir, ds, n_images)
    fig, axes = plt.subplots(
        len(chosen), len(cells) + 2, figsize=(2.2 * (len(cells) + 2), 2.2 * len(chosen)), dpi=120, squeeze=False
    )
    for c, (m, cell) in enumerate(cells, start=2):
        samples = []
        for sample, image, gt in chosen:
            entry = store.get(m.name, cell.store_key, image_hash(image), image.shape)  # type: ignore[arg-type]
            samples.append((sample, entry.score if entry is not None else None, gt))
        counted = score_maps(samples, proto, cell.policy.rule, keep=True).predictions  # type: ignore[union-attr]
        for r, (sample, _, _) in enumerate(chosen):
            pred, gt = counted[sample]
            ax = axes[r, c]
            ax.imshow(pred, cmap="gray", vmin=0, vmax=1)
            for kind, (r0, c0, r1, c1) in _boxes(match_components(pred, gt, proto)):
                ax.add_patch(
                    Rectangle(
                        (c0 - 2.5, r0 - 2.5), c1 - c0 + 4, r1 - r0 + 4, fill=False, edgecolor=COLOURS[kind], linewidth=1
                    )
                )
            _inset(ax, pred.astype(np.float32), gt)
            if r == 0:
                ax.set_title(m.display, fontsize=8)
    for r, (sample, image, native) in enumerate(chosen):
        image, gt = proto.prepare(image, native)
        axes[r, 0].imshow(image, cmap="gray")
        axes[r, 0].set_ylabel(sample, fontsize=7)
        _inset(axes[r, 0], image, gt)
        axes[r, 1].imshow(gt, cmap="gray", vmin=0, vmax=1)
        _inset(axes[r, 1], gt.astype(np.float32), gt)
    axes[0, 0].set_title("Input", fontsize=8)
    axes[0, 1].set_title("Ground truth", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.text(
        0.01,
        0.005,
        "red: correct, blue: missed, yellow: false alarm; inset: close-up of the first target"
        f"; at the {proto.name} evaluation resolution; rows: the images with the most misses, false-alarm "
        "pixels and hits over all methods, in turn",
        fontsize=7,
    )
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
    crop = picture[max(cy - half, 0) : cy + half, max(cx - half, 0) : cx + half]
    inset = ax.inset_axes((0.64, 0.64, 0.35, 0.35))
    inset.imshow(crop, cmap="gray", interpolation="nearest")
    inset.set_xticks([])
    inset.set_yticks([])
    for spine in inset.spines.values():
        spine.set_edgecolor("white")


FIG1_MAX_AREA = 2400.0  # scatter area (points^2) of the circle of the largest FLOPs


def _fig1_points(run: RunRecord, profile: dict[str, Any], dataset: str, size: str) -> list[dict[str, Any]]:
    """Profiled methods with an ok Table 1 cell for ``dataset``: label, kind, images/s, IoU (%), FLOPs."""
    cells = {m.name: c for m, c in run.ok_cells(dataset)}
    return [
        {
            "label": m["display"],
            "kind": m["kind"],
            "x": m["sizes"][size]["images_per_second"],
            "y": cells[m["name"]].metrics["iou"] * 100,
            "flops": m["sizes"][size]["macs"],
        }  # type: ignore[index]
        for m in profile["methods"]
        if m["name"] in cells and size in m["sizes"]
    ]


def _label_points(ax: Any, points: list[dict[str, Any]], radii: list[float]) -> None:
    """Label each point beside its marker, trying eight directions and keeping clear of markers and labels."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    scale = fig.dpi / 72.0
    centres = [ax.transData.transform((p["x"], p["y"])) for p in points]
    taken = [
        Bbox.from_extents(cx - r * scale, cy - r * scale, cx + r * scale, cy + r * scale)
        for (cx, cy), r in zip(centres, radii, strict=True)
    ]
    frame = ax.get_window_extent(renderer)
    directions = (
        (1, 0, "left", "center"),
        (-1, 0, "right", "center"),
        (0, 1, "center", "bottom"),
        (0, -1, "center", "top"),
        (1, 1, "left", "bottom"),
        (-1, 1, "right", "bottom"),
        (1, -1, "left", "top"),
        (-1, -1, "right", "top"),
    )
    for p, r in zip(points, radii, strict=True):
        chosen = None
        for push in (3.0, 14.0, 28.0):
            for dx, dy, ha, va in directions:
                gap = (r + push) / (2**0.5 if dx and dy else 1.0)
                text = ax.annotate(
                    p["label"],
                    (p["x"], p["y"]),
                    xytext=(dx * gap, dy * gap),
                    textcoords="offset points",
                    ha=ha,
                    va=va,
                    fontsize=8,
                    arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.6} if push > 3 else None,
                )
                box = text.get_window_extent(renderer).padded(2)
                inside = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
                if inside and not any(box.overlaps(t) for t in taken):
                    chosen = box
                    break
                text.remove()
            if chosen is not None:
                break
        if chosen is None:  # crowded: put it to the right anyway
            text = ax.annotate(
                p["label"],
                (p["x"], p["y"]),
                xytext=(r + 3, 0),
                textcoords="offset points",
                ha="left",
                va="center",
                fontsize=8,
            )
            chosen = text.get_window_extent(renderer)
        taken.append(chosen)


def plot_fig1(run_dir: Path, run: RunRecord, profile: dict[str, Any], dataset: str) -> Path | None:
    """``fig1_<dataset>.png``: IoU (the run's Table 1) against images/s (profile, largest size, log scale).

    Deep methods are circles whose area is proportional to their FLOPs (MACs, thop convention);
    traditional methods, which have no FLOPs, share one small hollow square. Returns None when no profiled
    method has a result for ``dataset`` in the run.
    """
    size = str(max(profile["sizes"]))
    points = _fig1_points(run, profile, dataset, size)
    if not points:
        return None
    deep = [p for p in points if p["flops"] is not None]
    biggest = max((p["flops"] for p in deep), default=1)
    area = [FIG1_MAX_AREA * p["flops"] / biggest if p["flops"] is not None else 40.0 for p in points]
    fig, ax = plt.subplots(figsize=(9.0, 5.6), dpi=130)
    colours = plt.get_cmap("tab10")
    for p, a in zip(points, area, strict=True):
        if p["flops"] is None:
            ax.scatter(p["x"], p["y"], s=a, marker="s", facecolor="none", edgecolor="0.3", linewidth=1.2, zorder=3)
        else:
            ax.scatter(
                p["x"],
                p["y"],
                s=a,
                color=colours(deep.index(p) % 10),
                alpha=0.55,
                edgecolor="0.2",
                linewidth=0.6,
                zorder=2,
            )
    xs, ys = [p["x"] for p in points], [p["y"] for p in points]
    pad = max(4.0, 0.2 * (max(ys) - min(ys)))
    low = max(min(ys) - pad, -0.12 * (max(ys) - min(ys) + 2 * pad))  # room below for circles near IoU 0
    ax.set(
        xscale="log",
        xlim=(min(xs) / 2.5, max(xs) * 2.5),
        ylim=(low, max(ys) + pad),
        xlabel=f"images / second at {size}x{size} (log scale)",
        ylabel=f"IoU (%) on {display_name(dataset, run.datasets)}",
        title=f"Detection vs speed vs FLOPs, {display_name(dataset, run.datasets)}",
    )
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.1e}"[0] in "25" else ""))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}" if v >= 0 else ""))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.grid(alpha=0.3, which="both")
    handles = []
    if deep:
        for value in _reference_flops([p["flops"] for p in deep]):
            giga = value / 1e9
            text = f"{giga:.3g}" if giga < 1000 else f"{giga:.0f}"
            handles.append(
                ax.scatter(
                    [],
                    [],
                    s=FIG1_MAX_AREA * value / biggest,
                    color="0.75",
                    edgecolor="0.2",
                    linewidth=0.6,
                    label=f"{text} G FLOPs",
                )
            )
    if len(deep) < len(points):
        handles.append(
            ax.scatter(
                [],
                [],
                s=40,
                marker="s",
                facecolor="none",
                edgecolor="0.3",
                linewidth=1.2,
                label="traditional\n(no FLOPs)",
            )
        )
    room = FIG1_MAX_AREA**0.5 / 8  # the largest key circle's diameter in 8-pt font units
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=8,
        borderaxespad=0,
        labelspacing=room * 0.8,
        handlelength=room,
        handleheight=room * 0.6,
        borderpad=1.2,
        frameon=False,
        title="circle area" if deep else None,
        title_fontsize=8,
    )
    device = sorted({m["device"] for m in profile["methods"]})
    missing = [m["display"] for m in profile["methods"] if m["display"] not in {p["label"] for p in points}]
    note = (
        f"circle area = FLOPs (thop MACs) at {size}x{size}; speed: {'/'.join(device)}, "
        f"{profile['threads']} torch thread(s), median of {profile['repeats']}; "
        f"IoU: protocol {run.protocol['name']}"
    )
    if missing:
        note += f"; not in this run: {', '.join(missing)}"
    fig.text(0.01, 0.01, note, fontsize=6, wrap=True)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.canvas.draw()  # labels are placed in the final layout
    _label_points(ax, points, [a**0.5 / 2 for a in area])
    path = run_dir / f"fig1_{dataset}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _reference_flops(values: list[float]) -> list[float]:
    """Up to three round FLOPs values (1, 10, 100 ... G) spanning ``values``, for the size legend."""
    low, high = min(values), max(values)
    decades = [10.0**k for k in range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)]
    inside = [d for d in decades if low / 3 <= d <= high * 1.01] or [high]
    return inside[-3:]


def make_figures(run_dir: str | Path, n_images: int = 4, log: Callable[[str], None] = print) -> list[Path]:
    """All figures of ``run_dir`` (curves need a run made with ``--curves``, Fig. 1 a ``profile.json``);
    ``log`` says which figures cannot be drawn and why."""
    run_dir = Path(run_dir)
    run = RunRecord.read(run_dir)
    written = plot_curves(run_dir, run)
    if not written:
        log(f"no Pd-Fa or ROC curves: {run_dir} holds no curve data (run irbench run with --curves)")
    for d in run.datasets:
        if run.ok_cells(d["name"]):
            written.append(plot_qualitative(run_dir, run, d["name"], n_images))
    profile_path = run_dir / "profile.json"
    if not profile_path.is_file():
        log(f"no Fig. 1: {run_dir} holds no profile.json (irbench profile --run {run_dir})")
    else:
        profile = json.loads(profile_path.read_text())
        written += [p for d in run.datasets if (p := plot_fig1(run_dir, run, profile, d["name"])) is not None]
    return written
