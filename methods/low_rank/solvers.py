"""Solver primitives of the low-rank detectors: shrinkage, singular-value thresholding, t-SVD tools.

Singular-value thresholding only needs the singular triplets above the threshold. :func:`top_svd`
returns exactly those, choosing the cheapest exact-enough route:

* ``"full"``: LAPACK thin SVD (``gesdd``), the reference;
* ``"gram"``: eigen-decomposition of the smaller Gram matrix (float64), ``U = X V / s``;
* ``"randomized"``: range finder with power iterations, warm-started from the previous call's right
  singular vectors, the sketch grown until a computed singular value falls below the threshold;
* ``"auto"``: randomized when the expected rank is small against ``min(m, n)``, else gram.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SVD_METHODS = ("auto", "full", "gram", "randomized")


class DivergenceError(RuntimeError):
    """A solver produced non-finite iterates."""


def soft(x: np.ndarray, tau: float | np.ndarray) -> np.ndarray:
    """Soft shrinkage ``sign(x) * max(|x| - tau, 0)`` (``tau`` scalar or array of x's shape)."""
    return np.sign(x) * np.maximum(np.abs(x) - tau, 0)


def soft_nonneg(x: np.ndarray, tau: float | np.ndarray) -> np.ndarray:
    """Non-negative shrinkage ``max(x - tau, 0)``: the prox of ``tau * ||T||_1`` with ``T >= 0``."""
    return np.maximum(x - tau, 0)


def column_shrink(x: np.ndarray, tau: float) -> np.ndarray:
    """Group (l2,1) shrinkage of the columns: ``c * max(1 - tau / ||c||_2, 0)``."""
    norms = np.linalg.norm(x, axis=0)
    return x * (np.maximum(norms - tau, 0) / np.maximum(norms, np.finfo(x.dtype).tiny))


def check_finite(name: str, iteration: int, *arrays: np.ndarray) -> None:
    """Raise :class:`DivergenceError` when an iterate holds NaN or infinite values."""
    for arr in arrays:
        if not np.isfinite(arr).all():
            raise DivergenceError(f"{name}: non-finite iterate at iteration {iteration} (solver diverged)")


@dataclass
class SVDState:
    """Warm-start memory of :func:`top_svd` across the iterations of one solver."""

    method: str = "auto"
    rank: int = 0
    basis: np.ndarray | None = None  # right singular vectors of the previous call
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))


def _full(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.linalg.svd(x, full_matrices=False)


def _gram(x: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triplets with ``s > threshold`` from the eigen-decomposition of the smaller Gram matrix."""
    wide = x.shape[0] < x.shape[1]
    a = x.T if wide else x  # tall: m >= n
    a64 = a.astype(np.float64, copy=False)
    evals, evecs = np.linalg.eigh(a64.T @ a64)
    s = np.sqrt(np.maximum(evals[::-1], 0))
    keep = int(np.count_nonzero(s > max(threshold, s[0] * 1e-7 if s.size else 0)))
    s, v = s[:keep], evecs[:, ::-1][:, :keep]
    u = (a64 @ v) / s if keep else np.zeros((a.shape[0], 0))
    u, v, s = u.astype(x.dtype), v.astype(x.dtype), s.astype(x.dtype)
    return (v, s, u.T) if wide else (u, s, v.T)


def _orth(y: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the columns of a tall ``y`` through its small Gram matrix (cheaper than QR;
    directions below 1e-6 of the largest are dropped)."""
    w, v = np.linalg.eigh((y.T @ y).astype(np.float64))
    keep = w > w[-1] * 1e-12 if w[-1] > 0 else np.zeros(w.shape, bool)
    keep[-1] = True
    return (y @ (v[:, keep] / np.sqrt(np.maximum(w[keep], np.finfo(float).tiny))).astype(y.dtype))


def _randomized(x: np.ndarray, k: int, start: np.ndarray | None, power: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank-``k`` randomized SVD (range finder + ``power`` subspace iterations) of ``x``."""
    n = x.shape[1]
    omega = rng.standard_normal((n, k)).astype(x.dtype)
    if start is not None and start.shape[1]:
        j = min(start.shape[1], k)
        omega[:, :j] = start[:, :j]
    q = _orth(x @ omega)
    for _ in range(power):
        q = _orth(x @ _orth(x.T @ q))
    q = np.linalg.qr(q)[0]  # exact orthonormality for the final projection
    ub, s, vt = np.linalg.svd(q.T @ x, full_matrices=False)
    return q @ ub, s, vt


def top_svd(x: np.ndarray, threshold: float, state: SVDState | None = None, *, min_rank: int = 0,
            oversample: int = 10, power: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Singular triplets of ``x`` with ``s > threshold`` (at least ``min_rank`` of them when they exist).

    Parameters
    ----------
    x : (m, n) float array
    threshold : float
        Singular values at or below it are not needed by the caller.
    state : SVDState, optional
        Method choice and warm start carried between calls (a fresh ``"auto"`` state when omitted).
    min_rank : int
        Also return the leading ``min_rank`` triplets even when below the threshold.
    oversample, power : int
        Randomized path: extra sketch columns and subspace iterations per call.

    Returns
    -------
    u : (m, r), s : (r,) descending, vt : (r, n)
    """
    state = state or SVDState()
    x = np.ascontiguousarray(x)  # strided views (tensor unfoldings) would miss the BLAS matmul paths
    small = min(x.shape)
    method = state.method
    if method == "auto":
        method = "randomized" if 4 * (max(state.rank, min_rank) + 2 * oversample) < small and small > 200 else "gram"
    if method == "randomized":
        k = max(int(1.25 * state.rank), min_rank) + oversample  # room for the rank to grow
        while k < small // 2:
            u, s, vt = _randomized(x, k, state.basis, power if state.basis is not None else power + 3, state.rng)
            found = int(np.count_nonzero(s > threshold))
            if found + oversample <= k:  # `oversample` computed values fell below the threshold: all found
                break
            k *= 2
        else:
            method = "gram"
    if method == "gram":
        u, s, vt = _gram(x, threshold if min_rank == 0 else -1.0)
    elif method == "full":
        u, s, vt = _full(x)
    elif method != "randomized":
        raise ValueError(f"svd method must be one of {SVD_METHODS}, got {state.method!r}")
    keep = max(int(np.count_nonzero(s > threshold)), min(min_rank, s.size))
    state.rank = keep
    state.basis = vt[:keep].T.copy() if method == "randomized" or state.method == "auto" else None
    return u[:, :keep], s[:keep], vt[:keep]


def leading_singular_values(x: np.ndarray, k: int, method: str = "auto") -> np.ndarray:
    """The ``k`` largest singular values of ``x`` (zero-padded when ``min(x.shape) < k``)."""
    if method == "full" or min(x.shape) <= 4 * (k + 10):
        s = np.linalg.svd(x, compute_uv=False)
    else:
        s = _randomized(x, k + 10, None, 4, np.random.default_rng(0))[1]
    return np.pad(s[:k], (0, max(0, k - s.size)))


def svt(x: np.ndarray, tau: float, state: SVDState | None = None) -> tuple[np.ndarray, int]:
    """Singular-value thresholding ``U max(S - tau, 0) V^T``; returns the matrix and its rank."""
    u, s, vt = top_svd(x, tau, state)
    return (u * (s - tau)) @ vt, s.size


# ---- tensor (t-SVD) tools: tensors are (n1, n2, n3), the FFT runs along mode 3 ----------------------


def _from_half(half: np.ndarray, n3: int) -> np.ndarray:
    """Real tensor from its first ``n3 // 2 + 1`` Fourier slices (``irfft`` along mode 3)."""
    return np.fft.irfft(half, n=n3, axis=2)


def tensor_svt(x: np.ndarray, tau: float, keep: int = 0) -> tuple[np.ndarray, int]:
    """Prox of the (partial-sum) tensor nuclear norm: per Fourier slice, soft-threshold the singular values
    by ``tau`` except the ``keep`` largest, which stay as they are.

    Returns the real tensor and the largest slice rank.
    """
    n3 = x.shape[2]
    u, s, vh = np.linalg.svd(fft3(x), full_matrices=False)
    shrunk = np.maximum(s - tau, 0)
    shrunk[:, :keep] = s[:, :keep]
    return ifft3((u * shrunk[:, None, :]) @ vh, n3), int(np.count_nonzero(shrunk, axis=1).max())


def fft3(x: np.ndarray) -> np.ndarray:
    """Half spectrum along mode 3, as a stack of frontal slices (half, n1, n2)."""
    return np.ascontiguousarray(np.fft.rfft(x, axis=2).transpose(2, 0, 1))  # contiguous: BLAS batched matmul


def ifft3(f: np.ndarray, n3: int) -> np.ndarray:
    """Inverse of :func:`fft3`."""
    return _from_half(f.transpose(1, 2, 0), n3)
