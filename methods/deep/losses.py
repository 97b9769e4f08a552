"""Segmentation losses of the deep IRSTD detectors: soft IoU, Dice and the Scale and Location Sensitive loss.

All losses take probabilities ``prob`` and a 0/1 ``target``, both ``(N, 1, H, W)`` float tensors, and return a
scalar. Sets are soft: ``|A_p| = sum(prob)``, ``|A_p ∩ A_gt| = sum(prob * target)``.

SLS (Liu et al., CVPR 2024, Eq. 1-5), per image, averaged over the batch:

* ``L_S = 1 - w * IoU`` with ``w = (min(|A_p|,|A_gt|) + Var) / (max(|A_p|,|A_gt|) + Var)`` and ``Var`` the
  (population) variance of the two scalars, ``((|A_p| - |A_gt|) / 2)^2`` (Eq. 3);
* ``L_L = (1 - min(d_p, d_gt) / max(d_p, d_gt)) + 4/pi^2 (theta_p - theta_gt)^2`` (Eq. 5) with ``(d, theta)`` the
  polar coordinates (Eq. 4) of the centroid.

Two centroid conventions, selected by the loss name:

* ``sls`` (the paper): the centroid is the mean pixel coordinate of the mass, ``sum(x * p) / sum(p)``, in pixel
  units (x = column, y = row, origin at the top-left pixel). ``theta = atan2(y, x)``, equal to
  ``arctan(y / x)`` on the image quadrant and defined at ``x = 0``. The location term is zero for images
  without targets (no ground-truth centroid exists).
* ``sls-official`` (the official code's behaviour): coordinates are
  normalised to [0, 1) by the width and height and the "centroid" is the mean over all H*W pixels of
  ``coordinate * p`` (not divided by the mass), so it shrinks towards the origin with the target's size;
  ``w`` and the IoU use no smoothing (1e-12 guards 0/0).

Every SLS variant is the plain soft IoU inside the warm-up epochs (``warm=True``), as the official loss is:
the location term's gradient is ~1/|A_p| per pixel against ~|A_gt|/|A_p|^2 for the IoU's, so from a diffuse
initial prediction it moves the centroid instead of shrinking the prediction, and training from scratch
with SLS alone stalls (MSHNet on ``synth``, crop 128: validation IoU 0.009 after 675 SLS steps, against
0.31 after 100 IoU + 200 SLS steps).

Ablation variants (paper Tables 4-5): ``sls-s`` (``L_S`` alone), ``sls-l1`` / ``sls-l2`` (``L_S`` plus the
L1 / L2 distance between the centroids, coordinates normalised by the image size so the term is O(1)).
``iou`` is ``L_S`` without ``w`` (per-image soft IoU), ``iou-batch`` the batch-global SoftIoU with smooth 1
of DNANet/BasicIRSTD, ``dice`` the per-image soft Dice loss, ``md-fa`` MDvsFA's squared-error data term.

Every term is built from smooth operations (sums, ratios with an epsilon, ``min``/``max`` of two values,
``sqrt`` with an epsilon, ``atan2`` of an offset point), so gradients reach the prediction through every
term; no ``torch.where`` branch selects values by the prediction (MSHNet#5 reports one in the official
location loss).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from methods.names import Registry

__all__ = [
    "LOSSES",
    "EPS",
    "soft_iou_loss",
    "batch_soft_iou_loss",
    "dice_loss",
    "md_fa_loss",
    "scale_weight",
    "centroids",
    "polar_location_loss",
    "distance_location_loss",
    "sls_loss",
    "get_loss",
    "multiscale_loss",
    "deep_supervision_loss",
    "edge_target",
    "isnet_loss",
]

EPS = 1e-6
LossFn = Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor]


def _check(prob: torch.Tensor, target: torch.Tensor) -> None:
    if prob.dim() != 4 or prob.shape[1] != 1:
        raise ValueError(f"parameter 'prob' must have shape (N, 1, H, W), got {tuple(prob.shape)}")
    if target.shape != prob.shape:
        raise ValueError(
            f"parameter 'target' must have the shape of prob {tuple(prob.shape)}, got {tuple(target.shape)}"
        )


def _sums(prob: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image ``(|A_p ∩ A_gt|, |A_p|, |A_gt|)``."""
    return (prob * target).sum((1, 2, 3)), prob.sum((1, 2, 3)), target.sum((1, 2, 3))


def soft_iou_loss(prob: torch.Tensor, target: torch.Tensor, smooth: float = EPS) -> torch.Tensor:
    """``1 - IoU`` per image (Eq. 2), averaged over the batch."""
    _check(prob, target)
    inter, p, g = _sums(prob, target)
    return (1 - (inter + smooth) / (p + g - inter + smooth)).mean()


def batch_soft_iou_loss(prob: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """``1 - IoU`` over the whole batch with ``smooth`` added to both sums (the DNANet/BasicIRSTD SoftIoU)."""
    _check(prob, target)
    inter = (prob * target).sum()
    return 1 - (inter + smooth) / (prob.sum() + target.sum() - inter + smooth)


def dice_loss(prob: torch.Tensor, target: torch.Tensor, smooth: float = EPS) -> torch.Tensor:
    """``1 - 2|A_p ∩ A_gt| / (|A_p| + |A_gt|)`` per image, averaged over the batch."""
    _check(prob, target)
    inter, p, g = _sums(prob, target)
    return (1 - (2 * inter + smooth) / (p + g + smooth)).mean()


def md_fa_loss(
    prob: torch.Tensor, target: torch.Tensor, md_weight: float = 1.0, fa_weight: float = 1.0
) -> torch.Tensor:
    """MDvsFA's data term (Wang et al., ICCV 2019): ``md_weight * MD + fa_weight * FA`` with
    ``MD = mean((p - t)^2 * t)`` (missed target pixels) and ``FA = mean((p - t)^2 * (1 - t))`` (false alarms),
    means over every pixel of the batch; with unit weights it is the mean squared error."""
    _check(prob, target)
    err = (prob - target) ** 2
    return md_weight * (err * target).mean() + fa_weight * (err * (1 - target)).mean()


def scale_weight(pred_area: torch.Tensor, gt_area: torch.Tensor, smooth: float = EPS) -> torch.Tensor:
    """The scale weight ``w`` of Eq. 3, element-wise; ``Var`` is the variance of the two areas."""
    var = ((pred_area - gt_area) / 2) ** 2
    return (torch.minimum(pred_area, gt_area) + var + smooth) / (torch.maximum(pred_area, gt_area) + var + smooth)


def centroids(mass: torch.Tensor, convention: str = "paper") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image centroid ``(x, y)`` of a ``(N, 1, H, W)`` mass.

    Parameters
    ----------
    mass : tensor
        Probabilities or a 0/1 mask.
    convention : ``"paper"`` or ``"official"``
        ``paper``: ``sum(x * m) / sum(m)`` in pixels (0 for an empty image). ``official``: ``mean(x / W * m)``
        over all pixels, likewise for y with H.
    """
    n, _, h, w = mass.shape
    xs = torch.arange(w, dtype=mass.dtype, device=mass.device).view(1, 1, 1, w)
    ys = torch.arange(h, dtype=mass.dtype, device=mass.device).view(1, 1, h, 1)
    if convention == "paper":
        total = mass.sum((1, 2, 3)) + EPS
        return (mass * xs).sum((1, 2, 3)) / total, (mass * ys).sum((1, 2, 3)) / total
    if convention == "official":
        return (mass * xs / w).mean((1, 2, 3)), (mass * ys / h).mean((1, 2, 3))
    raise ValueError(f"parameter 'convention' must be 'paper' or 'official', got {convention!r}")


def polar_location_loss(
    cp: tuple[torch.Tensor, torch.Tensor], cg: tuple[torch.Tensor, torch.Tensor], smooth: float = EPS
) -> torch.Tensor:
    """Eq. 4-5 per image: ``1 - min(d_p, d_gt) / max(d_p, d_gt) + 4/pi^2 (theta_p - theta_gt)^2``."""
    (xp, yp), (xg, yg) = cp, cg
    dp = torch.sqrt(xp * xp + yp * yp + smooth)
    dg = torch.sqrt(xg * xg + yg * yg + smooth)
    tp = torch.atan2(yp, xp + smooth)
    tg = torch.atan2(yg, xg + smooth)
    return 1 - torch.minimum(dp, dg) / torch.maximum(dp, dg) + 4 / math.pi**2 * (tp - tg) ** 2


def distance_location_loss(
    cp: tuple[torch.Tensor, torch.Tensor], cg: tuple[torch.Tensor, torch.Tensor], norm: str
) -> torch.Tensor:
    """The L1 or L2 distance between two centroids (Table 5's ``L_L1`` / ``L_L2``), per image."""
    dx, dy = cp[0] - cg[0], cp[1] - cg[1]
    if norm == "l1":
        return torch.sqrt(dx * dx + EPS) + torch.sqrt(dy * dy + EPS)
    if norm == "l2":
        return torch.sqrt(dx * dx + dy * dy + EPS)
    raise ValueError(f"parameter 'norm' must be 'l1' or 'l2', got {norm!r}")


def sls_loss(
    prob: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: bool = True,
    location: str | None = "polar",
    convention: str = "paper",
) -> torch.Tensor:
    """The SLS loss ``L_S + L_L`` (Eq. 1) and its ablations, per image, averaged over the batch.

    Parameters
    ----------
    prob, target : (N, 1, H, W) tensors
    weight : bool
        Use the scale weight ``w`` (False gives the plain IoU loss).
    location : ``"polar"`` (Eq. 5), ``"l1"``, ``"l2"`` or None (no location term)
    convention : ``"paper"`` or ``"official"`` (see the module docstring)
    """
    _check(prob, target)
    # the official code adds nothing; 1e-12 only guards 0/0 for an empty prediction on an empty image
    smooth = EPS if convention == "paper" else 1e-12
    inter, p, g = _sums(prob, target)
    iou = (inter + smooth) / (p + g - inter + smooth)
    w = scale_weight(p, g, smooth) if weight else torch.ones_like(iou)
    loss = 1 - w * iou
    if location is None:
        return loss.mean()
    cp, cg = centroids(prob, convention), centroids(target, convention)
    if location == "polar":
        loc = polar_location_loss(cp, cg, 1e-8 if convention == "official" else EPS)
    elif location in ("l1", "l2"):
        h, w_ = prob.shape[-2:]
        scale = (1.0, 1.0) if convention == "official" else (float(w_), float(h))
        loc = distance_location_loss(
            (cp[0] / scale[0], cp[1] / scale[1]), (cg[0] / scale[0], cg[1] / scale[1]), location
        )
    else:
        raise ValueError(f"parameter 'location' must be 'polar', 'l1', 'l2' or None, got {location!r}")
    if convention == "paper":
        loc = loc * (g > 0).to(loc.dtype)  # no ground-truth centroid in an empty image
    return (loss + loc).mean()


def _sls_variant(location: str | None = "polar", convention: str = "paper") -> LossFn:
    """An SLS-family loss that is the plain soft IoU (same convention) inside the warm-up epochs."""

    def loss(prob: torch.Tensor, target: torch.Tensor, warm: bool) -> torch.Tensor:
        if warm:
            return sls_loss(prob, target, weight=False, location=None, convention=convention)
        return sls_loss(prob, target, location=location, convention=convention)

    return loss


LOSSES: Registry[tuple[LossFn, str]] = Registry("loss")  # name -> (fn(prob, target, warm), description)
for _name, _entry in {
    "sls": (_sls_variant(), "SLS loss as the paper defines it (Eq. 1-5)"),
    "sls-official": (
        _sls_variant(convention="official"),
        "SLS as the official code computes it: normalised-coordinate centroids over all pixels",
    ),
    "sls-s": (_sls_variant(None), "scale sensitive loss L_S only (Table 4)"),
    "sls-l1": (_sls_variant("l1"), "L_S + L1 centroid distance (Table 5)"),
    "sls-l2": (_sls_variant("l2"), "L_S + L2 centroid distance (Table 5)"),
    "iou": (lambda p, t, warm: soft_iou_loss(p, t), "per-image soft IoU loss (L_S without w)"),
    "iou-batch": (lambda p, t, warm: batch_soft_iou_loss(p, t), "batch-global SoftIoU, smooth 1 (DNANet)"),
    "dice": (lambda p, t, warm: dice_loss(p, t), "per-image soft Dice loss"),
    "md-fa": (
        lambda p, t, warm: md_fa_loss(p, t),
        "squared error as miss-detection + false-alarm terms (MDvsFA weights them per generator)",
    ),
}.items():
    LOSSES.add(_name, _entry)


def get_loss(name: str) -> LossFn:
    """The loss ``name`` as ``fn(prob, target, warm) -> scalar`` (``warm``: inside the warm-up epochs); an
    unknown name raises :class:`~methods.names.UnknownNameError` listing the losses."""
    return LOSSES[name][0]


def multiscale_loss(
    sides: Sequence[torch.Tensor],
    fused: torch.Tensor,
    target: torch.Tensor,
    loss: LossFn,
    warm: bool = False,
    supervised: Sequence[int] = (0, 1, 2, 3),
) -> torch.Tensor:
    """Eq. 8: the mean of ``loss`` over the fused output and the supervised side outputs.

    Parameters
    ----------
    sides : probabilities ``[p_0, p_1, ...]``; ``p_k`` is at 1/2^k of the input size (MSHNet ``mask0..3``;
        the paper's ``p_4, p_3, p_2, p_1``).
    fused : the fused full-size probability ``p``.
    target : full-size 0/1 mask; side ``k`` is compared with it max-pooled by 2^k.
    supervised : indices of the side outputs that are supervised (Table 6).
    """
    if any(not 0 <= k < len(sides) for k in supervised):
        raise ValueError(f"parameter 'supervised' must index the {len(sides)} side outputs, got {list(supervised)}")
    terms = [loss(fused, target, warm)]
    for k in supervised:
        t = F.max_pool2d(target, 2**k) if k else target
        terms.append(loss(sides[k], t, warm))
    return torch.stack(terms).mean()


def deep_supervision_loss(
    outputs: Sequence[torch.Tensor], target: torch.Tensor, loss: LossFn, warm: bool = False
) -> torch.Tensor:
    """Mean of ``loss`` over full-size deep-supervision outputs (DNANet ``final1..final4``)."""
    if not outputs:
        raise ValueError("parameter 'outputs' must hold at least one output")
    return torch.stack([loss(o, target, warm) for o in outputs]).mean()


def edge_target(target: torch.Tensor) -> torch.Tensor:
    """The edge mask of a 0/1 mask: its 3x3 morphological gradient (dilation minus erosion)."""
    dil = F.max_pool2d(target, 3, 1, 1)
    ero = -F.max_pool2d(-target, 3, 1, 1)
    return dil - ero


def isnet_loss(
    prob: torch.Tensor, edge: torch.Tensor, target: torch.Tensor, loss: LossFn, warm: bool = False
) -> torch.Tensor:
    """ISNet's recipe: ``loss(out) + 10 * BCE(edge, edge_gt) + SoftIoU(edge, edge_gt)``."""
    egt = edge_target(target)
    return (
        loss(prob, target, warm) + 10 * F.binary_cross_entropy(edge.clamp(EPS, 1 - EPS), egt) + soft_iou_loss(edge, egt)
    )
