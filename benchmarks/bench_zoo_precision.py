"""Zoo inference in bfloat16 against float32: speed and the metrics it changes, on the zoo's own weights.

Usage: python benchmarks/bench_zoo_precision.py [--dataset synth] [--methods all] [--threads N]
       [--repeats 3] [--data-root DATA] [--limit N]

For every zoo entry of ``--dataset`` (or those in ``--methods``), in one process, on the same detector
weights and test images:

* seconds to score the test split with ``precision=float32`` and with ``precision=bfloat16`` (autocast),
  ``detect_batch`` at the method's default batch size, alternating the two, median of ``--repeats``;
  the ratio is float32 time / bfloat16 time;
* the largest probability difference between the two, and IoU, Pd and Fa of each under the ``irbench``
  protocol and the method's default policy, through :func:`benchmark.evaluation.score_maps`.

bfloat16 needs a CPU with native bfloat16 (AVX512-BF16/AMX); elsewhere it is emulated and slower.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from benchmark.datasets import get_dataset
from benchmark.evaluation import score_maps
from methods.deep.zoo import zoo_entries
from methods.registry import create, get_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="synth")
    parser.add_argument("--methods", default="all", help="comma-separated zoo methods, or all")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="first N test images")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = get_dataset(args.dataset, args.data_root)
    ids = data.ids[: args.limit]
    images = [data.load_image(i) for i in ids]
    masks = [data.load_mask(i) for i in ids]
    entries = [e for e in zoo_entries() if e.dataset == args.dataset]
    if args.methods != "all":
        entries = [e for e in entries if e.method in args.methods.split(",")]
    print(f"{args.dataset}: {len(ids)} test images, {torch.get_num_threads()} threads, median of {args.repeats}")
    print(
        f"{'method':18} {'fp32 s':>7} {'bf16 s':>7} {'ratio':>6} {'max|dp|':>8}  "
        f"{'IoU fp32/bf16':>14} {'Pd fp32/bf16':>14} {'Fa fp32/bf16':>16}"
    )
    for entry in entries:
        dets = {p: create(entry.method, device="cpu", precision=p) for p in ("float32", "bfloat16")}
        for det in dets.values():
            det.configure(args.dataset)
            det.detect_batch(images[:1])  # warm-up: weights loaded, oneDNN primitives created
        times: dict[str, list[float]] = {p: [] for p in dets}
        maps: dict[str, list[np.ndarray]] = {}
        for _ in range(args.repeats):
            for p, det in dets.items():
                start = time.perf_counter()
                maps[p] = det.detect_batch(images)
                times[p].append(time.perf_counter() - start)
        policy = get_spec(entry.method).policy
        metrics = {p: score_maps(list(zip(ids, maps[p], masks)), "irbench", policy).metrics for p in dets}
        fp32, bf16 = (statistics.median(times[p]) for p in ("float32", "bfloat16"))
        diff = max(float(np.abs(a - b).max()) for a, b in zip(maps["float32"], maps["bfloat16"]))
        m32, m16 = metrics["float32"], metrics["bfloat16"]
        print(
            f"{entry.method:18} {fp32:7.2f} {bf16:7.2f} {fp32 / bf16:5.2f}x {diff:8.4f}  "
            f"{m32['iou'] * 100:6.2f}/{m16['iou'] * 100:6.2f} {m32['pd'] * 100:6.2f}/{m16['pd'] * 100:6.2f} "
            f"{m32['fa'] * 1e6:7.2f}/{m16['fa'] * 1e6:7.2f}"
        )


if __name__ == "__main__":
    main()
