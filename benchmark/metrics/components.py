"""Connected components, centroids, matching of ground-truth targets to predicted components, false alarms.

:func:`match_components` is the one routine that applies a protocol's matcher and Fa rule to an image; the
per-image counts, the curves and the figures' boxes all read its :class:`Matching`.

Components are 8-connected and numbered in raster order of their first pixel (as ``skimage.measure.label``);
a centroid is the mean (row, col) of a component's pixels. Everything is computed with ``bincount`` over
the labelled pixels; the only Python loop is the greedy matcher's loop over ground-truth targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from benchmark.metrics.protocols import Protocol

EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Components:
    """8-connected components of a bool mask: label image (0 = background), areas and centroids."""

    labels: np.ndarray
    areas: np.ndarray  # (n,) int64, in label order
    centroids: np.ndarray  # (n, 2) float64 (row, col)

    @property
    def n(self) -> int:
        """Number of components."""
        return len(self.areas)


def components(mask: np.ndarray) -> Components:
    """Label a bool ``mask`` with 8-connectivity and measure the area and centroid of each component."""
    labels, n = ndimage.label(mask, structure=EIGHT)
    flat = np.flatnonzero(mask)  # only the labelled pixels: targets are sparse
    rows, cols = np.divmod(flat, mask.shape[1])
    ids = labels.ravel()[flat] - 1
    areas = np.bincount(ids, minlength=n)
    cy = np.bincount(ids, weights=rows, minlength=n) / np.maximum(areas, 1)
    cx = np.bincount(ids, weights=cols, minlength=n) / np.maximum(areas, 1)
    return Components(labels, areas.astype(np.int64), np.stack([cy, cx], axis=1).reshape(n, 2))


def distances(gt: Components, pred: Components) -> np.ndarray:
    """(n_gt, n_pred) Euclidean distances between ground-truth and predicted centroids."""
    diff = gt.centroids[:, None, :] - pred.centroids[None, :, :]
    return np.sqrt((diff**2).sum(axis=2))


def match(dist: np.ndarray, threshold: float, matcher: str) -> np.ndarray:
    """Match ground-truth targets (rows) to predicted components (columns) one-to-one.

    Parameters
    ----------
    dist : ndarray
        (n_gt, n_pred) centroid distances.
    threshold : float
        A pair can match only when its distance is ``< threshold``.
    matcher : {"greedy", "hungarian"}
        ``greedy``: each target in label order takes the first still-free predicted component in label
        order within the threshold (DNANet / BasicIRSTD / pyirstdmetrics). ``hungarian``: the assignment
        with the most pairs within the threshold and, among those, the smallest total distance.

    Returns
    -------
    pairs : ndarray
        (k, 2) int64 array of matched (gt index, pred index).
    """
    if matcher not in ("greedy", "hungarian"):
        raise ValueError(f"matcher must be 'greedy' or 'hungarian', got {matcher!r}")
    ok = dist < threshold
    rows_any, cols_any = np.flatnonzero(ok.any(axis=1)), np.flatnonzero(ok.any(axis=0))
    if rows_any.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if matcher == "greedy":
        free = np.ones(dist.shape[1], dtype=bool)
        pairs = []
        for i in rows_any:
            candidates = np.flatnonzero(ok[i] & free)
            if candidates.size:
                free[candidates[0]] = False
                pairs.append((i, candidates[0]))
        return np.array(pairs, dtype=np.int64).reshape(-1, 2)
    sub = dist[np.ix_(rows_any, cols_any)]
    # a pair outside the gate costs more than all gated pairs together (each < threshold), so the
    # assignment first maximises the number of gated pairs, then minimises their total distance
    penalty = 1.0 + min(sub.shape) * float(threshold)
    r, c = linear_sum_assignment(np.where(sub < threshold, sub, penalty))
    keep = sub[r, c] < threshold
    return np.stack([rows_any[r[keep]], cols_any[c[keep]]], axis=1).astype(np.int64)


def false_alarms(pred: Components, matched: np.ndarray, fa_counting: str) -> np.ndarray:
    """Bool mask over predicted components that count as false alarms.

    ``identity``: every unmatched component. ``area_value`` (DNANet/MSHNet bug): an unmatched component is
    dropped when its area equals the area of any matched component of the same image.
    """
    false = ~matched
    if fa_counting == "area_value":
        false &= ~np.isin(pred.areas, pred.areas[matched])
    elif fa_counting != "identity":
        raise ValueError(f"fa_counting must be 'identity' or 'area_value', got {fa_counting!r}")
    return false


@dataclass(frozen=True)
class Matching:
    """One image's components under a protocol: ``pairs`` (k, 2) of matched (gt index, pred index), the
    matched flags of each side and the predicted components that count as false alarms (the protocol's Fa
    rule)."""

    gt: Components
    pred: Components
    pairs: np.ndarray
    matched_gt: np.ndarray  # (gt.n,) bool
    matched_pred: np.ndarray  # (pred.n,) bool
    false_alarm: np.ndarray  # (pred.n,) bool


def match_components(pred: np.ndarray | Components, gt: np.ndarray | Components, protocol: Protocol) -> Matching:
    """Label ``pred`` and ``gt`` (bool masks, or components already labelled) and match them under
    ``protocol`` (centroid distance gate, matcher, Fa counting)."""
    g = gt if isinstance(gt, Components) else components(gt)
    p = pred if isinstance(pred, Components) else components(pred)
    pairs = match(distances(g, p), protocol.distance, protocol.matcher)
    matched_gt, matched_pred = np.zeros(g.n, dtype=bool), np.zeros(p.n, dtype=bool)
    matched_gt[pairs[:, 0]] = True
    matched_pred[pairs[:, 1]] = True
    return Matching(g, p, pairs, matched_gt, matched_pred, false_alarms(p, matched_pred, protocol.fa_counting))
