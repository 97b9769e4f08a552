"""PSTNN (Zhang & Peng, Remote Sensing 2019): partial sum of the tensor nuclear norm + weighted l1."""

from __future__ import annotations

from typing import Any

import numpy as np

from methods.low_rank.patches import PatchGrid, check_rule, mat2gray
from methods.low_rank.priors import structure_eigenvalues
from methods.low_rank.solvers import check_finite, soft_nonneg, tensor_svt
from methods.registry import register
from methods.validation import as_float_image, check_positive, check_positive_int


def preserved_rank(d: np.ndarray) -> int:
    """Number N of singular values the PSTNN keeps: those before the first ``s_i / s_1 < 0.1`` of the
    mode-3 unfolding (at least 1; all ``min(n1, n2)`` when none falls below, e.g. a near-flat image)."""
    s = np.linalg.svd(d.reshape(-1, d.shape[2]), compute_uv=False)  # unfold_3 (n3 x n1 n2), transposed
    cap = min(d.shape[0], d.shape[1])
    if s.size == 0 or s[0] == 0:
        return 1
    below = np.flatnonzero(s / s[0] < 0.1)
    return int(np.clip(below[0] if below.size else cap, 1, cap))


@register(
    "pstnn",
    family="low_rank",
    kind="traditional",
    paper="Zhang & Peng, Infrared small target detection based on partial sum of the tensor nuclear norm, "
    "Remote Sensing 11(4):382, 2019",
    year=2019,
    defaults={
        "patch": 40,
        "step": 40,
        "lam_l": 0.7,
        "mu0": 2e-3,
        "rho": 1.05,
        "tol": 1e-3,
        "max_iter": 500,
        "rule": "last",
    },
    policy="adaptive",
    display="PSTNN",
    version="3",  # spectral shrinkage through the eigh of the slice Gram
)
def pstnn(
    image: np.ndarray,
    *,
    patch: int = 40,
    step: int = 40,
    lam_l: float = 0.7,
    mu0: float = 2e-3,
    rho: float = 1.05,
    tol: float = 1e-3,
    max_iter: int = 500,
    rule: str = "last",
) -> tuple[np.ndarray, dict[str, Any]]:
    """PSTNN: ``min ||B||_PSTNN,N + lam ||W . T||_1  s.t.  D = B + T, T >= 0`` (ADMM, t-SVD via the FFT).

    The PSTNN prox leaves the N largest singular values of every Fourier-domain frontal slice untouched
    and soft-thresholds the rest by ``1/mu``. Weights ``W = N / (|T| + 0.01) / W_p`` with the corner prior
    ``W_p = mat2gray(l1 l2 / (l1 + l2) * max(l1, l2))`` (structure tensor, 3x3 Gaussians sigma 2 and 9).
    ``lam = lam_l / sqrt(max(n1, n2) n3)``, ``mu <- min(rho mu, 1e10)``.

    Parameters
    ----------
    image : (H, W) array
        Grey image on the 0-255 scale (raw, not normalised, as the reference).
    patch, step : int
        Patch side and step (40, 40: non-overlapping plus the border-aligned last row/col).
    lam_l, mu0, rho : float
        Lambda constant (0.7), initial penalty (2e-3) and its growth (1.05).
    tol : float
        Stop on ``||B + T - D||_F / ||D||_F < tol`` (1e-3), or when ``nnz(T)`` is non-zero and unchanged.
    max_iter : int
        Iteration cap (500).
    rule : {"last", "mean", "median"}
        Reconstruction (the authors' copy is last-write; with step = patch only the border strips differ).

    Returns
    -------
    score : (H, W) float32 array, the reconstructed target ``T >= 0``.
    meta : dict with ``iterations``, ``residual``, ``rank`` (N) and ``stop``.

    Notes
    -----
    Flat regions give ``l1 + l2 = 0``: 1e-12 is added to that denominator and to ``W_p`` (which reaches 0
    at its minimum) so the weights stay finite. Float64 / complex128 throughout (tiny thresholds).
    """
    img = as_float_image(image, "pstnn", dtype=np.float64)
    patch = min(check_positive_int(patch, "patch"), *img.shape)
    step = min(check_positive_int(step, "step"), patch)
    lam_l, mu, rho = check_positive(lam_l, "lam_l"), check_positive(mu0, "mu0"), check_positive(rho, "rho")
    tol = check_positive(tol, "tol")
    max_iter = check_positive_int(max_iter, "max_iter")
    check_rule(rule)
    grid = PatchGrid.build(img.shape, patch, step, border=True)
    d = grid.tensor(img)
    d_norm = float(np.linalg.norm(d))
    if d_norm == 0:
        return np.zeros(img.shape, np.float32), {"iterations": 0, "residual": 0.0, "rank": 0, "stop": "flat"}
    l1, l2 = structure_eigenvalues(img, 2.0, 9.0)
    corner = l1 * l2 / (l1 + l2 + 1e-12)
    w_p = grid.tensor(mat2gray(corner * np.maximum(l1, l2))) + 1e-12
    n1, n2, n3 = d.shape
    lam = lam_l / np.sqrt(max(n1, n2) * n3)
    keep = preserved_rank(d)
    t = np.zeros_like(d)
    y = np.zeros_like(d)
    weight = np.ones_like(d)
    nnz_prev, residual, k, stop = 0, np.inf, 0, "max_iter"
    for k in range(1, max_iter + 1):
        b, _ = tensor_svt(d - t - y / mu, 1 / mu, keep)
        t = soft_nonneg(d - b - y / mu, weight * lam / mu)
        weight = keep / (np.abs(t) + 0.01) / w_p
        gap = b + t - d
        check_finite("pstnn", k, b, t)
        residual = float(np.linalg.norm(gap)) / d_norm
        nnz = int(np.count_nonzero(t > 0))
        if residual < tol:
            stop = "tol"
        elif nnz > 0 and nnz == nnz_prev:
            stop = "nnz_unchanged"
        else:
            nnz_prev = nnz
            y += mu * gap
            mu = min(rho * mu, 1e10)
            continue
        break
    score = grid.reconstruct(t, rule)
    return score.astype(np.float32), {"iterations": k, "residual": residual, "rank": keep, "stop": stop}
