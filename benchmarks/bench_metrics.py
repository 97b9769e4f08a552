"""Metric engine speed on the IRSTD-1k test split, every timing in one run on one core.

Usage: python benchmarks/bench_metrics.py [--data-root ../shared/data] [--repeats 3] [--maps deep,clutter]
       [--official PATH/TO/MSHNet/utils/metric.py] [--limit N]

1. Per-image counts: ``evaluate_image`` against a plain per-component Python loop (regionprops, greedy,
   fixed Fa) on binary perturbed masks; both must agree on every image.
2. Curves on graded score maps made from the same perturbed masks, min-max normalised (``--maps``):
   ``deep``: the blurred mask over a background of 1e-3 noise (most pixels at the lowest levels, as a
   sigmoid output); ``clutter``: the blurred mask plus 0.15 uniform noise, blurred again (levels spread
   over the lower fifth of the range, as a filter's output). Timed: the official MSHNet ``PD_FA`` (10 bins)
   plus ``mIoU`` when ``--official`` names its ``utils/metric.py`` (never part of irbench);
   ``pyirstdmetrics`` Pd/Fa at 1 and 10 bins when installed; irbench at one threshold
   (``DetectionMetrics``, the ``basicirstd`` protocol, which all of these share); irbench's former
   per-threshold curve (one labelling and matching per threshold) at 11 and 256 thresholds; and the
   component-tree curve engine (``CurveMetrics``) at 256 thresholds. Each is the median of ``--repeats``
   runs (the 256-threshold per-threshold curve runs once), with its ratio to irbench at one threshold.
   The tree engine's matched targets and false-alarm pixels are checked against the per-threshold curve
   at all 256 thresholds on every image.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.measure import label, regionprops

from benchmark.datasets import get_dataset
from benchmark.metrics import CurveMetrics, DetectionMetrics, evaluate_image, get_protocol, match_components
from benchmark.metrics.components import components
from benchmark.metrics.tree import threshold_counts
from benchmark.policies import minmax


def perturbed(gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    pred = ndimage.binary_dilation(gt) if rng.random() < 0.5 else np.roll(gt, 1, axis=1)
    noise = rng.random(gt.shape) > 0.9995  # scattered false alarms, single pixels or 3x3 blobs
    return pred | (ndimage.binary_dilation(noise) if rng.random() < 0.5 else noise)


def graded(pred: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """A [0, 1] score map around a binary prediction (see the module notes for the two kinds)."""
    blurred = ndimage.gaussian_filter(pred.astype(np.float32), 1.0)
    if kind == "deep":
        return minmax(blurred + 1e-3 * rng.random(pred.shape, dtype=np.float32))
    noisy = blurred + 0.15 * rng.random(pred.shape, dtype=np.float32)
    return minmax(ndimage.gaussian_filter(noisy, 0.7))


def loop_baseline(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, int, int, int]:
    """The textbook implementation: regionprops and Python loops over components (greedy, fixed Fa);
    pixel counts are vectorised so the comparison isolates the component handling."""
    gt_regions = regionprops(label(gt, connectivity=2))
    pred_regions = list(regionprops(label(pred, connectivity=2)))
    matched = set()
    for g in gt_regions:
        for k, p in enumerate(pred_regions):
            if k in matched:
                continue
            if np.linalg.norm(np.array(g.centroid) - np.array(p.centroid)) < 3:
                matched.add(k)
                break
    fa = sum(p.area for k, p in enumerate(pred_regions) if k not in matched)
    inter = int(np.logical_and(pred, gt).sum())
    union = int(gt.sum()) + int(pred.sum()) - inter
    return inter, union, len(gt_regions), len(matched), int(fa)


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_threshold_curve(maps: list[np.ndarray], gts: list[np.ndarray], n: int) -> list[tuple[np.ndarray, ...]]:
    """irbench's former curve: one labelling and matching per threshold below each map's maximum."""
    protocol = get_protocol("basicirstd")
    out = []
    for score, gt in zip(maps, gts):
        g = components(gt)
        matched, fa = np.zeros(n, np.int64), np.zeros(n, np.int64)
        for k in range(int(np.count_nonzero(score.max() > np.arange(n) / n))):
            m = match_components(score > k / n, g, protocol)
            matched[k], fa[k] = len(m.pairs), m.pred.areas[m.false_alarm].sum()
        out.append((matched, fa))
    return out


def load_official(path: Path):
    spec = importlib.util.spec_from_file_location("official_mshnet_metric", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_curve(module, maps: list[np.ndarray], gts: list[np.ndarray], bins: int) -> None:
    import torch

    size = gts[0].shape[0]
    pdfa, miou = module.PD_FA(1, bins, size), module.mIoU(1)
    for score, gt in zip(maps, gts):
        pred = torch.from_numpy(score * 255.0)[None, None]
        labels = torch.from_numpy(gt.astype(np.float32))[None, None]
        pdfa.update(pred, labels)
        miou.update(pred > 127.5, labels)
    pdfa.get(len(maps))
    miou.get()


def pyirstd_curve(pim, maps: list[np.ndarray], gts: list[np.ndarray], bins: int) -> None:
    metric = pim.ProbabilityDetectionAndFalseAlarmRate(num_bins=bins, distance_threshold=3)
    for score, gt in zip(maps, gts):
        metric.update(score.astype(np.float64), gt)
    metric.get()


def per_image_section(preds: list[np.ndarray], gts: list[np.ndarray], repeats: int) -> None:
    fast = [evaluate_image(p, g, "basicirstd") for p, g in zip(preds, gts)]
    for s, b in zip(fast, [loop_baseline(p, g) for p, g in zip(preds, gts)]):
        assert (s.inter, s.union, s.n_gt, s.n_matched, s.fa_pixels) == b, (s, b)
    print("1. per-image counts: engine and loop baseline agree on every image")
    engine = median_seconds(lambda: [evaluate_image(p, g, "basicirstd") for p, g in zip(preds, gts)], repeats)
    loop = median_seconds(lambda: [loop_baseline(p, g) for p, g in zip(preds, gts)], repeats)
    print(f"   engine {engine:.3f} s, loop baseline {loop:.3f} s: {loop / engine:.1f}x")


def curve_section(kind: str, maps: list[np.ndarray], gts: list[np.ndarray], args: argparse.Namespace) -> None:
    protocol = get_protocol("basicirstd")
    tree = [threshold_counts(s, components(g), g, protocol, 256) for s, g in zip(maps, gts)]
    start = time.perf_counter()
    reference = per_threshold_curve(maps, gts, 256)
    timings = {"irbench per-threshold curve, 256": time.perf_counter() - start}
    for t, (matched, fa) in zip(tree, reference):
        assert np.array_equal(t.matched, matched) and np.array_equal(t.fa_pixels, fa)
    print(f"2. curves on '{kind}' maps: tree engine equals the per-threshold curve at all 256 thresholds")

    def one_threshold():
        acc = DetectionMetrics(protocol)
        for s, g in zip(maps, gts):
            acc.update(s > 0.5, g)
        return acc.compute()

    def tree_curve():
        curve = CurveMetrics(protocol, 256)
        for s, g in zip(maps, gts):
            curve.update(s, g)
        return curve.compute()

    runs: dict[str, Callable[[], object]] = {}
    if args.official:
        official = load_official(Path(args.official))
        runs["official MSHNet PD_FA + mIoU, 10 bins"] = lambda: official_curve(official, maps, gts, 10)
    try:
        import py_irstd_metrics as pim
    except ImportError:
        print("   (pyirstdmetrics not installed: skipped)")
    else:
        runs["pyirstdmetrics Pd/Fa, 1 bin"] = lambda: pyirstd_curve(pim, maps, gts, 1)
        runs["pyirstdmetrics Pd/Fa, 10 bins"] = lambda: pyirstd_curve(pim, maps, gts, 10)
    runs["irbench one threshold"] = one_threshold
    runs["irbench per-threshold curve, 11"] = lambda: per_threshold_curve(maps, gts, 11)
    runs["irbench tree engine, 256"] = tree_curve
    for name, fn in runs.items():
        timings[name] = median_seconds(fn, args.repeats)
    base = timings["irbench one threshold"]
    print(f"   {'':40s} {'seconds':>8s} {'x one threshold':>16s}")
    for name in sorted(timings, key=timings.get):
        print(f"   {name:40s} {timings[name]:8.3f} {timings[name] / base:16.2f}")
    tree_time = timings["irbench tree engine, 256"]
    official_key = "official MSHNet PD_FA + mIoU, 10 bins"
    if official_key in timings:
        print(f"   official 10 bins / tree engine 256: {timings[official_key] / tree_time:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--maps", default="deep,clutter", help="comma list of map kinds: deep, clutter")
    parser.add_argument("--official", help="path of the official MSHNet utils/metric.py (not shipped)")
    parser.add_argument("--limit", type=int, default=0, help="first N test images only (0: all 201)")
    args = parser.parse_args()
    if os.environ.get("OMP_NUM_THREADS") != "1":
        print("note: set OMP_NUM_THREADS=1 for single-core timings")
    ds = get_dataset("irstd1k", args.data_root, "test")
    ids = ds.ids[: args.limit] if args.limit else ds.ids
    rng = np.random.default_rng(0)
    gts = [ds.load_mask(i) for i in ids]
    preds = [perturbed(g, rng) for g in gts]
    print(f"IRSTD-1k test: {len(gts)} masks 512x512")
    per_image_section(preds, gts, args.repeats)
    threshold_counts(graded(preds[0], "deep", rng), components(gts[0]), gts[0], get_protocol("basicirstd"))
    for kind in args.maps.split(","):
        maps = [graded(p, kind, rng) for p in preds]
        curve_section(kind, maps, gts, args)


if __name__ == "__main__":
    main()
