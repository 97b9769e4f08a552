"""WSLCM (Han et al., IEEE GRSL 2021): weighted strengthened local contrast measure."""

from __future__ import annotations

import numpy as np

from methods.local_contrast.cells import (
    box_means,
    centre,
    check_border,
    check_scales,
    gaussian3,
    median3,
    neighbours,
    top_k_means,
)
from methods.registry import register
from methods.validation import as_float_image, check_positive, check_positive_int


@register(
    "wslcm",
    family="local_contrast",
    kind="traditional",
    paper="Han, Moradi, Faramarzi, Liu, Zhang, Zhao, Zhang & Li, Infrared small target detection based on "
    "the weighted strengthened local contrast measure, IEEE GRSL 18(9), 2021",
    year=2021,
    defaults={"scales": (5, 7, 9, 11), "k": 9, "xi": 5.0, "eps": 1e-6, "border": "replicate"},
    policy="adaptive",
    display="WSLCM",
)
def wslcm(
    image: np.ndarray,
    *,
    scales: tuple[int, ...] = (5, 7, 9, 11),
    k: int = 9,
    xi: float = 5.0,
    eps: float = 1e-6,
    border: str = "replicate",
) -> np.ndarray:
    """Weighted strengthened local contrast over a 3x3 grid of ``s x s`` cells, max over scales.

    After a 3x3 median filter, with ``I_g`` the 3x3-Gaussian-smoothed image, ``M_i`` the mean of the
    ``k`` largest pixels and ``m_i`` the plain mean of cell ``i`` (0 = centre, 1..8 = neighbours):
    ``SLCM = max(I_g**2 / max_i M_i - I_g, 0)``, ``IRIL_i = M_i - m_i``,
    ``WD = max(IRIL_0 - max_i IRIL_i, 0)``, ``WB = max(std_i IRIL_i, xi)`` and
    ``WSLCM_s = IRIL_0 * WD / WB * SLCM``; the output is the pixelwise maximum over ``scales``.

    Parameters
    ----------
    image : (H, W) array
        Grey image on a 0-255 scale (any real dtype; ``xi`` is tuned for that scale).
    scales : sequence of odd int
        Cell sizes ``s`` (window ``3s x 3s``). Default (5, 7, 9, 11), the reference's.
    k : int
        Number of largest pixels averaged per cell (default 9); every cell must hold at least ``k``.
    xi : float
        Floor of the homogeneity weight ``WB`` (default 5, the paper's, for 0-255 input).
    eps : float
        Floor of the background estimate ``max_i M_i`` so black surroundings give a finite score.
    border : {"replicate", "zero"}
        Pixels assumed outside the image by the median and top-``k`` filters. ``"replicate"`` (default)
        is a deliberate deviation: the reference's ``medfilt2``/``ordfilt2`` zero padding (``"zero"``)
        darkens border pixels and makes the top-``k`` means of cells reaching outside the image
        disagree with their replicate-padded plain means. Only pixels within ``2 max(scales)`` of the
        border differ.

    Returns
    -------
    score : (H, W) float32 array.

    Notes
    -----
    Plain cell means always use replicated borders, as in the reference (``imfilter 'replicate'``).
    Reference implementation: Linaom1214/ISTD-Benchmark ``detector/WSLCM/run_WSLCM.m``.
    """
    img = as_float_image(image, "wslcm")
    k = check_positive_int(k, "k")
    scales = check_scales(scales, k, "wslcm")
    xi = check_positive(xi, "xi")
    eps = check_positive(eps, "eps")
    border = check_border(border, "wslcm")
    img = median3(img, border)
    smooth = gaussian3(img)
    margin = scales[-1]
    tops = top_k_means(img, scales, k, border)
    means = box_means(img, scales)
    score = np.full(img.shape, -np.inf, dtype=np.float32)
    for s in scales:
        top_n = neighbours(tops[s], img.shape, margin, s)
        iril_n = top_n - neighbours(means[s], img.shape, margin, s)
        iril_0 = centre(tops[s], img.shape, margin) - centre(means[s], img.shape, margin)
        background = np.maximum(top_n.max(axis=0), np.float32(eps))
        slcm = np.maximum(smooth * smooth / background - smooth, 0)
        wd = np.maximum(iril_0 - iril_n.max(axis=0), 0)
        wb = np.maximum(iril_n.std(axis=0, ddof=1), np.float32(xi))
        np.maximum(score, iril_0 * wd / wb * slcm, out=score)
    return score
