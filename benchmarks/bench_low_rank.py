"""Speed of the low-rank detectors (IPI, NRAM, RIPT, PSTNN, MSLSTIPT), and of the fast SVT path against
the full SVD, measured in the same run.

Usage: python benchmarks/bench_low_rank.py [--sizes 256 512] [--repeats 3] [--images 1] [--methods ipi,...]
       [--data-root ../shared/data] [--full-methods]

Single core: ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` are set to 1 before numpy loads. Inputs are the
first ``--images`` test images of matching size (IRSTD-1k 512x512, NUDT-SIRST 256x256) when ``--data-root``
holds them, else a seeded synthetic scene (smooth clutter, noise, two targets). Per method: median seconds
per image over ``--repeats`` runs (wall and CPU time: the CPU time is the one to compare on a shared
machine), with the iteration count; with several images, the median over the images of those medians and
their range. SVT speed-up (on the first image): one singular-value thresholding of IPI's patch image at
thresholds keeping 10, 100 and 300 values, fast route (``svd="auto"``, warm-started by a call at a 10 % higher
threshold, as between APG iterations) against ``np.linalg.svd`` (checked to agree within 1e-3);
``--full-methods`` also runs IPI, NRAM and RIPT whole with ``svd="full"`` (slow at 512x512: minutes).
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
from methods.low_rank.solvers import SVDState, svt  # noqa: E402

METHODS = ("ipi", "nram", "ript", "pstnn", "mslstipt")
REAL = {512: ("IRSTD-1k/IRSTD1k_Img", "IRSTD-1k/test.txt"), 256: ("NUDT-SIRST/images", "NUDT-SIRST/50_50/test.txt")}


def test_images(size: int, data_root: Path | None, count: int) -> list[tuple[np.ndarray, str]]:
    """The first ``count`` real test images of ``size`` x ``size`` when available, else one seeded synthetic
    scene."""
    found = []
    if data_root is not None and size in REAL:
        folder, split = REAL[size]
        for name in (data_root / split).read_text().split():
            img = cv2.imread(str(data_root / folder / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
            if img is not None and img.shape == (size, size):
                found.append((img.astype(np.float32), f"{folder}/{name}"))
            if len(found) == count:
                return found
    return found or [synthetic_scene(size)]


def synthetic_scene(size: int) -> tuple[np.ndarray, str]:
    """Seeded synthetic scene: smooth clutter, noise and two targets."""
    rng = np.random.default_rng(size)
    y, x = np.mgrid[:size, :size] / size
    img = 90 + 40 * np.sin(3 * x + 2 * y) + 15 * np.cos(9 * y) + rng.normal(0, 3, (size, size))
    for cy, cx in ((size // 3, size // 2), (2 * size // 3, size // 4)):
        img += 60 * np.exp(-((np.mgrid[:size, :size][0] - cy) ** 2 + (np.mgrid[:size, :size][1] - cx) ** 2) / 3)
    return np.clip(img, 0, 255).astype(np.float32), "synthetic"


def time_method(name: str, img: np.ndarray, repeats: int, **params: object) -> tuple[float, float, dict]:
    """Median wall and CPU seconds of ``repeats`` runs and the metadata of the last one."""
    det = create(name, **params)
    wall, cpu, meta = [], [], {}
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        _, meta = det.detect_with_meta(img)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu), meta


def svt_speedup(img: np.ndarray, rank: int, repeats: int) -> tuple[float, float, int]:
    """CPU seconds of one fast (``svd="auto"``, warm-started as inside the solvers) and one full SVT of
    IPI's patch image at the threshold that keeps ``rank`` singular values, and the rank found."""
    d = mat2gray(PatchGrid.build(img.shape, 50, 10, border=False).matrix(img)).astype(np.float32)
    s = np.linalg.svd(d, compute_uv=False)
    tau = float(s[rank] + s[rank - 1]) / 2
    fast, full = [], []
    for _ in range(repeats):
        state = SVDState(method="auto")
        svt(d, tau * 1.1, state)  # the previous APG iterate's call: warm start for the timed one
        c0 = time.process_time()
        low, found = svt(d, tau, state)
        fast.append(time.process_time() - c0)
        c0 = time.process_time()
        ref, _ = svt(d, tau, SVDState(method="full"))
        full.append(time.process_time() - c0)
        err = np.linalg.norm(low - ref) / np.linalg.norm(ref)
        assert err <= 1e-3, f"fast SVT departs from the full SVD by {err:.2g}"
    return statistics.median(fast), statistics.median(full), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=1, help="test images per size (first of the split)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--data-root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--full-methods", action="store_true", help="also run IPI/NRAM/RIPT with svd='full'")
    args = parser.parse_args()
    root = args.data_root if args.data_root.is_dir() else None
    print("seconds per image: median of --repeats runs, wall and CPU (process) time, one BLAS thread")
    for size in args.sizes:
        images = test_images(size, root, args.images)
        img, origin = images[0]
        print(f"\n{size}x{size} ({origin}" + (f" and the next {len(images) - 1})" if len(images) > 1 else ")"))
        for rank in (10, 100, 300):
            fast, full, found = svt_speedup(img, rank, args.repeats)
            print(
                f"  IPI patch-image SVT keeping {found:3d} values: fast {fast:.3f} s, full SVD {full:.3f} s, "
                f"speed-up x{full / fast:.1f} (CPU)",
                flush=True,
            )
        for name in args.methods.split(","):
            if len(images) > 1:
                print("  " + many_images_line(name, images, args.repeats), flush=True)
                continue
            wall, cpu, meta = time_method(name, img, args.repeats)
            line = (
                f"  {name:9s} {wall:7.2f} s/image wall {cpu:7.2f} s CPU  iterations {meta.get('iterations')}"
                f"  stop {meta.get('stop')}"
            )
            if args.full_methods and name in ("ipi", "nram", "ript"):
                _, cpu_full, meta_full = time_method(name, img, 1, svd="full")
                line += (
                    f"  | svd=full {cpu_full:.2f} s CPU ({meta_full.get('iterations')} iterations), "
                    f"speed-up x{cpu_full / cpu:.1f}"
                )
            print(line, flush=True)


def many_images_line(name: str, images: list[tuple[np.ndarray, str]], repeats: int) -> str:
    """Median over the images of each image's median CPU seconds, their range and the iteration range."""
    cpu, iterations = [], []
    for img, _ in images:
        _, seconds, meta = time_method(name, img, repeats)
        cpu.append(seconds)
        iterations.append(meta.get("iterations"))
    under = sum(c < 5 for c in cpu)
    return (
        f"{name:9s} {statistics.median(cpu):7.2f} s/image CPU, median of {len(images)} images "
        f"(range {min(cpu):.2f}-{max(cpu):.2f} s, {under} under 5 s; iterations {min(iterations)}-"
        f"{max(iterations)})"
    )


if __name__ == "__main__":
    main()
