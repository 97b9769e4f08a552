"""Speed of Max-Median, WSLCM and TLLCM against straightforward formulations, same inputs, same run.

Usage: python benchmarks/bench_local_contrast.py [--sizes 256 512] [--repeats 5]

Two plain formulations live here and are checked against the fast detectors in
``tests/test_local_contrast.py``:

* ``loop_*``: per-pixel Python loops over explicit windows (obviously correct, tiny images only);
* ``direct_*``: the textbook vectorised version, one full sort of every window per filter
  (``sliding_window_view`` + ``np.sort``/``np.median``), which is what the benchmark times against.

Timing is single-core (``OMP_NUM_THREADS=1`` and ``cv2.setNumThreads(1)`` are set before numpy loads),
median of ``--repeats`` runs on a seeded synthetic cluttered image with one target.
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # single-core timing; importing this module (tests) changes nothing
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from functools import partial  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

from methods import create  # noqa: E402

NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
GAUSS = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float64) / 16


def _pad(img: np.ndarray, width: int, border: str) -> np.ndarray:
    return np.pad(img, width, mode="edge" if border == "replicate" else "constant")


# ---------------------------------------------------------------- per-pixel loops (tests, tiny images)


def loop_maxmedian(img: np.ndarray, size: int = 15) -> np.ndarray:
    """Max-Median with an explicit loop over pixels and the four lines through each."""
    r = size // 2
    p = _pad(img.astype(np.float64), r, "replicate")
    out = np.zeros(img.shape)
    t = np.arange(-r, r + 1)
    for y in range(img.shape[0]):
        for x in range(img.shape[1]):
            cy, cx = y + r, x + r
            lines = (p[cy, cx + t], p[cy + t, cx], p[cy + t, cx + t], p[cy + t, cx - t])
            out[y, x] = max(img[y, x] - max(np.median(line) for line in lines), 0)
    return out


def _loop_median3(img: np.ndarray, border: str) -> np.ndarray:
    p = _pad(img, 1, border)
    return np.array([[np.median(p[y : y + 3, x : x + 3]) for x in range(img.shape[1])] for y in range(img.shape[0])])


def _loop_gauss(img: np.ndarray) -> np.ndarray:
    p = _pad(img, 1, "replicate")
    return np.array(
        [[(p[y : y + 3, x : x + 3] * GAUSS).sum() for x in range(img.shape[1])] for y in range(img.shape[0])]
    )


def _cells(padded: np.ndarray, y: int, x: int, s: int) -> list[np.ndarray]:
    """The centre cell and the eight neighbour cells of size ``s`` at padded position (y, x)."""
    h = s // 2
    return [
        padded[y + dy * s - h : y + dy * s + h + 1, x + dx * s - h : x + dx * s + h + 1]
        for dy, dx in ((0, 0), *NEIGHBOURS)
    ]


def _top_mean(cell: np.ndarray, k: int) -> float:
    return float(np.sort(cell, axis=None)[-k:].mean())


def loop_wslcm(img: np.ndarray, scales=(5, 7, 9, 11), k=9, xi=5.0, eps=1e-6, border="replicate") -> np.ndarray:
    """WSLCM with explicit loops over pixels, scales and the nine cells."""
    med = _loop_median3(img.astype(np.float64), border)
    g = _loop_gauss(med)
    w = max(scales) * 2
    ptop, pmean = _pad(med, w, border), _pad(med, w, "replicate")
    out = np.full(img.shape, -np.inf)
    for y in range(img.shape[0]):
        for x in range(img.shape[1]):
            for s in scales:
                tops = [_top_mean(c, k) for c in _cells(ptop, y + w, x + w, s)]
                iril = [t - c.mean() for t, c in zip(tops, _cells(pmean, y + w, x + w, s))]
                slcm = max(g[y, x] ** 2 / max(max(tops[1:]), eps) - g[y, x], 0)
                wd = max(iril[0] - max(iril[1:]), 0)
                wb = max(np.std(iril[1:], ddof=1), xi)
                out[y, x] = max(out[y, x], iril[0] * wd / wb * slcm)
    return out


def loop_tllcm(img: np.ndarray, scales=(5, 7, 9), k=9, eps=1e-6, border="replicate") -> np.ndarray:
    """TLLCM with explicit loops over pixels, scales and the eight surrounding cells."""
    img = img.astype(np.float64)
    c = _loop_gauss(img)
    w = max(scales) * 2
    p = _pad(img, w, border)
    out = np.zeros(img.shape)
    for y in range(img.shape[0]):
        for x in range(img.shape[1]):
            for s in scales:
                b = max(max(_top_mean(cell, k) for cell in _cells(p, y + w, x + w, s)[1:]), eps)
                out[y, x] = max(out[y, x], c[y, x] ** 2 / b - c[y, x])
    return out


# ---------------------------------------------------------------- direct vectorised (benchmark baseline)


def _direct_top_k(padded: np.ndarray, s: int, k: int) -> np.ndarray:
    return np.sort(sliding_window_view(padded, (s, s)).reshape(*np.subtract(padded.shape, s - 1), -1), axis=-1)[
        ..., -k:
    ].mean(axis=-1)


def _direct_shift(stat: np.ndarray, shape: tuple[int, int], margin: int, dy: int, dx: int) -> np.ndarray:
    return stat[margin + dy : margin + dy + shape[0], margin + dx : margin + dx + shape[1]]


def direct_maxmedian(img: np.ndarray, size: int = 15) -> np.ndarray:
    """Max-Median from fancy-indexed line windows and ``np.median``."""
    r = size // 2
    p = _pad(img.astype(np.float64), r, "replicate")
    yy, xx = np.mgrid[r : r + img.shape[0], r : r + img.shape[1]]
    t = np.arange(-r, r + 1)
    y, x, t = yy[..., None], xx[..., None], t[None, None, :]
    lines = ((y + 0 * t, x + t), (y + t, x + 0 * t), (y + t, x + t), (y + t, x - t))
    background = np.max([np.median(p[a, b], axis=-1) for a, b in lines], axis=0)
    return np.maximum(img - background, 0)


def direct_wslcm(img: np.ndarray, scales=(5, 7, 9, 11), k=9, xi=5.0, eps=1e-6, border="replicate") -> np.ndarray:
    """WSLCM from full window sorts (``sliding_window_view``), one per scale, and shifted look-ups."""
    med = np.median(sliding_window_view(_pad(img.astype(np.float64), 1, border), (3, 3)), axis=(-2, -1))
    g = (sliding_window_view(_pad(med, 1, "replicate"), (3, 3)) * GAUSS).sum(axis=(-2, -1))
    out = np.full(img.shape, -np.inf)
    for s in scales:
        h, m = s // 2, s  # margin m: neighbour centres lie up to s pixels outside the image
        top = _direct_top_k(_pad(med, m + h, border), s, k)
        mean = sliding_window_view(_pad(med, m + h, "replicate"), (s, s)).mean(axis=(-2, -1))
        tops = [_direct_shift(top, img.shape, m, dy * s, dx * s) for dy, dx in NEIGHBOURS]
        iril = np.array(
            [t - _direct_shift(mean, img.shape, m, dy * s, dx * s) for t, (dy, dx) in zip(tops, NEIGHBOURS)]
        )
        iril0 = _direct_shift(top, img.shape, m, 0, 0) - _direct_shift(mean, img.shape, m, 0, 0)
        slcm = np.maximum(g**2 / np.maximum(np.max(tops, axis=0), eps) - g, 0)
        wd = np.maximum(iril0 - iril.max(axis=0), 0)
        wb = np.maximum(iril.std(axis=0, ddof=1), xi)
        out = np.maximum(out, iril0 * wd / wb * slcm)
    return out


def direct_tllcm(img: np.ndarray, scales=(5, 7, 9), k=9, eps=1e-6, border="replicate") -> np.ndarray:
    """TLLCM from full window sorts (``sliding_window_view``), one per scale, and shifted look-ups."""
    img = img.astype(np.float64)
    c = (sliding_window_view(_pad(img, 1, "replicate"), (3, 3)) * GAUSS).sum(axis=(-2, -1))
    out = np.zeros(img.shape)
    for s in scales:
        top = _direct_top_k(_pad(img, s + s // 2, border), s, k)
        b = np.max([_direct_shift(top, img.shape, s, dy * s, dx * s) for dy, dx in NEIGHBOURS], axis=0)
        out = np.maximum(out, c**2 / np.maximum(b, eps) - c)
    return out


DIRECT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "maxmedian": direct_maxmedian,
    "wslcm": direct_wslcm,
    "tllcm": direct_tllcm,
}


def scene(size: int, seed: int = 0) -> np.ndarray:
    """Seeded cluttered 0-255 image (smoothed noise, a ramp) with one small Gaussian target."""
    rng = np.random.default_rng(seed)
    clutter = cv2.GaussianBlur(rng.normal(0, 1, (size, size)), (0, 0), 4)
    yy, xx = np.mgrid[:size, :size]
    target = 60 * np.exp(-((yy - size / 3) ** 2 + (xx - size / 2) ** 2) / 4.0)
    img = 60 + 0.1 * xx + 400 * clutter + rng.normal(0, 2, (size, size)) + target
    return np.clip(img, 0, 255).astype(np.float32)


def median_seconds(func: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call."""
    func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--direct-repeats", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print(f"{'method':<10} {'size':>5} {'fast s/img':>11} {'direct s/img':>13} {'speed-up':>9} {'max rel diff':>13}")
    for size in args.sizes:
        img = scene(size)
        for name, direct in DIRECT.items():
            det = create(name)
            fast = median_seconds(partial(det, img), args.repeats)
            slow = median_seconds(partial(direct, img), args.direct_repeats)
            a, b = det(img).astype(np.float64), direct(img)
            diff = np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)
            print(f"{name:<10} {size:>5} {fast:>11.4f} {slow:>13.3f} {slow / fast:>8.1f}x {diff:>13.2e}")


if __name__ == "__main__":
    main()
