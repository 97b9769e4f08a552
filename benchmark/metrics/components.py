"""Connected components, centroids and matching of ground-truth targets to predicted components."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Components:
    """8-connected components of a bool mask: label image, areas and centroids, in label order."""

    labels: np.ndarray
    areas: np.ndarray  # (n,) int64
    centroids: np.ndarray  # (n, 2) float64 (row, col)

    @property
    def n(self) -> int:
        return len(self.areas)


def components(mask: np.ndarray) -> Components:
    """Label ``mask`` with 8-connectivity (raster order, as skimage) and measure each component."""
    labels, n = ndimage.label(mask, structure=EIGHT)
    flat = np.flatnonzero(mask)  # only labelled pixels: targets are sparse
    rows, cols = np.divmod(flat, mask.shape[1])
    ids = labels.ravel()[flat] - 1
    areas = np.bincount(ids, minlength=n)
    safe = np.maximum(areas, 1)
    cy = np.bincount(ids, weights=rows, minlength=n) / safe
    cx = np.bincount(ids, weights=cols, minlength=n) / safe
    return Components(labels, areas.astype(np.int64), np.stack([cy, cx], axis=1).reshape(n, 2))


def distances(gt: Components, pred: Components) -> np.ndarray:
    """(n_gt, n_pred) Euclidean centroid distances."""
    diff = gt.centroids[:, None, :] - pred.centroids[None, :, :]
    return np.sqrt((diff**2).sum(axis=2))


def match(dist: np.ndarray, threshold: float, matcher: str) -> np.ndarray:
    """Return ``pairs`` (k, 2) of matched (gt index, pred index) with distance < ``threshold``.

    ``greedy``: each ground-truth target in label order takes the first still-free predicted component in
    label order within the threshold (BasicIRSTD / DNANet). ``hungarian``: the one-to-one assignment with
    the most pairs within the threshold and, among those, the smallest total distance.
    """
    n_gt, n_pred = dist.shape
    if n_gt == 0 or n_pred == 0:
        return np.zeros((0, 2), dtype=np.int64)
    ok = dist < threshold
    if matcher == "greedy":
        free = np.ones(n_pred, dtype=bool)
        pairs = []
        for i in np.flatnonzero(ok.any(axis=1)):
            candidates = np.flatnonzero(ok[i] & free)
            if candidates.size:
                free[candidates[0]] = False
                pairs.append((i, candidates[0]))
        return np.array(pairs, dtype=np.int64).reshape(-1, 2)
    if matcher == "hungarian":
        rows_any, cols_any = np.flatnonzero(ok.any(axis=1)), np.flatnonzero(ok.any(axis=0))
        if rows_any.size == 0:
            return np.zeros((0, 2), dtype=np.int64)
        sub = dist[np.ix_(rows_any, cols_any)]
        cost = np.where(sub < threshold, sub, 1e6 + sub)
        r, c = linear_sum_assignment(cost)
        keep = sub[r, c] < threshold
        return np.stack([rows_any[r[keep]], cols_any[c[keep]]], axis=1).astype(np.int64)
    raise ValueError(f"matcher must be 'greedy' or 'hungarian', got {matcher!r}")
