"""Deep inference speed on CPU: irbench's detector path vs a plain eager forward of the same module.

Usage: python benchmarks/bench_deep_inference.py [--methods mshnet,dnanet] [--size 512] [--batches 1,8]
       [--repeats 3] [--threads N]

For each method and batch size, in the same process and on the same randomly initialised network (BN
statistics randomised, seeded):

* ``eager``: ``net(x)`` in ``torch.inference_mode`` on an already preprocessed NCHW float32 tensor (no
  preprocessing, no copies: the plain PyTorch baseline);
* ``irbench``: ``detector.detect_batch`` on float32 grey images (preprocessing, padding, sigmoid and the
  copy back to numpy included), with the network installed by ``use_network``, which prepares it with
  :func:`methods.deep.fuse.prepare_for_inference` (BN folded into convs, channels_last).

One warm-up call each, then the median over ``--repeats`` timed calls; prints images/s, the speed-up and
the largest probability difference between the two paths.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from methods.deep.presets import preprocess
from methods.registry import create


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (oneDNN primitive creation, allocator)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _random_bn(net: torch.nn.Module) -> torch.nn.Module:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
    return net.eval()


def bench(method: str, size: int, batch: int, repeats: int) -> dict[str, float]:
    """Time both paths for one method and batch size; return images/s and the max score difference."""
    det = create(method, device="cpu", batch_size=batch)
    net = _random_bn(det.build())
    det.use_network(copy.deepcopy(net))  # the deep base prepares it (prepare_for_inference)
    rng = np.random.default_rng(0)
    images = [rng.uniform(0, 255, (size, size)).astype(np.float32) for _ in range(batch)]
    x = preprocess(torch.from_numpy(np.stack(images))[:, None], det.preset, None)
    with torch.inference_mode():
        t_eager = _median_seconds(lambda: det.forward_scores(net, x), repeats)
        raw = det.forward_scores(net, x)
        eager = (torch.sigmoid(raw) if det.output == "logits" else raw.clamp(0, 1))[:, 0].numpy()
    t_ours = _median_seconds(lambda: det.detect_batch(images), repeats)
    ours = np.stack(det.detect_batch(images))
    return {"eager": batch / t_eager, "irbench": batch / t_ours, "maxdiff": float(np.abs(ours - eager).max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="mshnet,dnanet")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CPU, {torch.get_num_threads()} threads, {args.size}x{args.size}, median of {args.repeats}")
    print(f"{'method':8} {'batch':>5} {'eager img/s':>12} {'irbench img/s':>14} {'speed-up':>9} {'max |diff|':>11}")
    for method in args.methods.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            r = bench(method, args.size, batch, args.repeats)
            print(
                f"{method:8} {batch:5d} {r['eager']:12.3f} {r['irbench']:14.3f} "
                f"{r['irbench'] / r['eager']:8.2f}x {r['maxdiff']:11.2e}"
            )


if __name__ == "__main__":
    main()
