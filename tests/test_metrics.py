"""Hand-worked metric cases; each protocol quirk is triggered and the protocols differ exactly there."""

import numpy as np
import pytest

from benchmark.metrics import BUCKETS, DetectionMetrics, detection_metrics, evaluate_image, get_protocol


def blank(shape=(32, 32)):
    return np.zeros(shape, dtype=bool)


def square(mask, r, c, size):
    mask[r:r + size, c:c + size] = True
    return mask


def test_iou_niou_pd_fa_by_hand():
    gt = square(blank(), 5, 5, 3)  # 9 px target, centroid (6, 6)
    pred = square(blank(), 6, 6, 3)  # overlaps 4 px, centroid (7, 7): distance 1.41 < 3
    square(pred, 20, 20, 2)  # a 4 px false alarm
    s = evaluate_image(pred, gt, "irbench")
    assert (s.inter, s.union, s.n_gt, s.n_matched, s.n_pred, s.fa_pixels) == (4, 9 + 13 - 4, 1, 1, 2, 4)
    m = detection_metrics([pred], [gt], "irbench")
    assert m["iou"] == pytest.approx(4 / 18)
    assert m["niou"] == pytest.approx(4 / 18)
    assert m["pd"] == 1.0 and m["fa"] == pytest.approx(4 / 1024)
    assert m["precision"] == 0.5 and m["f1"] == pytest.approx(2 / 3)


def test_distance_gate_is_strict_and_eight_connected():
    gt = square(blank(), 10, 10, 1)
    pred = square(blank(), 10, 13, 1)  # exactly 3 px away: not matched (< 3 required)
    assert evaluate_image(pred, gt).n_matched == 0
    diag = blank()
    diag[5, 5] = diag[6, 6] = True  # diagonal neighbours form one 8-connected component
    assert evaluate_image(diag, blank()).n_pred == 1


def test_greedy_takes_the_first_candidate_in_label_order_not_the_nearest():
    gt = blank()
    gt[4, 10] = True
    pred = blank()
    pred[2, 10] = True  # label 1 (raster order): 2 px away
    pred[5, 11] = pred[5, 12] = True  # label 2: centroid (5, 11.5), 1.8 px away: nearer, but second
    greedy, hungarian = evaluate_image(pred, gt, "basicirstd"), evaluate_image(pred, gt, "irbench")
    assert greedy.n_matched == hungarian.n_matched == 1
    assert greedy.fa_pixels == 2  # greedy kept label 1, so the 2 px component is the false alarm
    assert hungarian.fa_pixels == 1  # the optimal assignment keeps the nearer component


def test_hungarian_beats_greedy_on_crossed_pairs():
    gt = blank()
    gt[10, 10] = True  # GT 1 (label 1)
    gt[10, 14] = True  # GT 2 (label 2)
    pred = blank()
    pred[9, 12] = True  # pred 1 (row 9 first): 2.24 px from both GTs
    pred[11, 8] = True  # pred 2: 2.83 px from GT 1, 6.3 px from GT 2
    # greedy: GT 1 takes pred 1 (first fit), GT 2 finds nothing -> 1 match.
    # Hungarian: GT 1 <- pred 2, GT 2 <- pred 1 -> 2 matches.
    assert evaluate_image(pred, gt, "basicirstd").n_matched == 1
    assert evaluate_image(pred, gt, "irbench").n_matched == 2
    assert evaluate_image(pred, gt, "basicirstd").fa_pixels == 1
    assert evaluate_image(pred, gt, "irbench").fa_pixels == 0


def test_area_value_false_alarm_bug_only_in_mshnet():
    gt = square(blank((256, 256)), 50, 50, 2)  # 4 px target
    pred = square(blank((256, 256)), 50, 50, 2)  # matched, area 4
    square(pred, 150, 150, 2)  # unmatched, also area 4: dropped by the area-by-value bug
    square(pred, 200, 200, 3)  # unmatched, area 9: counted everywhere
    assert evaluate_image(pred, gt, "mshnet").fa_pixels == 9
    assert evaluate_image(pred, gt, "basicirstd").fa_pixels == 13
    assert evaluate_image(pred, gt, "irbench").fa_pixels == 13


def test_mshnet_protocol_resizes_to_256_and_normalises_by_256_squared():
    proto = get_protocol("mshnet")
    gt = square(blank((512, 512)), 100, 100, 4)  # 16 px at 512 -> 4 px at 256
    score = np.zeros((512, 512), np.float32)
    score[300:304, 300:304] = 1.0  # 16 px false alarm -> 4 px at 256
    s_score, s_gt = proto.prepare(score, gt)
    assert s_score.shape == s_gt.shape == (256, 256) and s_gt.sum() == 4
    acc = DetectionMetrics(proto)
    acc.update(s_score > 0.5, s_gt)
    m = acc.compute()
    assert m["fa"] == pytest.approx(4 / 256**2) and m["pd"] == 0.0
    native = detection_metrics([score > 0.5], [gt], "basicirstd")
    assert native["fa"] == pytest.approx(16 / 512**2)


def test_niou_of_an_empty_image_depends_on_the_protocol():
    assert evaluate_image(blank(), blank(), "irbench").niou == 1.0
    assert evaluate_image(blank(), blank(), "basicirstd").niou == 0.0
    assert evaluate_image(blank(), blank(), "mshnet").niou == 0.0


def test_scale_buckets_by_hand_and_fa_adds_up():
    gt, pred = blank((64, 64)), blank((64, 64))
    square(gt, 2, 2, 3)  # 9 px -> (0,10]
    square(gt, 20, 2, 5)  # 25 px -> (10,40]
    square(gt, 40, 40, 8)  # 64 px -> (40,inf)
    square(pred, 2, 2, 3)  # exact small target
    square(pred, 20, 2, 4)  # 16 of the 25 px
    square(pred, 2, 40, 2)  # false alarm 4 px -> (0,10]
    square(pred, 20, 40, 4)  # false alarm 16 px -> (10,40]
    s = evaluate_image(pred, gt, "irbench")
    assert s.n_gt_b == [1, 1, 1] and s.n_matched_b == [1, 1, 0]
    assert s.inter_b == [9, 16, 0] and s.union_b == [9, 25, 64]
    assert s.fa_pixels_b == [4, 16, 0] and sum(s.fa_pixels_b) == s.fa_pixels
    m = detection_metrics([pred], [gt])
    assert m["scales"]["(0,10]"]["iou"] == 1.0 and m["scales"]["(10,40]"]["iou"] == pytest.approx(16 / 25)
    assert m["scales"]["(40,inf)"]["pd"] == 0.0
    assert sum(m["scales"][b]["fa"] for b in BUCKETS) == pytest.approx(m["fa"])
    assert [m["scales"][b]["n_targets"] for b in BUCKETS] == [1, 1, 1]


def test_bucket_iou_includes_overlapping_components():
    gt, pred = blank(), blank()
    square(gt, 10, 10, 3)  # 9 px target
    square(pred, 10, 12, 4)  # overlaps 3 px; centroid (11.5, 13.5) is 2.9 px away -> matched
    s = evaluate_image(pred, gt)
    assert s.inter_b[0] == 3 and s.union_b[0] == 9 + 16 - 3


def test_accumulator_reset_and_shape_errors():
    acc = DetectionMetrics("basicirstd")
    acc.update(square(blank(), 1, 1, 2), square(blank(), 1, 1, 2))
    acc.reset()
    assert acc.compute()["n_images"] == 0
    with pytest.raises(ValueError, match="shape"):
        acc.update(blank((4, 4)), blank((5, 5)))
    with pytest.raises(KeyError, match="Available: irbench"):
        get_protocol("nope")
