"""Top-Hat (Rivest & Fortin, Opt. Eng. 1996): white top-hat with a flat structuring element."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from methods.registry import register
from methods.validation import as_float_image, check_positive_int


@register(
    "tophat",
    family="filtering",
    kind="traditional",
    paper="Rivest & Fortin, Detection of dim targets in digital infrared imagery by morphological "
    "image processing, Optical Engineering 35(7), 1996",
    year=1996,
    defaults={"size": 5, "shape": "square"},
    # the DNANet rule reproduces the paper's NUDT-SIRST row: 20.84/78.41/166.5 vs 20.72/78.41/166.7
    policy="adaptive",
    display="Top-Hat",
)
def tophat(image: np.ndarray, *, size: int = 5, shape: str = "square") -> np.ndarray:
    """White top-hat: ``I - open(I, B)``, which keeps bright blobs smaller than ``B``.

    Parameters
    ----------
    image : (H, W) array
        Grey image, any real dtype (0-255 scale by convention).
    size : int
        Side of the structuring element (odd or even, >= 1). Default 5 (5x5 square), the choice of two
        of the three public reference implementations.
    shape : {"square", "disk"}
        Flat square or disk (diameter ``size``) structuring element.

    Returns
    -------
    score : (H, W) float32 array, >= 0.

    Notes
    -----
    Borders use scipy's ``reflect`` mode; MATLAB ignores out-of-image pixels instead, which differs only
    within the element's radius of the border.
    """
    img = as_float_image(image, "tophat")
    size = check_positive_int(size, "size")
    if shape == "square":
        footprint = np.ones((size, size), dtype=bool)
    elif shape == "disk":
        r = (size - 1) / 2
        yy, xx = np.mgrid[:size, :size]
        footprint = (yy - r) ** 2 + (xx - r) ** 2 <= r**2 + 1e-9
    else:
        raise ValueError(f"tophat: shape must be 'square' or 'disk', got {shape!r}")
    opened = ndimage.grey_opening(img, footprint=footprint, mode="reflect")
    return np.maximum(img - opened, 0, dtype=np.float32)
