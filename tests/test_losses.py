"""Losses of methods/deep/losses.py against hand-computed values, the Fig. 2 claim and gradient flow."""

from __future__ import annotations

import math

import pytest
import torch

from methods.deep.losses import (
    LOSSES,
    batch_soft_iou_loss,
    centroids,
    deep_supervision_loss,
    dice_loss,
    edge_target,
    get_loss,
    md_fa_loss,
    multiscale_loss,
    polar_location_loss,
    scale_weight,
    sls_loss,
    soft_iou_loss,
)


def _mask(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
    m = torch.zeros(1, 1, h, w, dtype=torch.float64)
    m[..., y0:y1, x0:x1] = 1.0
    return m


def test_iou_and_dice_hand_values() -> None:
    gt = _mask(8, 8, 0, 2, 0, 5)  # 10 px
    pred = _mask(8, 8, 0, 2, 0, 3)  # 6 px inside the target
    assert soft_iou_loss(pred, gt).item() == pytest.approx(1 - 6 / 10, abs=1e-6)
    assert dice_loss(pred, gt).item() == pytest.approx(1 - 12 / 16, abs=1e-6)
    # batch-global SoftIoU with smooth 1 over two images: (6 + 6 + 1) / (10 + 10 + 1)
    assert batch_soft_iou_loss(torch.cat([pred, pred]), torch.cat([gt, gt])).item() == pytest.approx(1 - 13 / 21)


def test_md_fa_hand_value() -> None:
    """2x2 image, one target pixel predicted 0.5 and one background pixel predicted 0.2:
    MD = 0.25 / 4, FA = 0.04 / 4."""
    prob = torch.tensor([[[[0.5, 0.2], [0.0, 0.0]]]])
    gt = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert md_fa_loss(prob, gt).item() == pytest.approx((0.25 + 0.04) / 4)
    assert md_fa_loss(prob, gt, 100.0, 1.0).item() == pytest.approx((100 * 0.25 + 0.04) / 4)
    assert md_fa_loss(prob, gt, 1.0, 10.0).item() == pytest.approx((0.25 + 10 * 0.04) / 4)
    assert get_loss("md-fa")(prob, gt, False).item() == pytest.approx(((prob - gt) ** 2).mean().item())


def test_scale_weight_is_eq3() -> None:
    # |A_p| = 6, |A_gt| = 10: Var = ((6 - 10) / 2)^2 = 4, w = (6 + 4) / (10 + 4)
    w = scale_weight(torch.tensor([6.0]), torch.tensor([10.0]), smooth=0.0)
    assert w.item() == pytest.approx(10 / 14)
    assert scale_weight(torch.tensor([7.0]), torch.tensor([7.0]), smooth=0.0).item() == pytest.approx(1.0)


def test_sls_hand_value_with_location() -> None:
    gt = _mask(8, 8, 2, 4, 2, 4)  # centroid (x, y) = (2.5, 2.5)
    pred = _mask(8, 8, 2, 4, 3, 5)  # centroid (3.5, 2.5); intersection 2, union 6
    iou = 2 / 6
    w = (4 + 0) / (4 + 0)
    dp, dg = math.hypot(3.5, 2.5), math.hypot(2.5, 2.5)
    loc = 1 - dg / dp + 4 / math.pi**2 * (math.atan2(2.5, 3.5) - math.pi / 4) ** 2
    assert sls_loss(pred, gt).item() == pytest.approx(1 - w * iou + loc, abs=1e-5)
    assert sls_loss(pred, gt, location=None).item() == pytest.approx(1 - iou, abs=1e-5)


def test_fig2_iou_dice_blind_to_scale_sls_is_not() -> None:
    """Fig. 2 top row: the same 60 % overlap at two scales gives one IoU and Dice loss, two SLS losses."""
    small_gt, small_p = _mask(64, 64, 10, 12, 10, 15), _mask(64, 64, 10, 12, 10, 13)  # 10 px, 6 px
    big_gt, big_p = _mask(64, 64, 10, 20, 10, 20), _mask(64, 64, 10, 20, 10, 16)  # 100 px, 60 px
    assert soft_iou_loss(small_p, small_gt).item() == pytest.approx(soft_iou_loss(big_p, big_gt).item(), abs=1e-6)
    assert soft_iou_loss(small_p, small_gt).item() == pytest.approx(0.4, abs=1e-6)
    assert dice_loss(small_p, small_gt).item() == pytest.approx(dice_loss(big_p, big_gt).item(), abs=1e-6)
    s_small = sls_loss(small_p, small_gt, location=None).item()
    s_big = sls_loss(big_p, big_gt, location=None).item()
    assert s_small == pytest.approx(1 - 0.6 * (6 + 4) / (10 + 4), abs=1e-5)
    assert s_big == pytest.approx(1 - 0.6 * (60 + 400) / (100 + 400), abs=1e-5)
    assert abs(s_small - s_big) > 0.1


def test_fig2_iou_dice_blind_to_location_sls_is_not() -> None:
    """Fig. 2 bottom row: the same shifted overlap at two image locations: equal IoU/Dice, different SLS."""

    def pair(y: int, x: int) -> tuple[torch.Tensor, torch.Tensor]:
        return _mask(64, 64, y, y + 4, x + 1, x + 5), _mask(64, 64, y, y + 4, x, x + 4)

    (p1, g1), (p2, g2) = pair(5, 40), pair(40, 5)
    assert soft_iou_loss(p1, g1).item() == pytest.approx(soft_iou_loss(p2, g2).item(), abs=1e-9)
    assert dice_loss(p1, g1).item() == pytest.approx(dice_loss(p2, g2).item(), abs=1e-9)
    assert abs(sls_loss(p1, g1).item() - sls_loss(p2, g2).item()) > 1e-3


def test_centroid_conventions() -> None:
    gt = _mask(4, 8, 1, 3, 4, 6)  # 4 px, columns 4-5, rows 1-2
    x, y = centroids(gt, "paper")
    assert (x.item(), y.item()) == pytest.approx((4.5, 1.5))
    xo, yo = centroids(gt, "official")  # mean over 32 px of (x / 8) * m and (y / 4) * m
    assert (xo.item(), yo.item()) == pytest.approx(((4 + 5) * 2 / 8 / 32, (1 + 2) * 2 / 4 / 32))
    with pytest.raises(ValueError, match="convention"):
        centroids(gt, "median")


def test_polar_location_is_zero_at_the_target() -> None:
    c = (torch.tensor([3.0]), torch.tensor([4.0]))
    assert polar_location_loss(c, c).item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("name", ["sls", "sls-official", "sls-s", "sls-l1", "sls-l2"])
def test_sls_variants_are_plain_iou_in_the_warm_up(name: str) -> None:
    gt, pred = _mask(8, 8, 0, 2, 0, 5), _mask(8, 8, 0, 2, 0, 3)
    loss = get_loss(name)
    assert loss(pred, gt, True).item() == pytest.approx(0.4, abs=1e-6)
    assert loss(pred, gt, False).item() != pytest.approx(0.4, abs=1e-3)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradients_reach_every_pixel_and_term(name: str) -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 16, 16, dtype=torch.float64, requires_grad=True)
    gt = torch.cat([_mask(16, 16, 3, 6, 4, 8), _mask(16, 16, 10, 12, 9, 14)])
    loss = get_loss(name)(torch.sigmoid(logits), gt, False)
    loss.backward()
    assert torch.isfinite(loss) and logits.grad is not None
    assert torch.isfinite(logits.grad).all() and (logits.grad.abs() > 0).float().mean() > 0.99


@pytest.mark.parametrize("location", ["polar", "l1", "l2"])
def test_location_term_alone_has_gradient(location: str) -> None:
    """The location term is differentiable on its own: with the IoU part removed, gradients still flow."""
    logits = torch.zeros(1, 1, 12, 12, dtype=torch.float64, requires_grad=True)
    prob = torch.sigmoid(logits)
    gt = _mask(12, 12, 2, 4, 7, 9)
    total = sls_loss(prob, gt, location=location) - sls_loss(prob, gt, location=None)
    total.backward()
    assert total.item() > 0 and logits.grad.abs().sum() > 0


def test_empty_images_are_finite() -> None:
    empty = torch.zeros(1, 1, 8, 8, requires_grad=True)
    for name in LOSSES:
        value = get_loss(name)(torch.sigmoid(empty - 20), torch.zeros(1, 1, 8, 8), False)
        assert torch.isfinite(value), name


def test_multiscale_eq8_uses_max_pooled_masks() -> None:
    gt = _mask(16, 16, 5, 6, 5, 6)  # one pixel: survives max pooling at every scale
    sides = [torch.nn.functional.max_pool2d(gt, 2**k) if k else gt for k in range(4)]
    perfect = multiscale_loss(sides, gt, gt, get_loss("iou"))
    assert perfect.item() == pytest.approx(0.0, abs=1e-5)
    wrong = [torch.zeros_like(s) for s in sides]
    # fused perfect (0) + four empty sides (1 each) over 5 terms; only supervised sides count
    assert multiscale_loss(wrong, gt, gt, get_loss("iou")).item() == pytest.approx(4 / 5, abs=1e-5)
    assert multiscale_loss(wrong, gt, gt, get_loss("iou"), supervised=[0]).item() == pytest.approx(1 / 2, abs=1e-5)
    with pytest.raises(ValueError, match="supervised"):
        multiscale_loss(sides, gt, gt, get_loss("iou"), supervised=[4])


def test_deep_supervision_and_edge() -> None:
    gt = _mask(8, 8, 2, 5, 2, 5)
    assert deep_supervision_loss([gt, torch.zeros_like(gt)], gt, get_loss("iou")).item() == pytest.approx(0.5, abs=1e-5)
    edge = edge_target(gt)
    assert edge.sum().item() == 5 * 5 - 1  # 5x5 dilation minus the 1-px erosion
    with pytest.raises(ValueError, match="outputs"):
        deep_supervision_loss([], gt, get_loss("iou"))


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="prob"):
        soft_iou_loss(torch.zeros(8, 8), torch.zeros(8, 8))
    with pytest.raises(ValueError, match="target"):
        dice_loss(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="Unknown loss"):
        get_loss("focal")
    with pytest.raises(ValueError, match="location"):
        sls_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), location="l3")
