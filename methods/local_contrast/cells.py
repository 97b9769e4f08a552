"""Shared building blocks of the Han-family local contrast measures (WSLCM, TLLCM).

A cell of size ``s`` is an ``s x s`` block; the detection window is the 3x3 grid of cells centred on a
pixel. The statistics of neighbour cell ``i`` at pixel ``p`` equal the centred statistic at
``p + s * d_i``, so every statistic is computed once per scale on an enlarged domain (the image plus
``max(scales)`` pixels on each side) and the eight neighbours are read as shifted slices of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from methods.topk import RunningTopK
from methods.validation import check_positive_int

__all__ = [
    "NEIGHBOURS",
    "BORDERS",
    "check_scales",
    "check_border",
    "gaussian3",
    "median3",
    "pad",
    "top_k_means",
    "box_means",
    "centre",
    "neighbours",
]

# Offsets (row, col) of the eight neighbour cells, clockwise from the top-left one.
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
BORDERS = ("replicate", "zero")
_GAUSS = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float32) / 16


def check_scales(scales: object, k: int, method: str) -> tuple[int, ...]:
    """Return ``scales`` as a sorted tuple of distinct odd cell sizes whose cells hold >= ``k`` pixels."""
    if isinstance(scales, (int, np.integer)) and not isinstance(scales, bool):
        scales = (scales,)
    if not isinstance(scales, Sequence) or isinstance(scales, str) or len(scales) == 0:
        raise ValueError(f"{method}: parameter 'scales' must be a non-empty sequence of odd ints, got {scales!r}")
    out = []
    for s in scales:
        s = check_positive_int(s, "scales")
        if s % 2 == 0 or s * s < k:
            raise ValueError(f"{method}: parameter 'scales' needs odd cell sizes with size**2 >= k={k}, got {s}")
        out.append(s)
    return tuple(sorted(set(out)))


def check_border(border: object, method: str) -> str:
    """Return ``border`` if it is one of :data:`BORDERS`, else raise ``ValueError``."""
    if border not in BORDERS:
        raise ValueError(f"{method}: parameter 'border' must be one of {BORDERS}, got {border!r}")
    return str(border)


def pad(image: np.ndarray, width: int, border: str) -> np.ndarray:
    """Pad ``image`` by ``width`` pixels on every side, replicating edges or with zeros."""
    return np.pad(image, width, mode="edge" if border == "replicate" else "constant")


def gaussian3(image: np.ndarray) -> np.ndarray:
    """3x3 binomial smoothing ``[1 2 1; 2 4 2; 1 2 1] / 16`` with replicated borders (MATLAB
    ``imfilter(..., 'replicate')``)."""
    return cv2.filter2D(image, cv2.CV_32F, _GAUSS, borderType=cv2.BORDER_REPLICATE)


def median3(image: np.ndarray, border: str) -> np.ndarray:
    """3x3 median filter; ``border="zero"`` reproduces MATLAB ``medfilt2``'s zero padding."""
    padded = pad(image, 1, border)
    return cv2.medianBlur(padded, 3)[1:-1, 1:-1]


def top_k_means(image: np.ndarray, scales: tuple[int, ...], k: int, border: str) -> dict[int, np.ndarray]:
    """Mean of the ``k`` largest pixels of the centred ``s x s`` cell, for each ``s`` in ``scales``.

    Parameters
    ----------
    image : (H, W) float32 array
    scales : sorted tuple of odd ints
        Cell sizes, each with ``s * s >= k``.
    k : int
        Number of largest pixels averaged.
    border : {"replicate", "zero"}
        Values assumed outside the image (``"zero"`` is MATLAB ``ordfilt2``'s padding).

    Returns
    -------
    dict
        ``s -> (H + 2 m, W + 2 m)`` float32 map with ``m = max(scales)``: entry ``[m + r, m + c]`` is the
        statistic of the cell centred on pixel ``(r, c)`` (which may lie outside the image).

    Notes
    -----
    Window offsets are pushed into a :class:`RunningTopK` ring by ring from the centre, so nested cells
    share the work and all scales together cost as much as the largest one alone.
    """
    m = scales[-1]
    half = (m - 1) // 2
    padded = pad(image, m + half, border)
    h, w = image.shape[0] + 2 * m, image.shape[1] + 2 * m
    top = RunningTopK((h, w), k)
    out: dict[int, np.ndarray] = {}
    for radius in range(half + 1):
        for dr in range(-radius, radius + 1):
            for dc in range(-radius, radius + 1):
                if max(abs(dr), abs(dc)) == radius:
                    top.push(padded[half + dr : half + dr + h, half + dc : half + dc + w])
        if 2 * radius + 1 in scales:
            out[2 * radius + 1] = top.mean()
    return out


def box_means(image: np.ndarray, scales: tuple[int, ...]) -> dict[int, np.ndarray]:
    """Plain mean of the centred ``s x s`` cell on the same enlarged domain as :func:`top_k_means`,
    with replicated borders (MATLAB ``imfilter(..., 'replicate')``)."""
    m = scales[-1]
    half = (m - 1) // 2
    padded = pad(image, m + half, "replicate")
    h, w = image.shape[0] + 2 * m, image.shape[1] + 2 * m
    return {
        s: cv2.blur(padded, (s, s), borderType=cv2.BORDER_REPLICATE)[half : half + h, half : half + w] for s in scales
    }


def centre(stat: np.ndarray, shape: tuple[int, int], margin: int) -> np.ndarray:
    """The statistic of the centre cell: the image-sized part of an enlarged-domain map."""
    return stat[margin : margin + shape[0], margin : margin + shape[1]]


def neighbours(stat: np.ndarray, shape: tuple[int, int], margin: int, s: int) -> np.ndarray:
    """(8, H, W) stack of the statistic of the eight neighbour cells of size ``s`` (order of
    :data:`NEIGHBOURS`), read from an enlarged-domain map with the given ``margin``."""
    h, w = shape
    return np.stack(
        [stat[margin + s * dr : margin + s * dr + h, margin + s * dc : margin + s * dc + w] for dr, dc in NEIGHBOURS]
    )
