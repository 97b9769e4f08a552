"""Input validation shared by the detectors (scikit-image style: fail early, name the problem)."""

from __future__ import annotations

import numpy as np


def as_float_image(image: np.ndarray, method: str, dtype: type = np.float32) -> np.ndarray:
    """Return ``image`` as a 2-D float array, raising ``ValueError`` for other shapes or non-finite values."""
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"{method}: expected a 2-D grey image, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{method}: the image is empty (shape {arr.shape})")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{method}: expected a real numeric image, got dtype {arr.dtype}")
    out = arr.astype(dtype, copy=False)
    if not np.isfinite(out).all():
        raise ValueError(f"{method}: the image holds NaN or infinite values")
    return out


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as an int >= 1, or raise ``ValueError`` naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"parameter {name!r} must be an integer >= 1, got {value!r}")
    return int(value)


def check_positive(value: object, name: str) -> float:
    """Return ``value`` as a float > 0, or raise ``ValueError`` naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value > 0:
        raise ValueError(f"parameter {name!r} must be a number > 0, got {value!r}")
    return float(value)
