"""Per-image evaluation: the counts every dataset-level metric is built from.

Definitions (all at the protocol's evaluation resolution; see ``protocols`` for the protocols):

* Components are 8-connected; centroids are mean (row, col); a ground-truth target and a predicted
  component match when their centroid distance is < 3 px, under the protocol's matcher.
* ``inter`` / ``union``: pixel counts of pred & gt and pred | gt (IoU = sum inter / sum union).
* ``niou_i`` = inter / union of this image; an image with empty ground truth and empty prediction scores
  the protocol's ``niou_empty`` (1 for ``irbench``, 0 for ``basicirstd`` and ``mshnet``, as ACM).
* ``fa_pixels``: pixels of the predicted components that count as false alarms (protocol's Fa rule);
  ``n_pixels``: this image's contribution to the Fa denominator (h*w, or eval_size**2).
* ``n_gt`` / ``n_matched`` / ``n_pred``: targets, matched targets and predicted components.

Table 2 buckets (area in pixels, inclusive upper bounds): ``(0,10]``, ``(10,40]``, ``(40,inf)``.

* ``n_gt_b`` / ``n_matched_b``: targets of the bucket (by their area) and how many are matched (one
  matching per image, over all targets).
* ``inter_b`` / ``union_b`` (target-restricted IoU): for each target t of the bucket let R_t be t's pixels
  plus the pixels of every predicted component that overlaps t or is matched to it; inter_b = sum_t
  |pred & gt & R_t| and union_b = sum_t |(pred | gt) & R_t|.
* ``fa_pixels_b``: pixels of false-alarm components whose own area lies in the bucket, so the bucket
  values add up to ``fa_pixels``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from benchmark.metrics.components import match_components
from benchmark.metrics.protocols import Protocol, get_protocol

BUCKETS = ("(0,10]", "(10,40]", "(40,inf)")
BUCKET_EDGES = np.array([10, 40])  # inclusive upper bounds


def bucket_of(areas: np.ndarray) -> np.ndarray:
    """Bucket index (0, 1, 2) of each area: (0,10], (10,40], (40,inf)."""
    return np.searchsorted(BUCKET_EDGES, areas, side="left")


@dataclass(frozen=True)
class ImageStats:
    """Counts of one evaluated image; per-bucket fields are 3-tuples in :data:`BUCKETS` order.

    JSON round trip: ``ImageStats.from_dict(json.loads(json.dumps(stats.to_dict())))``.
    """

    inter: int
    union: int
    n_pixels: int
    n_gt: int
    n_matched: int
    n_pred: int
    fa_pixels: int
    niou_i: float
    n_gt_b: tuple[int, int, int] = (0, 0, 0)
    n_matched_b: tuple[int, int, int] = (0, 0, 0)
    inter_b: tuple[int, int, int] = (0, 0, 0)
    union_b: tuple[int, int, int] = (0, 0, 0)
    fa_pixels_b: tuple[int, int, int] = (0, 0, 0)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of ints, a float and lists (JSON-serialisable)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageStats:
        """Rebuild from :meth:`to_dict` output; unknown or missing keys raise ``ValueError``."""
        names = {f.name for f in fields(cls)}
        if set(data) != names:
            raise ValueError(
                f"ImageStats keys differ: missing {sorted(names - set(data))}, unexpected {sorted(set(data) - names)}"
            )
        return cls(**{k: tuple(int(x) for x in v) if isinstance(v, (list, tuple)) else v for k, v in data.items()})


def _per_bucket(values: np.ndarray, buckets: np.ndarray) -> tuple[int, int, int]:
    sums = np.bincount(buckets, weights=values, minlength=3)
    return int(round(sums[0])), int(round(sums[1])), int(round(sums[2]))


def _as_mask(name: str, arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype != bool:
        if (
            not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating))
            or ((arr != 0) & (arr != 1)).any()
        ):
            raise ValueError(
                f"{name} must be a bool (or 0/1) mask, got dtype {arr.dtype} with other values; "
                "binarise score maps with a policy first"
            )
        arr = arr.astype(bool)
    return arr


def evaluate_image(pred: np.ndarray, gt: np.ndarray, protocol: Protocol | str = "irbench") -> ImageStats:
    """Compare a predicted mask with the ground truth under ``protocol``.

    Parameters
    ----------
    pred, gt : ndarray
        HxW bool (or 0/1) masks of the same shape, already at the protocol's evaluation resolution
        (see :meth:`Protocol.prepare`).
    protocol : Protocol or str
        Protocol or its name.

    Returns
    -------
    ImageStats
        The counts defined in the module docstring.
    """
    protocol = get_protocol(protocol)
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.ndim != 2 or pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} and ground-truth shape {gt.shape} must be equal and 2-D")
    size = protocol.eval_size
    if size is not None and pred.shape != (size, size):
        raise ValueError(
            f"protocol {protocol.name!r} evaluates at {size}x{size}, got masks of shape "
            f"{pred.shape}; call Protocol.prepare first"
        )
    pred, gt = _as_mask("pred", pred), _as_mask("gt", gt)
    m = match_components(pred, gt, protocol)
    g, p, pairs, false = m.gt, m.pred, m.pairs, m.false_alarm

    overlap = np.flatnonzero(pred & gt)
    inter = len(overlap)
    union = int(np.count_nonzero(pred)) + int(np.count_nonzero(gt)) - inter

    # co[t, q] = pixels shared by target t and predicted component q; member[t, q]: q is in R_t
    co = np.bincount(
        (g.labels.ravel()[overlap] - 1) * p.n + p.labels.ravel()[overlap] - 1, minlength=g.n * p.n
    ).reshape(g.n, p.n)
    member = co > 0
    member[pairs[:, 0], pairs[:, 1]] = True
    inter_t = member @ co.sum(axis=0)  # gt pixels inside the member components
    union_t = g.areas + member @ p.areas - co.sum(axis=1)  # |R_t|
    gt_b = bucket_of(g.areas)
    return ImageStats(
        inter=inter,
        union=union,
        n_pixels=int(gt.size),
        n_gt=g.n,
        n_matched=len(pairs),
        n_pred=p.n,
        fa_pixels=int(p.areas[false].sum()),
        niou_i=float(inter / union) if union else protocol.niou_empty,
        n_gt_b=_per_bucket(np.ones(g.n), gt_b),
        n_matched_b=_per_bucket(m.matched_gt.astype(float), gt_b),
        inter_b=_per_bucket(inter_t.astype(float), gt_b),
        union_b=_per_bucket(union_t.astype(float), gt_b),
        fa_pixels_b=_per_bucket(np.where(false, p.areas, 0).astype(float), bucket_of(p.areas)),
    )
