"""Binarisation policies and curves."""

import numpy as np
import pytest

from benchmark.metrics import CurveMetrics
from benchmark.policies import parse_policy


def ramp():
    return np.arange(16, dtype=np.float32).reshape(4, 4)  # 0..15


def test_fixed_minmax_adaptive_meanstd_by_hand():
    s = ramp()
    assert parse_policy("fixed:0.5").binarise(s / 15).sum() == 8  # values > 0.5: 8..15
    assert parse_policy("minmax:0.5").binarise(s).sum() == 8
    assert parse_policy("minmax").name == "minmax:0.5"
    # adaptive: max(0.7*15, 7.5 + 0.5*4.61) = max(10.5, 9.81) = 10.5 -> 11..15
    assert parse_policy("adaptive").binarise(s).sum() == 5
    # meanstd:1 -> > 7.5 + 4.61 = 12.11 -> 13, 14, 15
    assert parse_policy("meanstd:1").binarise(s).sum() == 3


def test_constant_maps_give_empty_masks():
    flat = np.full((8, 8), 3.0, np.float32)
    for name in ("minmax:0.5", "adaptive", "meanstd:0.5"):
        assert not parse_policy(name).binarise(flat).any()


def test_sweep_fits_the_best_iou_threshold_and_is_flagged():
    gt = np.zeros((10, 10), bool)
    gt[2:4, 2:4] = True
    score = np.where(gt, 0.9, 0.0).astype(np.float32)
    score[7, 7] = 0.6  # clutter below the targets
    pol = parse_policy("sweep")
    assert pol.needs_fit and pol.optimistic
    with pytest.raises(RuntimeError, match="fitted"):
        pol.binarise(score)
    pol.fit_update(score, gt)
    pol.fit_done()
    assert 0.6 / 0.9 <= pol.threshold < 1.0
    assert (pol.binarise(score) == gt).all()
    assert "fitted threshold" in pol.name


@pytest.mark.parametrize("bad", ["fixed:abc", "meanstd", "minmax:1.5", "otsu", "fixed:nan"])
def test_bad_policy_strings_raise_clear_errors(bad):
    with pytest.raises(ValueError, match="olicy"):
        parse_policy(bad)


def test_curves_by_hand_and_roc_matches_brute_force():
    rng = np.random.default_rng(0)
    gts, scores = [], []
    for _ in range(4):
        gt = np.zeros((32, 32), bool)
        gt[8:11, 8:11] = True
        score = rng.random((32, 32)).astype(np.float32) * 0.6
        score[gt] = 0.9
        gts.append(gt)
        scores.append(score)
    curves = CurveMetrics("irbench", n_thresholds=8)
    for s, g in zip(scores, gts):
        curves.update(s, g)
    out = curves.compute()
    pd, fa = np.array(out["pd"]), np.array(out["fa"])
    # threshold 0: the whole image is one component whose centroid is far from the target
    assert pd[0] == 0.0 and fa[0] == 1.0
    # threshold 5/8 lies above all clutter (< 0.6) and below the targets (0.9)
    assert pd[5] == 1.0 and fa[5] == 0.0
    roc = out["roc"]
    for k in (0, 64, 128, 200):
        t = k / 256
        tp = sum(((s > t) & g).sum() for s, g in zip(scores, gts))
        fp = sum(((s > t) & ~g).sum() for s, g in zip(scores, gts))
        assert roc["tpr"][k] == pytest.approx(tp / sum(g.sum() for g in gts))
        assert roc["fpr"][k] == pytest.approx(fp / sum((~g).sum() for g in gts))
