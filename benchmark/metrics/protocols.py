"""Named evaluation protocols: each is defined here, once, and printed under every table.

* ``irbench`` (default): native resolution; one-to-one optimal matching (Hungarian assignment on centroid
  distance, pairs gated at < 3 px); Fa counts the pixels of unmatched predicted components by identity,
  over the native pixel count (sum of h*w); nIoU of an image with empty ground truth and empty prediction
  is 1 (the image is perfectly segmented).
* ``basicirstd``: native resolution; greedy first-fit matching (each ground-truth target in label order
  takes the first still-free predicted component in label order whose centroid is < 3 px away); Fa by
  identity over the native pixel count; empty/empty nIoU is 0 (ACM convention). Reproduces BasicIRSTD's
  published numbers (after its 2024 Fa fix) and agrees with ``pyirstdmetrics``.
* ``mshnet``: the official MSHNet/DNANet evaluation, bugs included: score map resized bilinearly
  (``cv2.resize``) and mask by PIL's nearest neighbour (the official ``Image.NEAREST``) to 256x256; greedy
  first-fit matching; the area-by-value Fa bug
  (an unmatched component whose pixel count equals that of any matched component in the same image is
  not counted); Fa over 256*256*N; empty/empty nIoU 0.

Components are 8-connected everywhere; centroids are mean (row, col) pixel coordinates; a pair matches
when the Euclidean centroid distance is strictly below ``distance`` (3 px).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from methods.names import Registry
from methods.resample import pil_nearest

MATCHERS = ("hungarian", "greedy")
FA_COUNTINGS = ("identity", "area_value")
FA_NORMALISERS = ("native", "eval")


@dataclass(frozen=True)
class Protocol:
    """How masks are compared: resolution, matcher, false-alarm rule and normaliser.

    Parameters
    ----------
    name : str
        Registry name (``irbench``, ``basicirstd``, ``mshnet``).
    description : str
        One sentence printed under every table.
    eval_size : int or None
        Side of the square evaluation resolution; ``None`` keeps the native resolution.
    matcher : {"hungarian", "greedy"}
        One-to-one optimal assignment on centroid distance, or first-fit in label order.
    fa_counting : {"identity", "area_value"}
        Unmatched predicted components by identity, or the DNANet/MSHNet area-by-value bug.
    fa_normaliser : {"native", "eval"}
        Fa denominator: the native pixel count (sum of h*w), or ``eval_size**2`` per image.
    niou_empty : float
        nIoU of an image whose ground truth and prediction are both empty.
    distance : float
        Centroid distance gate in pixels (strict ``<``).
    """

    name: str
    description: str
    eval_size: int | None
    matcher: str
    fa_counting: str
    fa_normaliser: str
    niou_empty: float
    distance: float = 3.0

    def __post_init__(self) -> None:
        if self.matcher not in MATCHERS:
            raise ValueError(f"matcher must be one of {MATCHERS}, got {self.matcher!r}")
        if self.fa_counting not in FA_COUNTINGS:
            raise ValueError(f"fa_counting must be one of {FA_COUNTINGS}, got {self.fa_counting!r}")
        if self.fa_normaliser not in FA_NORMALISERS:
            raise ValueError(f"fa_normaliser must be one of {FA_NORMALISERS}, got {self.fa_normaliser!r}")
        if self.eval_size is not None and (not isinstance(self.eval_size, int) or self.eval_size < 1):
            raise ValueError(f"eval_size must be None or a positive int, got {self.eval_size!r}")
        if self.fa_normaliser == "eval" and self.eval_size is None:
            raise ValueError("fa_normaliser 'eval' needs an eval_size")
        if self.fa_normaliser == "native" and self.eval_size is not None:
            raise ValueError(f"fa_normaliser 'native' needs native resolution, got eval_size={self.eval_size}")
        if not self.distance > 0:
            raise ValueError(f"distance must be > 0, got {self.distance!r}")

    def prepare(self, score: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bring a score map and a mask to the evaluation resolution.

        Parameters
        ----------
        score : ndarray
            HxW score map (any real dtype).
        gt : ndarray
            HxW ground-truth mask (bool or 0/1).

        Returns
        -------
        score : ndarray
            float32 map, resized bilinearly (``cv2.INTER_LINEAR``) when the protocol has an ``eval_size``.
        gt : ndarray
            bool mask, resized by nearest neighbour as PIL's ``Image.NEAREST`` (:func:`pil_nearest`).
        """
        score, gt = np.asarray(score), np.asarray(gt)
        if score.ndim != 2 or score.shape != gt.shape:
            raise ValueError(f"score shape {score.shape} and ground-truth shape {gt.shape} must be equal and 2-D")
        score, gt = score.astype(np.float32, copy=False), gt.astype(bool, copy=False)
        if self.eval_size is None or score.shape == (self.eval_size, self.eval_size):
            return score, gt
        size = (self.eval_size, self.eval_size)
        score = cv2.resize(score, size, interpolation=cv2.INTER_LINEAR)
        gt = pil_nearest(gt, size)
        return score, gt


_BUILT_IN = (
    Protocol(
        "irbench",
        "native resolution; one-to-one Hungarian matching of 8-connected components on centroid distance "
        "< 3 px; Fa = pixels of unmatched predicted components (by identity) / all native pixels; "
        "IoU = sum of intersections / sum of unions; nIoU = per-image mean (empty/empty image = 1).",
        None,
        "hungarian",
        "identity",
        "native",
        1.0,
    ),
    Protocol(
        "basicirstd",
        "native resolution; greedy first-fit matching of 8-connected components on centroid distance "
        "< 3 px (BasicIRSTD, fixed Fa); Fa = pixels of unmatched predicted components / all native pixels; "
        "IoU = sum of intersections / sum of unions; nIoU = per-image mean (empty/empty image = 0).",
        None,
        "greedy",
        "identity",
        "native",
        0.0,
    ),
    Protocol(
        "mshnet",
        "official MSHNet/DNANet evaluation with its bugs: maps (bilinear) and masks (PIL nearest) resized to "
        "256x256; greedy first-fit matching on centroid distance < 3 px; area-by-value Fa bug (unmatched "
        "components with the area of a matched one are dropped); Fa over 256*256*N; nIoU empty/empty = 0.",
        256,
        "greedy",
        "area_value",
        "eval",
        0.0,
    ),
)
PROTOCOLS: Registry[Protocol] = Registry("protocol")
for _protocol in _BUILT_IN:
    PROTOCOLS.add(_protocol.name, _protocol)


def get_protocol(name: str | Protocol) -> Protocol:
    """Return the protocol called ``name`` (a :class:`Protocol` passes through).

    Raises
    ------
    UnknownNameError
        For an unknown name (a ``KeyError``); the message lists the available protocols.
    """
    return name if isinstance(name, Protocol) else PROTOCOLS[name]
