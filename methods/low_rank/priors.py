"""Local-structure priors of the patch-tensor detectors (RIPT, PSTNN): structure-tensor eigenvalues."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def gaussian3(sigma: float) -> np.ndarray:
    """Normalised 3x3 Gaussian kernel (MATLAB ``fspecial('gaussian', [3 3], sigma)``)."""
    x = np.arange(-1, 2)
    k = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    return k / k.sum()


def structure_eigenvalues(image: np.ndarray, sigma_pre: float, sigma_tensor: float) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``l1 >= l2`` of the smoothed structure tensor of ``image``.

    The image is pre-smoothed with a 3x3 Gaussian (``sigma_pre``, symmetric border), differentiated by
    central differences (MATLAB ``gradient``), and the tensor entries are smoothed with a 3x3 Gaussian
    (``sigma_tensor``). Returns float64 arrays of the image's shape.
    """
    smooth = ndimage.correlate(image.astype(np.float64), gaussian3(sigma_pre), mode="reflect")
    gy, gx = np.gradient(smooth) if min(image.shape) > 1 else (np.zeros_like(smooth),) * 2
    k = gaussian3(sigma_tensor)
    j11 = ndimage.correlate(gx * gx, k, mode="reflect")
    j12 = ndimage.correlate(gx * gy, k, mode="reflect")
    j22 = ndimage.correlate(gy * gy, k, mode="reflect")
    root = np.sqrt((j11 - j22) ** 2 + 4 * j12**2)
    trace = j11 + j22
    return (trace + root) / 2, (trace - root) / 2
