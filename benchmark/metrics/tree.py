"""Target-level counts at every threshold of a score map in one pass: a component tree by union-find.

The superlevel sets ``{score > t}`` of a map are nested, so the 8-connected components at every threshold
are the nodes of one tree. Pixels are added in decreasing level order (a counting sort), each joined to
its already-added neighbours by union-find (union by size, path halving); every set keeps its area, the
sums of its rows and columns (its centroid) and its first pixel in raster order (the label order of
:func:`~benchmark.metrics.components.components`). After the pixels of one level are in, the sets are
exactly the components at that threshold.

Only sets whose centroid lies within the protocol's gate of a ground-truth target can be matched, so after
each level the distance to the targets of every set that changed in it is checked, and the sets that pass
form a short candidate list. At every threshold the candidates, in label order, are matched with the protocol's rule:
greedy first-fit in compiled code; Hungarian in compiled code when every candidate reaches one target and
every target one candidate (the only maximum matching), else by the same
:func:`~benchmark.metrics.components.match` the single-threshold path uses. False-alarm pixels are the
predicted pixels less the matched components' areas (``identity``) or less every component whose area
equals a matched one's (``area_value``: a count of live sets per area is kept). Centroids and distances are
computed with the same floating-point operations as the single-threshold path, so every count is equal.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numba
import numpy as np

from benchmark.metrics.components import Components, match
from benchmark.metrics.protocols import Protocol

__all__ = ["ThresholdCounts", "thresholds", "levels", "threshold_counts"]

_MATCHERS = {"greedy": 0, "hungarian": 1}


def thresholds(n: int) -> np.ndarray:
    """The ``n`` thresholds ``k / n`` (k = 0..n-1) as float32, the precision a float32 map is compared in."""
    return (np.arange(n) / n).astype(np.float32)


@numba.njit(cache=True, nogil=True)
def _levels(score: np.ndarray, cuts: np.ndarray, out: np.ndarray) -> bool:
    """``out[r + 1, c + 1]`` = the number of ``cuts`` strictly below ``score[r, c]`` (``out`` has a border);
    returns whether every score lies in [0, 1] (False for NaN)."""
    n = cuts.size
    h, w = score.shape
    inside = True
    for r in range(h):
        for c in range(w):
            s = score[r, c]
            if not (s >= 0.0 and s <= 1.0):
                inside = False
                s = 0.0
            j = min(int(s * n), n)  # a guess, then exact
            while j < n and cuts[j] < s:
                j += 1
            while j > 0 and cuts[j - 1] >= s:
                j -= 1
            out[r + 1, c + 1] = j
    return inside


def levels(score: np.ndarray, n: int) -> np.ndarray:
    """Level of each pixel of a float32 map: how many of the ``n`` thresholds lie below its score, so the
    pixel is predicted at threshold ``k`` (``score > k / n``) exactly when ``k < level``."""
    return _padded_levels(score, n)[1:-1, 1:-1]


def _padded_levels(score: np.ndarray, n: int) -> np.ndarray:
    score = np.ascontiguousarray(score, dtype=np.float32)
    out = np.zeros((score.shape[0] + 2, score.shape[1] + 2), np.int32)
    if not _levels(score, thresholds(n), out):
        raise ValueError("scores must lie in [0, 1] (normalise them first, e.g. with Policy.normalise)")
    return out


@numba.njit(cache=True, nogil=True)
def _near(data: np.ndarray, e: int, gt_cy: np.ndarray, gt_cx: np.ndarray, gate: float) -> bool:
    """Whether set ``e``'s centroid is within ``gate`` of a target, computed as the single-threshold path
    does (divide, subtract, square, add, root); a division-free box test rejects far sets first."""
    area, sr, sc = data[e, 0], data[e, 1], data[e, 2]
    box = (gate + 1e-6) * area
    for t in range(gt_cy.size):
        if abs(sr - gt_cy[t] * area) > box or abs(sc - gt_cx[t] * area) > box:
            continue
        dy, dx = gt_cy[t] - sr / area, gt_cx[t] - sc / area
        if np.sqrt(dy * dy + dx * dx) < gate:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _sweep(
    lv: np.ndarray,
    n: int,
    gt_cy: np.ndarray,
    gt_cx: np.ndarray,
    gate: float,
    matcher: int,
    by_value: bool,
    parent: np.ndarray,
    data: np.ndarray,
    flags: np.ndarray,
    per_area: np.ndarray,
):
    """Per threshold: matched targets, false-alarm pixels, predicted pixels, whether the general matcher
    must decide it (with the candidate sets it needs), and the level histogram. ``lv``: (h + 2, w + 2) levels
    with a zero border; ``parent``, ``data`` (set records: area, row sum, column sum, first pixel), ``flags``
    and ``per_area``: workspaces of at least ``lv.size`` (+1 for ``per_area``) entries, reset here. An image
    without targets needs no sets: every predicted pixel is a false alarm."""
    hp, wp = lv.shape
    size = hp * wp
    flat = lv.ravel()
    n_gt = gt_cy.size
    # counting sort of the pixels by level, highest first; level 0 is never predicted
    hist = np.zeros(n + 1, np.int64)
    for i in range(size):
        hist[flat[i]] += 1
    start = np.zeros(n + 2, np.int64)
    for lvl in range(n, 0, -1):
        start[lvl - 1] = start[lvl] + hist[lvl]
    order = np.empty(start[0], np.int32)
    fill = start.copy()
    for i in range(size):
        lvl = flat[i]
        if lvl > 0:
            order[fill[lvl]] = i
            fill[lvl] += 1
    parent[:size] = -1
    flags[:size] = 0  # bit 1: near a target, bit 2: on the candidate list, bit 4: changed at this level
    per_area[: size + 1] = 0  # live sets of each area (the area_value Fa rule)
    offsets = np.array([-wp - 1, -wp, -wp + 1, -1, 1, wp - 1, wp, wp + 1], np.int32)
    cands = np.empty(size, np.int32)
    dirty = np.empty(size, np.int32)  # sets changed at the current level
    n_cands = n_dirty = 0

    matched = np.zeros(n, np.int64)
    kept = np.zeros(n, np.int64)  # predicted pixels that are not false alarms
    predicted = np.zeros(n, np.int64)
    hard = np.zeros(n, np.bool_)  # thresholds left to the general matcher
    hard_sets = []  # (threshold, area, row sum, col sum, first pixel, sets of that area) per candidate
    total = 0
    for lvl in range(n, 0, -1):
        if n_gt == 0:  # nothing to match: every predicted pixel is a false alarm
            total += hist[lvl]
            predicted[lvl - 1] = total
            continue
        for o in range(start[lvl], start[lvl - 1]):
            p = order[o]
            r = p // wp
            root = -1
            for i in range(8):
                q = p + offsets[i]
                if parent[q] < 0:
                    continue
                while parent[q] != q:  # find, with path halving
                    parent[q] = parent[parent[q]]
                    q = parent[q]
                if q == root:
                    continue
                if root < 0:  # the pixel joins its first neighbour's set
                    root = q
                    parent[p] = root
                    if by_value:
                        per_area[data[root, 0]] -= 1
                        per_area[data[root, 0] + 1] += 1
                    data[root, 0] += 1
                    data[root, 1] += r - 1
                    data[root, 2] += p - r * wp - 1
                    data[root, 3] = min(data[root, 3], p)
                    continue
                if by_value:
                    per_area[data[root, 0]] -= 1
                    per_area[data[q, 0]] -= 1
                    per_area[data[root, 0] + data[q, 0]] += 1
                if data[q, 0] > data[root, 0]:
                    root, q = q, root
                parent[q] = root
                data[root, 0] += data[q, 0]
                data[root, 1] += data[q, 1]
                data[root, 2] += data[q, 2]
                data[root, 3] = min(data[root, 3], data[q, 3])
            if root < 0:  # no neighbour yet: a set of its own
                root = p
                parent[p] = p
                data[p, 0], data[p, 1], data[p, 2], data[p, 3] = 1, r - 1, p - r * wp - 1, p
                per_area[1] += 1
            if flags[root] < 4:  # changed at this level: its distance to the targets is checked below
                flags[root] |= 4
                dirty[n_dirty] = root
                n_dirty += 1
        total += hist[lvl]
        k = lvl - 1
        for i in range(n_dirty):
            e = dirty[i]
            flags[e] &= 3
            if parent[e] != e:
                continue
            if _near(data, e, gt_cy, gt_cx, gate):
                if flags[e] < 2:
                    cands[n_cands] = e
                    n_cands += 1
                flags[e] = 3
            else:
                flags[e] &= 2
        n_dirty = 0
        predicted[k] = total
        # keep the candidates that are still sets of their own and near a target, in label order
        m = 0
        for i in range(n_cands):
            e = cands[i]
            if parent[e] == e and flags[e] == 3:
                cands[m] = e
                m += 1
            else:
                flags[e] &= 1
        n_cands = m
        if n_cands == 0:
            continue
        for i in range(1, n_cands):  # insertion sort by first pixel: few candidates
            e = cands[i]
            j = i - 1
            while j >= 0 and data[cands[j], 3] > data[e, 3]:
                cands[j + 1] = cands[j]
                j -= 1
            cands[j + 1] = e
        ok = np.zeros((n_gt, n_cands), np.bool_)
        for j in range(n_cands):
            e = cands[j]
            cy, cx = data[e, 1] / data[e, 0], data[e, 2] / data[e, 0]
            for t in range(n_gt):
                dy, dx = gt_cy[t] - cy, gt_cx[t] - cx
                ok[t, j] = np.sqrt(dy * dy + dx * dx) < gate
        pick = np.full(n_gt, -1, np.int64)
        if matcher == 0:
            free = np.ones(n_cands, np.bool_)
            for t in range(n_gt):
                for j in range(n_cands):
                    if ok[t, j] and free[j]:
                        free[j] = False
                        pick[t] = j
                        break
        else:
            simple = True
            for t in range(n_gt):
                if ok[t].sum() > 1:
                    simple = False
            for j in range(n_cands):
                if ok[:, j].sum() > 1:
                    simple = False
            if not simple:
                hard[k] = True
                for j in range(n_cands):
                    e = cands[j]
                    hard_sets.append((k, data[e, 0], data[e, 1], data[e, 2], data[e, 3], per_area[data[e, 0]]))
                continue
            for t in range(n_gt):
                for j in range(n_cands):
                    if ok[t, j]:
                        pick[t] = j
        count, keep = 0, 0
        for t in range(n_gt):
            if pick[t] < 0:
                continue
            count += 1
            a = data[cands[pick[t]], 0]
            if not by_value:
                keep += a
                continue
            seen = False  # each matched area value drops all its sets once
            for u in range(t):
                if pick[u] >= 0 and data[cands[pick[u]], 0] == a:
                    seen = True
            if not seen:
                keep += a * per_area[a]
        matched[k] = count
        kept[k] = keep
    return matched, predicted - kept, predicted, hard, hard_sets, hist


class _Workspace(threading.local):
    """Per-thread buffers of the sweep, grown on demand and reused (no page faults per image). The set
    records (area, row sum, column sum, first pixel) are int32 while the sums cannot overflow it (images up
    to about 1290 x 1290), which keeps more of them in cache, else int64."""

    def __init__(self) -> None:
        self.buffers: dict[type, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def at_least(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        size = shape[0] * shape[1]
        dtype = np.int32 if size * max(shape) < 2**31 else np.int64
        held = self.buffers.get(dtype)
        if held is None or held[0].size < size:
            held = self.buffers[dtype] = (
                np.empty(size, np.int32),
                np.empty((size, 4), dtype),
                np.empty(size, np.uint8),
                np.empty(size + 1, np.int64),
            )
        return held


_WORKSPACE = _Workspace()


@dataclass(frozen=True)
class ThresholdCounts:
    """One image's counts at thresholds ``k / n`` (k = 0..n-1): matched targets, false-alarm pixels and
    predicted pixels, plus the per-level pixel histograms of targets and background (``hist_gt[l]``: target
    pixels of level ``l``) from which IoU and the pixel ROC at every threshold follow."""

    matched: np.ndarray
    fa_pixels: np.ndarray
    predicted: np.ndarray
    hist_gt: np.ndarray
    hist_bg: np.ndarray


def _resolve(gt: Components, sets: list[tuple[int, ...]], protocol: Protocol) -> tuple[int, int]:
    """Matched targets and non-false-alarm pixels of one threshold's candidate sets, by :func:`match`."""
    area, srow, scol, _, same = (np.array(col, dtype=np.int64) for col in zip(*sets))
    cents = np.stack([srow / area, scol / area], axis=1)
    diff = gt.centroids[:, None, :] - cents[None, :, :]
    pairs = match(np.sqrt((diff**2).sum(axis=2)), protocol.distance, protocol.matcher)
    hit = area[pairs[:, 1]]
    if protocol.fa_counting == "area_value":
        values, index = np.unique(hit, return_index=True)
        return len(pairs), int((values * same[pairs[index, 1]]).sum())
    return len(pairs), int(hit.sum())


def threshold_counts(
    score: np.ndarray, gt: Components, gt_mask: np.ndarray, protocol: Protocol, n: int = 256
) -> ThresholdCounts:
    """Counts of one image at the ``n`` thresholds ``k / n``, equal to binarising ``score > k / n`` and
    matching with ``protocol`` at each of them.

    Parameters
    ----------
    score : float32 map in [0, 1] at the protocol's resolution.
    gt : the ground truth's components (:func:`~benchmark.metrics.components.components`).
    gt_mask : the bool ground-truth mask, of the score's shape.
    protocol : matcher, distance gate and Fa rule.
    n : number of thresholds.

    Raises
    ------
    ValueError
        A score outside [0, 1] (or NaN), a mask of another shape, or 2**31 pixels or more.
    """
    if np.shape(score) != np.shape(gt_mask) or np.ndim(score) != 2:
        raise ValueError(f"score shape {np.shape(score)} and mask shape {np.shape(gt_mask)} must be equal and 2-D")
    if np.size(score) >= 2**31 - 2**20:  # pixel indices are int32
        raise ValueError(f"score of {np.size(score)} pixels: the tree engine takes fewer than 2**31")
    padded = _padded_levels(score, n)
    cy = np.ascontiguousarray(gt.centroids[:, 0], dtype=np.float64)
    cx = np.ascontiguousarray(gt.centroids[:, 1], dtype=np.float64)
    matched, fa, predicted, hard, hard_sets, hist = _sweep(
        padded,
        n,
        cy,
        cx,
        float(protocol.distance),
        _MATCHERS[protocol.matcher],
        protocol.fa_counting == "area_value",
        *_WORKSPACE.at_least(padded.shape),
    )
    if hard.any():
        by_level: dict[int, list[tuple[int, ...]]] = {}
        for k, *rest in hard_sets:
            by_level.setdefault(k, []).append(tuple(rest))
        for k, sets in by_level.items():
            matched[k], keep = _resolve(gt, sets, protocol)
            fa[k] = predicted[k] - keep
    hist[0] -= padded.size - gt_mask.size  # the border
    rows, cols = np.nonzero(gt_mask)
    hist_gt = np.bincount(padded[rows + 1, cols + 1], minlength=n + 1)
    return ThresholdCounts(matched, fa, predicted, hist_gt, hist - hist_gt)
