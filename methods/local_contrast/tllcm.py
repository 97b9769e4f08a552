"""TLLCM (Han et al., IEEE GRSL 2020): tri-layer local contrast measure."""

from __future__ import annotations

import numpy as np

from methods.local_contrast.cells import check_border, check_scales, gaussian3, neighbours, top_k_means
from methods.registry import register
from methods.validation import as_float_image, check_positive, check_positive_int


@register(
    "tllcm",
    family="local_contrast",
    kind="traditional",
    paper="Han, Moradi, Faramarzi, Liu, Zhang & Zhao, A local contrast method for infrared small-target "
    "detection utilizing a tri-layer window, IEEE GRSL 17(10), 2020",
    year=2020,
    defaults={"scales": (5, 7, 9), "k": 9, "eps": 1e-6, "border": "replicate"},
    policy="adaptive",
    display="TLLCM",
)
def tllcm(
    image: np.ndarray,
    *,
    scales: tuple[int, ...] = (5, 7, 9),
    k: int = 9,
    eps: float = 1e-6,
    border: str = "replicate",
) -> np.ndarray:
    """Tri-layer local contrast: Gaussian-enhanced core against the brightest surrounding cell.

    With ``C`` the 3x3-Gaussian-smoothed image (core layer) and ``B_i`` the mean of the ``k`` largest
    pixels of neighbour cell ``i`` (surrounding layer; the rest of the centre cell is the ignored
    reserve layer): ``TLLCM_s = max(C**2 / max_i B_i - C, 0)``; the output is the maximum over ``scales``.

    Parameters
    ----------
    image : (H, W) array
        Grey image on a 0-255 scale (any real dtype).
    scales : sequence of odd int
        Cell sizes ``s`` (window ``3s x 3s``). Default (5, 7, 9), the reference specification's suggested
        multi-scale set; ``(9,)`` is the single-scale reference script.
    k : int
        Number of largest pixels averaged per neighbour cell (default 9).
    eps : float
        Floor of the background estimate ``max_i B_i`` so black surroundings give a finite score.
    border : {"replicate", "zero"}
        Pixels assumed outside the image by the top-``k`` filter. ``"replicate"`` (default) is a
        deliberate deviation from the reference's ``ordfilt2`` zero padding (``"zero"``), which
        underestimates the background of cells reaching outside the image. Only pixels within
        ``2 max(scales)`` of the border differ.

    Returns
    -------
    score : (H, W) float32 array, >= 0.

    Notes
    -----
    Reference implementation: Linaom1214/ISTD-Benchmark ``detector/TLLCM/run_TLLCM.m``.
    """
    img = as_float_image(image, "tllcm")
    k = check_positive_int(k, "k")
    scales = check_scales(scales, k, "tllcm")
    eps = check_positive(eps, "eps")
    border = check_border(border, "tllcm")
    core = gaussian3(img)
    tops = top_k_means(img, scales, k, border)
    score = np.zeros(img.shape, dtype=np.float32)
    for s in scales:
        background = np.maximum(neighbours(tops[s], img.shape, scales[-1], s).max(axis=0), np.float32(eps))
        np.maximum(score, core * core / background - core, out=score)
    return score
