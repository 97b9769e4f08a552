"""Speed of the low-rank detectors (IPI, NRAM, RIPT, PSTNN, MSLSTIPT), and of the fast SVT path against
the full SVD, measured in the same run.

Usage: python benchmarks/bench_low_rank.py [--sizes 256 512] [--repeats 3] [--methods ipi,nram,...]
       [--data-root ../shared/data] [--full-methods]

Single core: ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` are set to 1 before numpy loads. Inputs are a
real test image of matching size (IRSTD-1k 512x512, NUDT-SIRST 256x256) when ``--data-root`` holds them,
else a seeded synthetic scene (smooth clutter, noise, two targets). Per method: median seconds per image
over ``--repeats`` runs, with the iteration count. SVT speed-up: one singular-value thresholding of the
method's own patch matrix / mode-3 unfolding (threshold from IPI's first APG step), fast route
(``svd="auto"``) against ``np.linalg.svd``; ``--full-methods`` also runs IPI, NRAM and RIPT whole with
``svd="full"`` (slow at 512x512: minutes).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from methods import create  # noqa: E402
from methods.low_rank.patches import PatchGrid, mat2gray  # noqa: E402
from methods.low_rank.solvers import SVDState, leading_singular_values, svt  # noqa: E402

METHODS = ("ipi", "nram", "ript", "pstnn", "mslstipt")
REAL = {512: ("IRSTD-1k/IRSTD1k_Img", "IRSTD-1k/test.txt"), 256: ("NUDT-SIRST/images", "NUDT-SIRST/50_50/test.txt")}


def test_image(size: int, data_root: Path | None) -> tuple[np.ndarray, str]:
    """A real test image of ``size`` x ``size`` when available, else a seeded synthetic scene."""
    if data_root is not None and size in REAL:
        folder, split = REAL[size]
        names = (data_root / split).read_text().split()
        if names:
            img = cv2.imread(str(data_root / folder / f"{names[0]}.png"), cv2.IMREAD_GRAYSCALE)
            if img is not None and img.shape == (size, size):
                return img.astype(np.float32), f"{folder}/{names[0]}"
    rng = np.random.default_rng(size)
    y, x = np.mgrid[:size, :size] / size
    img = 90 + 40 * np.sin(3 * x + 2 * y) + 15 * np.cos(9 * y) + rng.normal(0, 3, (size, size))
    for cy, cx in ((size // 3, size // 2), (2 * size // 3, size // 4)):
        img += 60 * np.exp(-((np.mgrid[:size, :size][0] - cy) ** 2 + (np.mgrid[:size, :size][1] - cx) ** 2) / 3)
    return np.clip(img, 0, 255).astype(np.float32), "synthetic"


def time_method(name: str, img: np.ndarray, repeats: int, **params: object) -> tuple[float, dict]:
    """Median wall seconds of ``repeats`` runs and the metadata of the last one."""
    det = create(name, **params)
    times, meta = [], {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, meta = det.detect_with_meta(img)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), meta


def svt_speedup(img: np.ndarray, repeats: int) -> tuple[float, float, int]:
    """Seconds of one fast and one full SVT of IPI's patch image at IPI's first threshold, and the rank."""
    d = mat2gray(PatchGrid.build(img.shape, 50, 10, border=False).matrix(img)).astype(np.float32)
    tau = float(leading_singular_values(d, 2)[1]) / 2
    fast, full = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        low, rank = svt(d, tau, SVDState(method="auto"))
        fast.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    ref, _ = svt(d, tau, SVDState(method="full"))
    full.append(time.perf_counter() - t0)
    assert np.linalg.norm(low - ref) <= 1e-3 * np.linalg.norm(ref), "fast SVT departs from the full SVD"
    return statistics.median(fast), statistics.median(full), rank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--data-root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--full-methods", action="store_true", help="also run IPI/NRAM/RIPT with svd='full'")
    args = parser.parse_args()
    root = args.data_root if args.data_root.is_dir() else None
    for size in args.sizes:
        img, origin = test_image(size, root)
        fast, full, rank = svt_speedup(img, args.repeats)
        print(f"\n{size}x{size} ({origin}); IPI patch-image SVT (rank {rank}): fast {fast:.3f} s, "
              f"full SVD {full:.3f} s, speed-up x{full / fast:.1f}")
        for name in args.methods.split(","):
            sec, meta = time_method(name, img, args.repeats)
            line = f"  {name:9s} {sec:8.2f} s/image  iterations {meta.get('iterations')}  stop {meta.get('stop')}"
            if args.full_methods and name in ("ipi", "nram", "ript"):
                sec_full, _ = time_method(name, img, 1, svd="full")
                line += f"  | svd=full {sec_full:.2f} s  speed-up x{sec_full / sec:.1f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
