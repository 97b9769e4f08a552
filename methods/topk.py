"""Elementwise running top-k of a stream of arrays (Max-Median's medians, the local contrast cells' means)."""

from __future__ import annotations

import numpy as np

__all__ = ["RunningTopK"]


class RunningTopK:
    """The ``k`` largest of a stream of equally shaped arrays, elementwise, kept as sorted planes.

    Each :meth:`push` is one compare-exchange pass down the planes (``2 k`` elementwise min/max), so
    a window statistic over ``n`` shifted views costs ``O(n k)`` vectorised passes and no sorting.
    After at least ``k`` pushes, ``planes[0] >= planes[1] >= ... >= planes[k - 1]`` elementwise are the
    ``k`` largest values; ``planes[k - 1]`` is the ``k``-th largest.
    """

    def __init__(self, shape: tuple[int, ...], k: int) -> None:
        self.planes = [np.empty(shape, dtype=np.float32) for _ in range(k)]
        self.count = 0
        self._value = np.empty(shape, dtype=np.float32)
        self._spare = np.empty(shape, dtype=np.float32)

    def push(self, values: np.ndarray) -> None:
        """Insert ``values`` (any array of the stream's shape; it is copied)."""
        value, spare, planes = self._value, self._spare, self.planes
        value[...] = values
        for j in range(min(self.count, len(planes))):
            np.maximum(planes[j], value, out=spare)
            np.minimum(planes[j], value, out=value)
            planes[j], spare = spare, planes[j]
        if self.count < len(planes):
            planes[self.count][...] = value
        self.count += 1
        self._spare = spare

    def mean(self) -> np.ndarray:
        """Mean of the ``k`` largest values seen; needs at least ``k`` pushes."""
        total = self.planes[0].copy()
        for plane in self.planes[1:]:
            total += plane
        return total / np.float32(len(self.planes))
