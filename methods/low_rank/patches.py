"""Patch-image / patch-tensor construction and reconstruction shared by the low-rank detectors.

Geometry follows the authors' MATLAB code (Gao: IPI; Dai: RIPT, PSTNN; Zhang: NRAM): top-left positions
``0, s, 2s, ...`` that fit in the image, plus (``border=True``, Dai style: RIPT, PSTNN, NRAM) a last
border-aligned position ``L - P``. Patches are enumerated **columns outer, rows inner** (MATLAB ``meshgrid``
+ ``cat(3, ...)``) and each patch is vectorised column-major (MATLAB ``patch(:)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

RULES = ("median", "mean", "last")


def positions(length: int, patch: int, step: int, border: bool) -> np.ndarray:
    """Top-left positions of the patches along one axis (0-based).

    Parameters
    ----------
    length, patch, step : int
        Axis length, patch side and step, with ``1 <= patch <= length`` and ``step >= 1``.
    border : bool
        Append the border-aligned position ``length - patch`` when the regular grid misses it.

    Returns
    -------
    pos : (n,) int array, strictly increasing.
    """
    if not 1 <= patch <= length:
        raise ValueError(f"patch must be in [1, {length}], got {patch}")
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    pos = np.arange(0, length - patch + 1, step)
    if border and pos[-1] != length - patch:
        pos = np.append(pos, length - patch)
    return pos


@dataclass(frozen=True)
class PatchGrid:
    """Patch layout of an image: ``shape`` (H, W), patch side, row and column positions."""

    shape: tuple[int, int]
    patch: int
    rows: np.ndarray
    cols: np.ndarray

    @classmethod
    def build(cls, shape: tuple[int, int], patch: int, step: int, border: bool) -> PatchGrid:
        """Grid of ``patch`` x ``patch`` windows every ``step`` pixels (see :func:`positions`)."""
        h, w = shape
        return cls((h, w), patch, positions(h, patch, step, border), positions(w, patch, step, border))

    @property
    def count(self) -> int:
        """Number of patches ``n_p``."""
        return len(self.rows) * len(self.cols)

    def tensor(self, image: np.ndarray) -> np.ndarray:
        """Patch tensor (P, P, n_p): frontal slice ``k = c * n_rows + r`` is the patch at (rows[r], cols[c])."""
        # one gather of the (nr, nc) windows: indexing rows then cols would first copy every column offset
        win = sliding_window_view(image, (self.patch, self.patch))[self.rows[:, None], self.cols[None, :]]
        return np.ascontiguousarray(win.transpose(2, 3, 1, 0).reshape(self.patch, self.patch, self.count))

    def matrix(self, image: np.ndarray) -> np.ndarray:
        """Patch image (P*P, n_p): column ``k`` is patch ``k`` vectorised column-major."""
        return tensor_to_matrix(self.tensor(image))

    def _cover(self, pos: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        """For every pixel of an axis: indices of the covering positions (padded) and a validity mask."""
        x = np.arange(length)[:, None]
        cover = (pos[None, :] <= x) & (x < pos[None, :] + self.patch)  # (L, n)
        counts = cover.sum(axis=1)
        kmax = max(int(counts.max()), 1)
        idx = np.argsort(~cover, axis=1, kind="stable")[:, :kmax]
        return idx, np.arange(kmax)[None, :] < counts[:, None]

    def reconstruct(self, values: np.ndarray, rule: str) -> np.ndarray:
        """Fold a patch tensor (P, P, n_p) or patch image (P*P, n_p) back to an (H, W) image.

        Parameters
        ----------
        values : array
            Patch values in the layout produced by :meth:`tensor` or :meth:`matrix`.
        rule : {"median", "mean", "last"}
            How overlapping patches combine: per-pixel median (MATLAB ``median``: mean of the two middle
            values for an even count), mean, or the value of the last patch written in enumeration order.

        Returns
        -------
        image : (H, W) array of ``values.dtype``; pixels no patch covers are 0.
        """
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        p = self.patch
        # -> vals[i, j, c, r]; matrix layout has pixel index j * P + i, both have patch index c * nr + r
        vals = values.reshape(p, p, len(self.cols), len(self.rows))
        if values.ndim == 2:
            vals = vals.transpose(1, 0, 2, 3)
        ri, rvalid = self._cover(self.rows, self.shape[0])  # (H, Ky)
        ci, cvalid = self._cover(self.cols, self.shape[1])  # (W, Kx)
        if rule == "last":  # the last covering patch is the one with the largest column, then row, index
            r_last = np.where(rvalid, ri, -1).max(axis=1)
            c_last = np.where(cvalid, ci, -1).max(axis=1)
            ys, xs = np.arange(self.shape[0]), np.arange(self.shape[1])
            dy = np.clip(ys - self.rows[r_last], 0, p - 1)  # clipped where uncovered (masked below)
            dx = np.clip(xs - self.cols[c_last], 0, p - 1)
            out = vals[dy[:, None], dx[None, :], c_last[None, :], r_last[:, None]]
            covered = (r_last >= 0)[:, None] & (c_last >= 0)[None, :]
            return np.where(covered, out, 0).astype(values.dtype, copy=False)
        count = rvalid.sum(axis=1)[:, None] * cvalid.sum(axis=1)[None, :]  # covering patches per pixel
        fill = np.inf if rule == "median" else 0  # invalid slots: sort last / add nothing
        factors = self._layer_factors()
        stack = (
            self._layers(vals, factors, fill) if factors else self._gather(vals, ri, rvalid, ci, cvalid, fill)
        )  # (H, W, K)
        if rule == "mean":
            return (stack.sum(axis=2, dtype=np.float64) / np.maximum(count, 1)).astype(values.dtype, copy=False)
        ordered = np.sort(stack, axis=2)
        lo = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[..., None], axis=2)[..., 0]
        hi = np.take_along_axis(ordered, (count // 2).clip(max=ordered.shape[2] - 1)[..., None], axis=2)[..., 0]
        return np.where(count > 0, (lo + hi) / 2, 0).astype(values.dtype, copy=False)

    def _layer_factors(self) -> tuple[int, int] | None:
        """``(patch // row step, patch // col step)`` when the patches split into non-overlapping layers (a
        regular grid whose step divides the patch side, IPI's 50 / 10: every ``patch // step``-th patch along
        an axis abuts the previous one), else None."""
        steps = [np.diff(pos) for pos in (self.rows, self.cols)]
        if all(d.size and np.all(d == d[0]) and self.patch % int(d[0]) == 0 for d in steps):
            return self.patch // int(steps[0][0]), self.patch // int(steps[1][0])
        return None

    def _layers(self, vals: np.ndarray, factors: tuple[int, int], fill: float) -> np.ndarray:
        """(H, W, K) stack of the non-overlapping layers of patches (``fill`` where a layer leaves a pixel
        uncovered): K block copies instead of a gather of every (pixel, patch) pair (IPI 512: 3x faster)."""
        p = self.patch
        fy, fx = factors
        stack = np.full((*self.shape, fy * fx), fill, vals.dtype)
        for k, (oy, ox) in enumerate(np.ndindex(fy, fx)):
            rsel, csel = np.arange(oy, len(self.rows), fy), np.arange(ox, len(self.cols), fx)
            if rsel.size == 0 or csel.size == 0:
                continue
            block = vals[:, :, csel[:, None], rsel[None, :]]  # (P, P, nc, nr): vals[i, j, c, r]
            tile = block.transpose(3, 0, 2, 1).reshape(rsel.size * p, csel.size * p)
            y0, x0 = self.rows[rsel[0]], self.cols[csel[0]]
            stack[y0 : y0 + tile.shape[0], x0 : x0 + tile.shape[1], k] = tile
        return stack

    def _gather(
        self, vals: np.ndarray, ri: np.ndarray, rvalid: np.ndarray, ci: np.ndarray, cvalid: np.ndarray, fill: float
    ) -> np.ndarray:
        """(H, W, Ky Kx) stack of every covering patch's value per pixel (``fill`` in unused slots)."""
        p = self.patch
        dy = np.arange(self.shape[0])[:, None] - self.rows[ri]  # (H, Ky)
        dx = np.arange(self.shape[1])[:, None] - self.cols[ci]  # (W, Kx)
        gathered = vals[
            np.clip(dy, 0, p - 1)[:, None, :, None],
            np.clip(dx, 0, p - 1)[None, :, None, :],
            ci[None, :, None, :],
            ri[:, None, :, None],
        ]  # (H, W, Ky, Kx)
        valid = rvalid[:, None, :, None] & cvalid[None, :, None, :]
        h, w = self.shape
        return np.where(valid, gathered, fill).reshape(h, w, -1)


def tensor_to_matrix(tensor: np.ndarray) -> np.ndarray:
    """(P, P, n) patch tensor -> (P*P, n) patch image, each patch vectorised column-major."""
    p, q, n = tensor.shape
    return tensor.transpose(1, 0, 2).reshape(p * q, n)


def mat2gray(array: np.ndarray) -> np.ndarray:
    """Global min-max scaling to [0, 1] (MATLAB ``mat2gray``); a constant array maps to zeros."""
    lo, hi = array.min(), array.max()
    if hi <= lo:
        return np.zeros_like(array)
    return (array - lo) / (hi - lo)


def check_rule(rule: str) -> str:
    """Return ``rule`` if it is a reconstruction rule, else raise ``ValueError`` naming it."""
    if rule not in RULES:
        raise ValueError(f"parameter 'rule' must be one of {RULES}, got {rule!r}")
    return rule
