"""NRAM (Zhang et al., Remote Sensing 2018): non-convex rank approximation + reweighted l1 + l2,1 edges."""

from __future__ import annotations

from typing import Any

import numpy as np

from methods.low_rank.patches import PatchGrid, check_rule, mat2gray
from methods.low_rank.solvers import SVDState, check_finite, column_shrink, top_svd
from methods.registry import register
from methods.validation import as_float_image, check_positive, check_positive_int


def _gamma_shrink(s_r: np.ndarray, s_prev: np.ndarray, mu: float, gamma: float) -> np.ndarray:
    """DC fixed point of the gamma-norm prox: ``s <- max(s_r - (1+g) g / (mu (g + s)^2), 0)``, <= 100 steps."""
    s = s_prev
    for _ in range(100):
        new = np.maximum(s_r - (1 + gamma) * gamma / (mu * (gamma + s) ** 2), 0)
        done = np.sum((new - s) ** 2) < 1e-6
        s = new
        if done:
            break
    return s


@register(
    "nram",
    family="low_rank",
    kind="traditional",
    paper="Zhang, Peng, Zhang, Cao & Peng, Infrared small target detection via non-convex rank "
    "approximation minimization joint l2,1 norm, Remote Sensing 10(11):1821, 2018",
    year=2018,
    defaults={
        "patch": 50,
        "step": 10,
        "gamma": 0.002,
        "tol": 1e-7,
        "max_iter": 1000,
        "rho": 1.1,
        "rule": "last",
        "svd": "auto",
    },
    policy="adaptive",
    display="NRAM",
    version="3",  # blocked QR, single-precision Gram, random sketch columns drawn only where needed
)
def nram(
    image: np.ndarray,
    *,
    patch: int = 50,
    step: int = 10,
    gamma: float = 0.002,
    tol: float = 1e-7,
    max_iter: int = 1000,
    rho: float = 1.1,
    rule: str = "last",
    svd: str = "auto",
) -> tuple[np.ndarray, dict[str, Any]]:
    """NRAM: ``D = B + T + E``, ``min ||B||_gamma + lam ||W . T||_1 + beta ||E||_2,1`` by ADMM.

    ``||B||_gamma = sum (1 + gamma) s_i / (gamma + s_i)`` (DC-programming prox), ``W = C / (|R_T| + 0.04)``
    re-weights the target term from the current residual, ``E`` (column-sparse edges) counts as
    background. ``lam = 1/sqrt(min(m, n))``, ``beta = 3/sqrt(min(m, n))``, ``C = sqrt(min(m, n)) / 2.5``,
    ``mu_0 = 3 sqrt(max(m, n))``, ``mu <- rho mu`` (no cap), for the min-max normalised m x n patch image.

    Parameters
    ----------
    image : (H, W) array
        Grey image (scale-free: the patch image is min-max normalised).
    patch, step : int
        Patch side and step (50, 10; border-aligned last patch; clipped to tiny images).
    gamma : float
        Rank-surrogate parameter (0.002).
    tol : float
        Stop when ``||D - B - T - E||_F / ||D||_F < tol`` (1e-7).
    max_iter : int
        Iteration cap (1000).
    rho : float
        Growth factor of the penalty ``mu`` (1.1).
    rule : {"last", "mean", "median"}
        Reconstruction; "last" (last patch written wins) is what the reference code does.
    svd : {"auto", "full", "gram", "randomized"}
        Route of the partial SVD.

    Returns
    -------
    score : (H, W) float32 array, the reconstructed target ``max(T, 0)``.
    meta : dict with ``iterations``, ``residual``, ``rank`` and ``stop``.

    Notes
    -----
    T update keeps the reference's sign quirk: ``max(R - lam W / mu, 0) + min(R + lam W, 0)`` (the negative
    branch lacks the 1/mu). Only singular values above ``(1 + gamma) / (gamma mu)`` or those non-zero at the
    previous iteration can survive the DC prox, so the partial SVD computes just those (exact).
    """
    img = as_float_image(image, "nram")
    patch = min(check_positive_int(patch, "patch"), *img.shape)
    step = min(check_positive_int(step, "step"), patch)
    gamma = check_positive(gamma, "gamma")
    tol = check_positive(tol, "tol")
    max_iter = check_positive_int(max_iter, "max_iter")
    rho = check_positive(rho, "rho")
    check_rule(rule)
    grid = PatchGrid.build(img.shape, patch, step, border=True)
    d = mat2gray(grid.matrix(img)).astype(np.float32)
    d_norm = float(np.linalg.norm(d))
    if d_norm == 0:
        return np.zeros(img.shape, np.float32), {"iterations": 0, "residual": 0.0, "rank": 0, "stop": "flat"}
    m, n = d.shape
    lam, beta = 1 / np.sqrt(min(m, n)), 3 / np.sqrt(min(m, n))
    c_w = np.sqrt(min(m, n)) / 2.5
    mu = 3 * np.sqrt(max(m, n))
    b = np.zeros_like(d)
    t = np.zeros_like(d)
    e = np.zeros_like(d)
    y = np.zeros_like(d)
    s_prev = np.zeros(0, np.float32)
    state = SVDState(method=svd)
    residual, k, stop = np.inf, 0, "max_iter"
    for k in range(1, max_iter + 1):
        u, s_r, vt = top_svd(d - t - e - y / mu, (1 + gamma) / (gamma * mu), state, min_rank=s_prev.size)
        prev = np.zeros_like(s_r)
        prev[: min(s_prev.size, s_r.size)] = s_prev[: s_r.size]
        s = _gamma_shrink(s_r, prev, mu, gamma)
        s_prev = s[: int(np.count_nonzero(s))]
        b = (u[:, : s_prev.size] * s_prev) @ vt[: s_prev.size]
        r_t = d - b - e - y / mu
        weight = lam * c_w / (np.abs(r_t) + 0.04)
        t = np.maximum(r_t - weight / mu, 0) + np.minimum(r_t + weight, 0)
        e = column_shrink(d - t - b - y / mu, beta / mu)
        gap = b + e + t - d
        check_finite("nram", k, b, t, e)
        residual = float(np.linalg.norm(gap)) / d_norm
        if residual < tol:
            stop = "tol"
            break
        y += mu * gap
        mu *= rho
    score = grid.reconstruct(t, rule)
    return np.maximum(score, 0).astype(np.float32), {
        "iterations": k,
        "residual": residual,
        "rank": int(s_prev.size),
        "stop": stop,
    }
