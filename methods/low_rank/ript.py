"""RIPT (Dai & Wu, IEEE JSTARS 2017): reweighted infrared patch-tensor with a local-structure prior."""

from __future__ import annotations

from typing import Any

import numpy as np

from methods.low_rank.patches import PatchGrid, check_rule, mat2gray
from methods.low_rank.priors import structure_eigenvalues
from methods.low_rank.solvers import SVDState, check_finite, soft_nonneg, svt
from methods.registry import register
from methods.validation import as_float_image, check_positive, check_positive_int


def _unfold(x: np.ndarray, mode: int) -> np.ndarray:
    """Mode-``mode`` unfolding (rows indexed by that mode)."""
    return np.moveaxis(x, mode, 0).reshape(x.shape[mode], -1)


def _fold(m: np.ndarray, mode: int, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`_unfold`."""
    moved = (shape[mode],) + tuple(s for i, s in enumerate(shape) if i != mode)
    return np.moveaxis(m.reshape(moved), 0, mode)


@register(
    "ript",
    family="low_rank",
    kind="traditional",
    paper="Dai & Wu, Reweighted infrared patch-tensor model with both nonlocal and local priors for "
    "single-frame small target detection, IEEE JSTARS 10(8), 2017",
    year=2017,
    defaults={
        "patch": 30,
        "step": 10,
        "lam_l": 0.7,
        "h": 1.0,
        "rho": 1.5,
        "eps": 0.01,
        "tol": 1e-7,
        "max_iter": 500,
        "rule": "mean",
        "svd": "auto",
    },
    policy="adaptive",
    display="RIPT",
    version="3",  # blocked QR, single-precision Gram, random sketch columns drawn only where needed
)
def ript(
    image: np.ndarray,
    *,
    patch: int = 30,
    step: int = 10,
    lam_l: float = 0.7,
    h: float = 1.0,
    rho: float = 1.5,
    eps: float = 0.01,
    tol: float = 1e-7,
    max_iter: int = 500,
    rule: str = "mean",
    svd: str = "auto",
) -> tuple[np.ndarray, dict[str, Any]]:
    """RIPT: ``min sum_i ||B_(i)||_* + lam ||W . T||_1,  T >= 0,  s.t.  F = B + T`` on the patch tensor F.

    ADMM with one copy ``B_i`` per unfolding (sum of nuclear norms); ``W = W_LS / (|T| + eps)`` with the
    local-structure prior ``W_LS = exp(h mat2gray(l1 - l2))`` (structure tensor: 3x3 Gaussians sigma 1.2
    and 2) tensorised like F. ``lam = lam_l / sqrt(min(P, P, n_p))``, ``mu_0 = 5 std(F)``, ``mu <- mu / rho``
    (mu is the inverse penalty, i.e. the SVT threshold).

    Parameters
    ----------
    image : (H, W) array
        Grey image on the 0-255 scale (mu_0 depends on it only through std, the output scales with it).
    patch, step : int
        Patch side and step (30, 10; border-aligned last patch; clipped to tiny images).
    lam_l : float
        Tuning constant L of lambda (0.7, the author's demo).
    h : float
        Prior strength (1).
    rho : float
        Decrease factor of mu (1.5).
    eps : float
        Reweighting constant (0.01).
    tol : float
        Stop on ``||F - B - T||_F / ||F||_F < tol`` (1e-7).
    max_iter : int
        Iteration cap (500; the reference has none, the nnz test ends it in tens of iterations).
    rule : {"mean", "median", "last"}
        Reconstruction (author's ``res_patch_ten_mean``: mean).
    svd : {"auto", "full", "gram", "randomized"}
        Route of the mode-3 SVT (modes 1 and 2 are P x P*n_p and always use the Gram route).

    Returns
    -------
    score : (H, W) float32 array, the reconstructed target ``T >= 0``.
    meta : dict with ``iterations``, ``residual``, ``rank`` (mode-3 rank of B) and ``stop``.

    Notes
    -----
    The reference also stops when ``nnz(T)`` is unchanged from the previous iteration; that test is only
    applied once T is non-zero (it would otherwise fire at iteration 2 on an all-zero T).
    """
    img = as_float_image(image, "ript", dtype=np.float64)
    patch = min(check_positive_int(patch, "patch"), *img.shape)
    step = min(check_positive_int(step, "step"), patch)
    lam_l, h, rho = check_positive(lam_l, "lam_l"), float(h), check_positive(rho, "rho")
    eps, tol = check_positive(eps, "eps"), check_positive(tol, "tol")
    max_iter = check_positive_int(max_iter, "max_iter")
    check_rule(rule)
    grid = PatchGrid.build(img.shape, patch, step, border=True)
    f = grid.tensor(img)
    l1, l2 = structure_eigenvalues(img, 1.2, 2.0)
    w_ls = grid.tensor(np.exp(h * mat2gray(l1 - l2)))
    f_norm = float(np.linalg.norm(f))
    mu = 5 * float(f.std())
    if f_norm == 0 or mu == 0:
        return np.zeros(img.shape, np.float32), {"iterations": 0, "residual": 0.0, "rank": 0, "stop": "flat"}
    lam = lam_l / np.sqrt(min(patch, grid.count))
    shape = f.shape
    bs = [f.copy() for _ in range(3)]
    duals = [np.zeros_like(f) for _ in range(3)]
    states = [SVDState(method="gram"), SVDState(method="gram"), SVDState(method=svd)]
    t = np.zeros_like(f)
    w = w_ls
    nnz_prev, residual, k, rank, stop = -1, np.inf, 0, 0, "max_iter"
    for k in range(1, max_iter + 1):
        for i in range(3):
            low, r = svt(_unfold(f + mu * duals[i] - t, i), mu, states[i])
            bs[i] = _fold(low, i, shape)
            rank = r if i == 2 else rank
        t = soft_nonneg(sum(f + mu * duals[i] - bs[i] for i in range(3)) / 3, w * mu * lam / 3)
        w = w_ls / (np.abs(t) + eps)
        for i in range(3):
            duals[i] -= (bs[i] + t - f) / mu
        mu /= rho
        b = (bs[0] + bs[1] + bs[2]) / 3
        check_finite("ript", k, b, t)
        residual = float(np.linalg.norm(f - b - t)) / f_norm
        nnz = int(np.count_nonzero(t > 0))
        if residual < tol:
            stop = "tol"
        elif nnz > 0 and nnz == nnz_prev:
            stop = "nnz_unchanged"
        else:
            nnz_prev = nnz
            continue
        break
    score = grid.reconstruct(t, rule)
    return np.maximum(score, 0).astype(np.float32), {
        "iterations": k,
        "residual": residual,
        "rank": int(rank),
        "stop": stop,
    }
