"""Hand-worked metric cases; each protocol quirk is triggered and the protocols differ exactly there."""

import numpy as np
import pytest

from benchmark.metrics import BUCKETS, DetectionMetrics, detection_metrics, evaluate_image, get_protocol


def blank(shape=(32, 32)):
    return np.zeros(shape, dtype=bool)


def square(mask, r, c, size):
    mask[r : r + size, c : c + size] = True
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
    assert evaluate_image(blank(), blank(), "irbench").niou_i == 1.0
    assert evaluate_image(blank(), blank(), "basicirstd").niou_i == 0.0
    assert evaluate_image(blank((256, 256)), blank((256, 256)), "mshnet").niou_i == 0.0
    # an empty image with a false alarm scores 0 everywhere
    assert evaluate_image(square(blank(), 3, 3, 2), blank(), "irbench").niou_i == 0.0
    # dataset nIoU = plain mean over images: (1 + 4/18) / 2 under irbench, (0 + 4/18) / 2 under basicirstd
    gt, pred = square(blank(), 5, 5, 3), square(square(blank(), 6, 6, 3), 20, 20, 2)
    assert detection_metrics([blank(), pred], [blank(), gt], "irbench")["niou"] == pytest.approx((1 + 4 / 18) / 2)
    assert detection_metrics([blank(), pred], [blank(), gt], "basicirstd")["niou"] == pytest.approx(2 / 18)


def test_scale_buckets_by_hand_and_fa_adds_up():
    gt, pred = blank((64, 64)), blank((64, 64))
    square(gt, 2, 2, 3)  # 9 px -> (0,10]
    square(gt, 20, 2, 5)  # 25 px -> (10,40]
    square(gt, 40, 40, 8)  # 64 px -> (40,inf)
    square(pred, 2, 2, 3)  # exact small target
    square(pred, 20, 2, 4)  # 16 of the 25 px
    square(pred, 2, 40, 2)  # false alarm 4 px -> (0,10]
    square(pred, 20, 40, 4)  # false alarm 16 px -> (10,40]
    square(pred, 50, 2, 7)  # false alarm 49 px -> (40,inf)
    s = evaluate_image(pred, gt, "irbench")
    assert s.n_gt_b == (1, 1, 1) and s.n_matched_b == (1, 1, 0)
    assert s.inter_b == (9, 16, 0) and s.union_b == (9, 25, 64)
    assert s.fa_pixels_b == (4, 16, 49) and s.fa_pixels == 69
    m = detection_metrics([pred], [gt])
    assert m["scales"]["(0,10]"]["iou"] == 1.0 and m["scales"]["(10,40]"]["iou"] == pytest.approx(16 / 25)
    assert m["scales"]["(40,inf)"]["pd"] == 0.0 and m["scales"]["(40,inf)"]["fa"] == pytest.approx(49 / 64**2)
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


def test_hungarian_prefers_more_pairs_over_a_shorter_single_pair():
    gt = blank()
    gt[10, 10] = gt[10, 13] = True  # two targets 3 px apart
    pred = blank()
    pred[10, 11] = True  # 1 px from GT 1, 2 px from GT 2
    pred[12, 9] = True  # 2.24 px from GT 1 only
    # the nearest pair alone (1 px) would leave GT 2 unmatched; two pairs (2.24 + 2) are optimal
    s = evaluate_image(pred, gt, "irbench")
    assert (s.n_matched, s.fa_pixels) == (2, 0)


def test_stats_are_frozen_and_round_trip_through_json():
    import dataclasses
    import json

    from benchmark.metrics import ImageStats

    gt, pred = square(blank(), 5, 5, 3), square(square(blank(), 6, 6, 3), 20, 20, 2)
    s = evaluate_image(pred, gt, "irbench")
    back = ImageStats.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.inter = 0  # type: ignore[misc]
    acc = DetectionMetrics("irbench")
    acc.add(back)
    assert acc.compute() == detection_metrics([pred], [gt], "irbench")
    with pytest.raises(ValueError, match="missing"):
        ImageStats.from_dict({"inter": 1})


def test_input_validation_names_the_problem():
    with pytest.raises(ValueError, match=r"\(4, 4\).*\(5, 5\)"):
        evaluate_image(blank((4, 4)), blank((5, 5)))
    with pytest.raises(ValueError, match="pred must be a bool"):
        evaluate_image(np.full((4, 4), 0.7), blank((4, 4)))
    assert evaluate_image(np.eye(4, dtype=np.uint8), np.eye(4, dtype=np.uint8)).inter == 4  # 0/1 masks accepted
    with pytest.raises(ValueError, match="call Protocol.prepare"):
        evaluate_image(blank((512, 512)), blank((512, 512)), "mshnet")


def test_precision_recall_f1_are_dataset_sums():
    gts = [square(blank(), 5, 5, 3), square(square(blank(), 5, 5, 3), 20, 20, 3)]
    preds = [square(square(blank(), 5, 5, 3), 25, 5, 1), square(blank(), 5, 5, 3)]
    m = detection_metrics(preds, gts, "basicirstd")
    # 3 targets, 2 matched; 3 predicted components, 2 matched
    assert (m["n_targets"], m["pd"], m["recall"], m["precision"]) == (3, 2 / 3, 2 / 3, 2 / 3)
    assert m["f1"] == pytest.approx(2 / 3) and m["fa"] == pytest.approx(1 / 2048)


def test_bootstrap_interval_brackets_the_estimate_and_shrinks_with_more_images():
    from benchmark.metrics import bootstrap_ci

    rng = np.random.default_rng(0)
    images = []
    for _ in range(200):
        gt = square(blank(), 10, 10, 3)
        pred = square(blank(), 10, 10, 3) if rng.random() < 0.7 else blank()
        images.append(evaluate_image(pred, gt))
    pd = sum(s.n_matched for s in images) / sum(s.n_gt for s in images)
    wide, narrow = bootstrap_ci(images[:20])["pd"], bootstrap_ci(images)["pd"]
    assert narrow[0] <= pd <= narrow[1]
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    with pytest.raises(ValueError, match="confidence level"):
        bootstrap_ci(images, 100)
