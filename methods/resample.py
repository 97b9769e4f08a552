"""Resampling exactly as PIL's ``Image.resize`` does it, for pipelines that reproduce official test code.

* :func:`pil_nearest`: ``NEAREST`` samples source index ``int(x_k)`` with ``x_0 = s/2`` and
  ``x_{k+1} = x_k + s`` (``s = n_in / n_out``) accumulated in double precision, as PIL's scaling affine
  transform does. For a 2x reduction that is the *odd* pixels, where OpenCV's ``INTER_NEAREST`` takes the even ones.
* :func:`pil_bilinear`: ``BILINEAR`` of a grey image through PIL itself: on 8-bit values where the image holds
  whole grey levels (as the official code resizes its uint8 images), else in PIL's float mode.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["pil_bilinear", "pil_nearest", "pil_nearest_index"]


def pil_nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """The source indices PIL's ``NEAREST`` reads for ``n_out`` outputs from ``n_in`` inputs."""
    step = n_in / n_out
    positions = np.full(n_out, step)
    positions[0] = step * 0.5
    return np.minimum(np.cumsum(positions).astype(np.int64), n_in - 1)


def pil_nearest(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``array`` (H, W, ...) resampled to ``size`` (H', W') as PIL's ``NEAREST``."""
    rows = pil_nearest_index(array.shape[0], size[0])
    cols = pil_nearest_index(array.shape[1], size[1])
    return array[np.ix_(rows, cols)]


def pil_bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float HxW grey image (0-255) resized to ``size`` (H', W') by PIL's ``BILINEAR`` (antialiased when
    reducing), as float32; whole grey levels (to 1e-3) are resized as 8-bit, with PIL's rounding."""
    levels = np.rint(image)
    if np.abs(image - levels).max(initial=0) < 1e-3 and levels.min(initial=0) >= 0 and levels.max(initial=0) <= 255:
        pil = Image.fromarray(levels.astype(np.uint8), "L")
    else:
        pil = Image.fromarray(np.asarray(image, dtype=np.float32), "F")
    return np.asarray(pil.resize((size[1], size[0]), Image.BILINEAR), dtype=np.float32)
