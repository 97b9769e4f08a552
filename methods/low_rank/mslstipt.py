"""MSLSTIPT (Sun, Yang & An, IEEE TGRS 2021): multiple subspace learning on a spatial-temporal patch tensor,
used on single frames (v1 of the authors' code with L = 1 frame)."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from methods.low_rank.patches import PatchGrid
from methods.low_rank.solvers import check_finite, slice_svd, soft, spatial, spectral_shrink, spectral_svt, spectrum
from methods.registry import register
from methods.validation import as_float_image, check_positive, check_positive_int


def learn_dictionary(x: np.ndarray, tol: float = 1e-8, max_iter: int = 800) -> tuple[np.ndarray, int]:
    """Stage 1: TRPCA-TNN (``lam = 1/sqrt(n1 n2)`` for one frame, ``mu`` 1e-4 x 1.2 up to 1e10), then
    truncation of the low-rank part (``prox_low_rank``, ratio test 50 / 20x-mean).

    ``x`` is slice-first (n3, n1, n2) (see :mod:`methods.low_rank.solvers`). Returns the dictionary's half
    spectrum (half, n1, r) and the number of TRPCA iterations.
    """
    n3, n1, n2 = x.shape
    lam = 1 / np.sqrt(n1 * n2)
    low, sparse, y = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    mu, k = 1e-4, 0
    for k in range(1, max_iter + 1):
        low_new = spatial(spectral_svt(spectrum(x - sparse - y / mu), 1 / mu)[0], n3)
        sparse_new = soft(x - low_new - y / mu, lam / mu)
        gap = low_new + sparse_new - x
        converged = max_abs_below(tol, gap, (low_new, low), (sparse_new, sparse))
        low, sparse = low_new, sparse_new
        check_finite("mslstipt (dictionary)", k, low, sparse)
        if converged:
            break
        y += mu * gap
        mu = min(1.2 * mu, 1e10)
    u, s, _ = slice_svd(spectrum(low))  # (half, n1, q), (half, q)
    rank = 1
    for sv in s:
        r = int(np.count_nonzero(sv > max(n1, n2) * np.finfo(float).eps * sv[0])) if sv[0] > 0 else 0
        if r < 2:
            rank = max(rank, r)
            continue
        ratio = sv[: r - 1] / sv[1:r]
        big = np.flatnonzero(ratio > 50)
        slice_rank = int(big[0]) + 1 if big.size else r
        top = int(ratio.argmax())
        others = np.delete(ratio, top)
        if others.size and ratio[top] > 20 * others.mean():
            slice_rank = top + 1
        rank = max(rank, slice_rank)
    return u[:, :, :rank] * s[:, None, :rank], k


def max_abs(term: np.ndarray | tuple[np.ndarray, np.ndarray]) -> float:
    """Max-abs of an array, or of the difference of a pair."""
    return float(np.abs(term if isinstance(term, np.ndarray) else np.subtract(*term)).max())


def max_abs_below(tol: float, *terms: np.ndarray | tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether every term is below ``tol`` in max-abs, stopping at the first that is not (the stopping
    tests of both stages: most iterations compute one term instead of all)."""
    return all(max_abs(term) < tol for term in terms)


def _weighted_schatten(s: np.ndarray, c: float, p: float) -> np.ndarray:
    """Weighted Schatten-p shrink of singular values by generalized soft-thresholding (3 reweightings)."""
    x = s.copy()
    for _ in range(3):
        w = c / (x ** (1 / p) + np.finfo(float).eps)
        thr = (2 * w * (1 - p)) ** (1 / (2 - p)) + p * w * (2 * w * (1 - p)) ** ((p - 1) / (2 - p))
        z = s.copy()
        for _ in range(2):
            z = s - p * w * np.maximum(z, np.finfo(float).tiny) ** (p - 1)
        x = np.where(s > thr, np.maximum(z, 0), 0)
    return x


@register(
    "mslstipt",
    family="low_rank",
    kind="traditional",
    paper="Sun, Yang & An, Infrared dim and small target detection via multiple subspace learning and "
    "spatial-temporal patch-tensor model, IEEE TGRS 59(5), 2021",
    year=2021,
    defaults={"patch": 100, "c": 1e-4, "p": 0.8, "tol": 1e-4, "max_iter": 200},
    policy="adaptive",
    display="MSLSTIPT",
    version="3",  # spectral shrinkage through the eigh of the slice Gram, zero slices skipped
)
def mslstipt(
    image: np.ndarray, *, patch: int = 100, c: float = 1e-4, p: float = 0.8, tol: float = 1e-4, max_iter: int = 200
) -> tuple[np.ndarray, dict[str, Any]]:
    """MSLSTIPT on one frame: ``X = A * Z + E`` with a learned background dictionary ``A`` (t-product),
    weighted Schatten-p low-rank coefficients Z and sparse target E.

    ``min sum_k ||Z_k||_{w,Sp}^p + lam ||E||_1  s.t.  X = A * J + E, Z = J`` (ADMM, ``beta`` 1e-4 x 1.1
    up to 1e8), ``lam = 1/sqrt(n3 max(n1, n2))``, Schatten weight ``C sqrt(n1 n2)``.

    Parameters
    ----------
    image : (H, W) array
        Grey image on the 0-255 scale (divided by 255 as the reference).
    patch : int
        Side of the non-overlapping tiles (100; clipped to tiny images).
    c : float
        Schatten weight constant C (1e-4, the v1 demo; the v2 demo's 5 is for whole frames).
    p : float
        Schatten exponent, 0 < p < 1 (0.8).
    tol : float
        Stop when every change and constraint gap (max-abs) is below ``tol`` (1e-4).
    max_iter : int
        Iteration cap of the second stage (200; the dictionary stage has its own 800).

    Returns
    -------
    score : (H, W) float32 array, the target ``max(E, 0)`` on the 0-1 scale.
    meta : dict with ``iterations`` (stage 2), ``dictionary_iterations``, ``residual`` (last max-abs
    criterion), ``rank`` (dictionary atoms) and ``stop``.

    Notes
    -----
    Single frame (L = 1): the image is replicate-padded to multiples of ``patch`` (the reference pads with
    image row 100 instead of the last row and needs H >= 100), cut into n_p non-overlapping tiles, which form
    the tensor ``patch x n_p x patch`` (tile k = lateral slice k): the "temporal" axis of the multi-frame
    model holds the tiles of this one frame, as in the authors' v1 demo run on one frame.
    """
    img = as_float_image(image, "mslstipt", dtype=np.float64)
    patch = min(check_positive_int(patch, "patch"), *img.shape)
    c, tol = check_positive(c, "c"), check_positive(tol, "tol")
    if not 0 < p < 1:
        raise ValueError(f"parameter 'p' must be in (0, 1), got {p!r}")
    max_iter = check_positive_int(max_iter, "max_iter")
    h, w = img.shape
    padded = np.pad(img / 255, ((0, -h % patch), (0, -w % patch)), mode="edge")
    grid = PatchGrid.build(padded.shape, patch, patch, border=False)
    x = np.ascontiguousarray(grid.tensor(padded).transpose(1, 0, 2))  # slice-first: (cols, rows, tiles)
    if not x.any():
        return np.zeros(img.shape, np.float32), {
            "iterations": 0,
            "dictionary_iterations": 0,
            "residual": 0.0,
            "rank": 0,
            "stop": "flat",
        }
    n3, n1, n2 = x.shape
    a_hat, dict_iter = learn_dictionary(x)
    r = a_hat.shape[2]
    a_h = np.ascontiguousarray(np.conj(a_hat.transpose(0, 2, 1)))
    inv = np.linalg.inv(a_h @ a_hat + np.eye(r))  # (half, r, r)
    lam = 1 / np.sqrt(n3 * max(n1, n2))
    c_w = c * np.sqrt(n1 * n2)
    z = np.zeros((n3, r, n2))
    j, e = np.zeros_like(z), np.zeros_like(x)
    y1, y2 = np.zeros_like(z), np.zeros_like(x)
    beta, residual, k, stop = 1e-4, np.inf, 0, "max_iter"
    aj = np.zeros_like(x)  # A * J for J = 0
    for k in range(1, max_iter + 1):
        z_hat = spectral_shrink(spectrum(j - y1 / beta), partial(_weighted_schatten, c=c_w / beta, p=p))[0]
        z_new = spatial(z_hat, n3)
        e_new = soft(x - aj + y2 / beta, lam / beta)
        j_hat = inv @ (spectrum(z_new + y1 / beta) + a_h @ spectrum(x - e_new + y2 / beta))
        j_new = spatial(j_hat, n3)
        aj = spatial(a_hat @ spectrum(j_new), n3)
        gap1, gap2 = z_new - j_new, x - aj - e_new
        terms = (gap1, gap2, (j_new, j), (z_new, z), (e_new, e))
        converged = max_abs_below(tol, *terms)
        if converged or k == max_iter:  # the reported residual: every term
            residual = max(max_abs(term) for term in terms)
        z, j, e = z_new, j_new, e_new
        check_finite("mslstipt", k, z, j, e)
        if converged:
            stop = "tol"
            break
        y1 += beta * gap1
        y2 += beta * gap2
        beta = min(1.1 * beta, 1e8)
    target = grid.reconstruct(e.transpose(1, 0, 2), "last")[:h, :w]
    return np.maximum(target, 0).astype(np.float32), {
        "iterations": k,
        "dictionary_iterations": dict_iter,
        "residual": residual,
        "rank": int(r),
        "stop": stop,
    }
