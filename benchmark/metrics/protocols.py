"""Named evaluation protocols: each is defined here, once, and printed under every table.

* ``irbench`` (default): native resolution; one-to-one optimal matching (Hungarian assignment on centroid
  distance, pairs gated at < 3 px); Fa counts the pixels of unmatched predicted components by identity,
  over the true pixel count; nIoU of an image with empty ground truth and empty prediction is 1.
* ``basicirstd``: native resolution; greedy first-fit matching (each ground-truth target in label order
  takes the first still-free predicted component in label order whose centroid is < 3 px away); Fa by
  identity over the true pixel count; empty/empty nIoU is 0. Reproduces BasicIRSTD's published numbers
  (after its 2024 Fa fix) and agrees with ``pyirstdmetrics``.
* ``mshnet``: the official MSHNet/DNANet evaluation, bugs included: score map resized bilinearly and mask
  by nearest neighbour to 256x256; greedy first-fit matching; the area-by-value Fa bug (an unmatched
  component whose pixel count equals that of any matched component in the image is not counted);
  Fa over 256*256*N; empty/empty nIoU 0.

Components are 8-connected everywhere; centroids are mean pixel coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Protocol:
    """How masks are compared: resolution, matcher and false-alarm rule.

    Fa is always normalised by the pixel count at the evaluation resolution (native h*w, or 256*256).
    """

    name: str
    description: str
    eval_size: int | None
    matcher: str  # "hungarian" | "greedy"
    fa_counting: str  # "identity" | "area_value"
    niou_empty: float
    distance: float = 3.0

    def prepare(self, score: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bring a score map and a bool mask to the evaluation resolution (bilinear / nearest)."""
        if score.shape != gt.shape:
            raise ValueError(f"score map shape {score.shape} differs from ground-truth shape {gt.shape}")
        if self.eval_size is None or score.shape == (self.eval_size, self.eval_size):
            return score, gt
        size = (self.eval_size, self.eval_size)
        score = cv2.resize(np.asarray(score, dtype=np.float32), size, interpolation=cv2.INTER_LINEAR)
        gt = cv2.resize(gt.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
        return score, gt


PROTOCOLS: dict[str, Protocol] = {
    "irbench": Protocol(
        "irbench",
        "native resolution; one-to-one Hungarian matching of 8-connected components on centroid distance "
        "< 3 px; Fa = pixels of unmatched predicted components (by identity) / all native pixels; "
        "IoU = sum of intersections / sum of unions; nIoU = per-image mean (empty/empty image = 1).",
        None, "hungarian", "identity", 1.0),
    "basicirstd": Protocol(
        "basicirstd",
        "native resolution; greedy first-fit matching of 8-connected components on centroid distance "
        "< 3 px (BasicIRSTD, fixed Fa); Fa = pixels of unmatched predicted components / all native pixels; "
        "IoU = sum of intersections / sum of unions; nIoU = per-image mean (empty/empty image = 0).",
        None, "greedy", "identity", 0.0),
    "mshnet": Protocol(
        "mshnet",
        "official MSHNet/DNANet evaluation with its bugs: maps and masks resized to 256x256; greedy "
        "first-fit matching on centroid distance < 3 px; area-by-value Fa bug (unmatched components with "
        "the area of a matched one are dropped); Fa over 256*256*N; nIoU empty/empty = 0.",
        256, "greedy", "area_value", 0.0),
}


def get_protocol(name: str | Protocol) -> Protocol:
    """Look up a protocol by name; unknown names list what exists."""
    if isinstance(name, Protocol):
        return name
    if name not in PROTOCOLS:
        raise KeyError(f"Unknown protocol '{name}'. Available: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
