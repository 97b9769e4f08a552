"""Binarisation policies: each rule by hand, the sweep fit, names and parse errors."""

import numpy as np
import pytest

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


def test_names_params_and_flags():
    assert [parse_policy(t).name for t in ("fixed:0.5", " MINMAX:0.25 ", "adaptive", "meanstd:2", "fixed")] == [
        "fixed:0.5",
        "minmax:0.25",
        "adaptive",
        "meanstd:2",
        "fixed:0.5",
    ]
    assert parse_policy("fixed:0.3").params == {"threshold": 0.3}
    assert parse_policy("meanstd:-0.5").params == {"k": -0.5}
    assert parse_policy("adaptive").params == {}
    for text in ("fixed:0.5", "minmax:0.5", "adaptive", "meanstd:3"):
        pol = parse_policy(text)
        assert not pol.needs_fit and not pol.optimistic


def test_normalise_clips_fixed_and_min_maxes_the_others():
    s = np.array([[-1.0, 0.25], [0.5, 3.0]], np.float32)
    assert np.array_equal(parse_policy("fixed:0.5").normalise(s), np.array([[0, 0.25], [0.5, 1]], np.float32))
    expected = (s + 1) / 4
    for text in ("minmax:0.5", "adaptive", "meanstd:1", "sweep"):
        out = parse_policy(text).normalise(s)
        assert out.dtype == np.float32 and np.allclose(out, expected)
    with pytest.raises(ValueError, match="2-D"):
        parse_policy("adaptive").binarise(np.zeros(5))


def test_sweep_picks_the_iou_optimum_over_several_images():
    # image 1: target 0.8, clutter 0.5; image 2: target 0.4 (normalised 0.4), clutter 0.3
    gts, scores = [], []
    for target, clutter in ((0.8, 0.5), (0.4, 0.3)):
        gt = np.zeros((8, 8), bool)
        gt[1:3, 1:3] = True  # 4 target px
        score = np.zeros((8, 8), np.float32)
        score[gt] = target
        score[6, 6] = 1.0  # the max: 1 px clutter spike in both images
        score[5, 1:5] = clutter  # 4 px clutter
        gts.append(gt)
        scores.append(score)
    pol = parse_policy("sweep")
    with pytest.raises(ValueError, match="no image"):
        pol.fit_done()
    for s, g in zip(scores, gts):
        pol.fit_update(s, g)
    pol.fit_done()
    # t < 0.3: 8 target + 8 clutter + 2 spikes (IoU 8/18); 0.3 <= t < 0.4: 8 + 4 + 2 (8/14);
    # 0.4 <= t < 0.5: 4 + 4 + 2 (4/14); the lowest threshold of the best range is kept
    assert pol.threshold == pytest.approx(77 / 256)  # first k/256 >= 0.3 (float32 0.3 > 76/256)
    preds = [pol.binarise(s) for s in scores]
    inter = sum((p & g).sum() for p, g in zip(preds, gts))
    union = sum((p | g).sum() for p, g in zip(preds, gts))
    assert (inter, union) == (8, 14)
    assert pol.params == {"threshold": pol.threshold} and not pol.needs_fit
