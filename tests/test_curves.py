"""Pd-Fa, IoU and ROC curves: hand-worked values, brute-force agreement, monotone ROC, input errors."""

import numpy as np
import pytest

from benchmark.metrics import CurveMetrics, evaluate_image, get_protocol


def noisy_images(n=4, shape=(32, 32), seed=0):
    rng = np.random.default_rng(seed)
    gts, scores = [], []
    for _ in range(n):
        gt = np.zeros(shape, bool)
        gt[8:11, 8:11] = True
        score = rng.random(shape).astype(np.float32) * 0.6
        score[gt] = 0.9
        gts.append(gt)
        scores.append(score)
    return scores, gts


def test_curves_by_hand():
    scores, gts = noisy_images()
    curves = CurveMetrics("irbench", n_thresholds=8)
    for s, g in zip(scores, gts):
        curves.update(s, g)
    out = curves.compute()
    pd, fa = np.array(out["pd"]), np.array(out["fa"])
    assert out["thresholds"] == [k / 8 for k in range(8)]
    # threshold 0: the whole image is one component whose centroid is far from the target
    assert pd[0] == 0.0 and fa[0] == 1.0
    # thresholds 5/8 .. 7/8 lie above all clutter (< 0.6); the targets (0.9) survive all of them
    assert list(pd[5:]) == [1.0, 1.0, 1.0] and list(fa[5:]) == [0.0, 0.0, 0.0]
    assert out["iou"][0] == 9 / 1024 and out["iou"][5:] == [1.0, 1.0, 1.0]


def test_roc_and_iou_match_brute_force_and_roc_is_monotone():
    scores, gts = noisy_images()
    curves = CurveMetrics("irbench")
    for s, g in zip(scores, gts):
        curves.update(s, g)
    out = curves.compute()
    roc = out["roc"]
    assert len(roc["thresholds"]) == len(roc["tpr"]) == len(roc["fpr"]) == len(out["iou"]) == 256
    for k in (0, 64, 128, 153, 154, 200, 255):
        t = k / 256
        tp = sum(((s > t) & g).sum() for s, g in zip(scores, gts))
        fp = sum(((s > t) & ~g).sum() for s, g in zip(scores, gts))
        pos = sum(g.sum() for g in gts)
        assert roc["tpr"][k] == pytest.approx(tp / pos)
        assert roc["fpr"][k] == pytest.approx(fp / sum((~g).sum() for g in gts))
        assert out["iou"][k] == pytest.approx(tp / (pos + fp))
    tpr, fpr = np.array(roc["tpr"]), np.array(roc["fpr"])
    assert np.all(np.diff(tpr) <= 0) and np.all(np.diff(fpr) <= 0)
    assert tpr[0] == fpr[0] == 1.0 and tpr[-1] == fpr[-1] == 0.0
    # clutter < 0.6 < 154/256; targets 0.9 > 230/256
    assert fpr[154] == 0.0 and tpr[230] == 1.0 and tpr[231] == 0.0


@pytest.mark.parametrize("name", ["irbench", "basicirstd", "mshnet"])
def test_target_curve_equals_evaluate_image_at_every_threshold(name):
    proto = get_protocol(name)
    rng = np.random.default_rng(1)
    scores, gts = [], []
    for _ in range(3):
        gt = np.zeros((256, 256), bool)
        score = (rng.random((256, 256)) ** 8).astype(np.float32) * 0.7  # sparse clutter
        for r, c, s in rng.integers(4, 240, size=(4, 3)):
            gt[r : r + s % 7 + 1, c : c + s % 5 + 1] = True
            score[r : r + s % 7 + 1, c : c + s % 5 + 1] = rng.uniform(0.3, 1.0)
        scores.append(score)
        gts.append(gt)
    curves = CurveMetrics(proto, n_thresholds=16)
    for s, g in zip(scores, gts):
        curves.update(s, g)
    out = curves.compute()
    for k, t in enumerate(out["thresholds"]):
        stats = [evaluate_image(s > t, g, proto) for s, g in zip(scores, gts)]
        assert out["pd"][k] == sum(x.n_matched for x in stats) / sum(x.n_gt for x in stats)
        assert out["fa"][k] == sum(x.fa_pixels for x in stats) / sum(x.n_pixels for x in stats)


def test_empty_maps_and_reset():
    curves = CurveMetrics("basicirstd", n_thresholds=4)
    gt = np.zeros((16, 16), bool)
    gt[3:5, 3:5] = True
    curves.update(np.zeros((16, 16), np.float32), gt)
    out = curves.compute()
    assert out["pd"] == [0.0] * 4 and out["fa"] == [0.0] * 4
    assert out["roc"]["tpr"] == [0.0] * 4 and out["roc"]["fpr"] == [0.0] * 4
    curves.reset()
    curves.update(np.where(gt, 1.0, 0.0), gt)
    assert curves.compute()["pd"] == [1.0] * 4


def test_curve_inputs_are_validated():
    with pytest.raises(ValueError, match="n_thresholds"):
        CurveMetrics("irbench", n_thresholds=1)
    with pytest.raises(ValueError, match="n_thresholds"):
        CurveMetrics("irbench", n_thresholds=True)
    curves = CurveMetrics("irbench")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        curves.update(np.full((4, 4), 2.0), np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match="must be equal"):
        curves.update(np.zeros((4, 4)), np.zeros((4, 5), bool))
    with pytest.raises(ValueError, match="prepare"):
        CurveMetrics("mshnet").update(np.zeros((512, 512)), np.zeros((512, 512), bool))
