"""``basicirstd`` Pd/Fa/IoU/nIoU against the independent ``pyirstdmetrics`` package, on perturbed masks."""

import numpy as np
import pytest
from scipy import ndimage

from benchmark.datasets import read_mask
from benchmark.metrics import detection_metrics

pim = pytest.importorskip("py_irstd_metrics")


def perturb(gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible prediction: dilate/erode/shift the truth, drop some targets, add random blobs."""
    pred = gt.copy()
    op = rng.integers(0, 4)
    if op == 0:
        pred = ndimage.binary_dilation(pred, iterations=int(rng.integers(1, 3)))
    elif op == 1:
        pred = ndimage.binary_erosion(pred)
    elif op == 2:
        pred = np.roll(pred, tuple(rng.integers(-3, 4, size=2)), axis=(0, 1))
    labels, n = ndimage.label(pred, structure=np.ones((3, 3)))
    for k in range(1, n + 1):
        if rng.random() < 0.25:
            pred[labels == k] = False
    h, w = gt.shape
    for _ in range(int(rng.integers(0, 6))):
        r, c, s = rng.integers(0, h - 4), rng.integers(0, w - 4), int(rng.integers(1, 4))
        pred[r : r + s, c : c + s] = True
    return pred


def reference(preds, gts):
    pdfa = pim.ProbabilityDetectionAndFalseAlarmRate(num_bins=1, distance_threshold=3)
    cm = pim.CMMetrics(
        num_bins=1,
        threshold=0.5,
        metric_handlers={
            "iou": pim.IoUHandler(with_dynamic=False, with_binary=True, sample_based=False),
            "niou": pim.IoUHandler(with_dynamic=False, with_binary=True, sample_based=True),
        },
    )
    for pred, gt in zip(preds, gts):
        prob = pred.astype(np.float64)
        pdfa.update(prob, gt)
        cm.update(prob, gt)
    r, c = pdfa.get(), cm.get()
    return {
        "pd": float(np.ravel(r["probability_detection"])[0]),
        "fa": float(np.ravel(r["false_alarm"])[0]),
        "iou": float(c["iou"]["binary"]),
        "niou": float(c["niou"]["binary"]),
    }


def check(gts, seed):
    rng = np.random.default_rng(seed)
    preds = [perturb(g, rng) for g in gts]
    ours = detection_metrics(preds, gts, "basicirstd")
    ref = reference(preds, gts)
    for key in ("pd", "fa", "iou", "niou"):
        assert ours[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12), key


def test_agrees_on_synthetic_masks():
    rng = np.random.default_rng(0)
    gts = []
    for _ in range(25):
        gt = np.zeros((96, 128), bool)
        for _ in range(rng.integers(1, 5)):
            r, c, s = rng.integers(2, 88), rng.integers(2, 120), int(rng.integers(1, 7))
            gt[r : r + s, c : c + s] = True
        gts.append(gt)
    check(gts, 1)


def test_agrees_on_real_irstd1k_masks(shared_data):
    root = shared_data / "IRSTD-1k"
    ids = (root / "test.txt").read_text().split()[:30]
    gts = [read_mask(root / "IRSTD1k_Label" / f"{i}.png") for i in ids]
    check(gts, 2)
