"""The component-tree engine equals binarising and scoring at every threshold, for every protocol."""

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from benchmark.datasets import get_dataset
from benchmark.metrics import evaluate_image, get_protocol
from benchmark.metrics.components import components
from benchmark.metrics.tree import levels, threshold_counts, thresholds
from benchmark.policies import minmax

# the mshnet rule (greedy, area-by-value Fa) at native resolution, so small maps can be scored with it
MSHNET_NATIVE = replace(get_protocol("mshnet"), eval_size=None, fa_normaliser="native")
PROTOCOLS = (get_protocol("irbench"), get_protocol("basicirstd"), MSHNET_NATIVE)


def per_threshold(score: np.ndarray, gt: np.ndarray, protocol, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference: binarise at each threshold k / n and score with the single-threshold path."""
    stats = [evaluate_image(score > k / n, gt, protocol) for k in range(n)]
    return np.array([s.n_matched for s in stats]), np.array([s.fa_pixels for s in stats])


def assert_equal_at_every_threshold(score: np.ndarray, gt: np.ndarray, name: str, n: int) -> None:
    protocol = get_protocol(name)
    counts = threshold_counts(score, components(gt), gt, protocol, n)
    matched, fa = per_threshold(score, gt, protocol, n)
    assert np.array_equal(counts.matched, matched), np.flatnonzero(counts.matched != matched)
    assert np.array_equal(counts.fa_pixels, fa), np.flatnonzero(counts.fa_pixels != fa)
    assert np.array_equal(counts.predicted, [np.count_nonzero(score > k / n) for k in range(n)])


def test_levels_count_the_thresholds_below_each_score_in_float32():
    n = 10
    cuts = thresholds(n)
    score = np.concatenate([cuts, np.nextafter(cuts, np.float32(2)), [0.0, 1.0, 0.05]]).astype(np.float32)[None]
    expected = [(score[0, i] > cuts).sum() for i in range(score.shape[1])]
    assert levels(score, n)[0].tolist() == expected
    assert levels(score, n)[0, :n].tolist() == list(range(n))  # a score equal to a threshold is not above it


def test_merge_split_plateau_and_ring_by_hand():
    # two blobs joined by a saddle (merge below 0.5), a plateau target, a ring around a target
    score = np.zeros((40, 40), np.float32)
    score[5:8, 5:8], score[5:8, 12:15], score[6, 8:12] = 0.9, 0.8, 0.4  # merge at the saddle
    gt = np.zeros((40, 40), bool)
    gt[5:8, 5:8] = True
    score[20:23, 5:8] = 0.5  # a plateau: all its pixels enter at one level
    gt[20:23, 5:8] = True
    ring = np.zeros((40, 40), bool)
    ring[25:36, 25:36] = True
    ring[27:34, 27:34] = False
    score[ring] = 0.7  # its centroid (30, 30) is the target's, none of its pixels touch it
    gt[30, 30] = True
    for name in PROTOCOLS:
        protocol = get_protocol(name)
        counts = threshold_counts(score, components(gt), gt, protocol, 10)
        # t >= 0.4: the blob pair is separate; t = 0.3: merged, the centroid moves 3.5 px off the first target
        assert counts.matched[3] == 2 and counts.matched[4] == 3 and counts.matched[5] == 2
        assert counts.matched[7] == 1 and counts.matched[8] == 1 and counts.matched[9] == 0
        for n in (10, 37, 256):
            assert_equal_at_every_threshold(score, gt, name, n)


@pytest.mark.parametrize("name", PROTOCOLS, ids=lambda p: p.name)
def test_random_maps_with_ties_plateaus_and_crowded_targets(name):
    rng = np.random.default_rng(7)
    for _ in range(25):
        size = int(rng.integers(12, 40))
        gt = np.zeros((size, size), bool)
        for _ in range(rng.integers(0, 6)):  # crowded targets: several within the gate of one component
            r, c = rng.integers(0, size - 3, 2)
            gt[r : r + rng.integers(1, 4), c : c + rng.integers(1, 4)] = True
        noise = rng.random((size, size)).astype(np.float32) * rng.choice([0.0, 0.3, 1.0])
        score = ndimage.gaussian_filter(gt.astype(np.float32) + noise, rng.choice([0.5, 1.0]))
        score = np.round(score * rng.choice([3, 16, 1000]))  # few levels: ties and plateaus
        score = minmax(score)
        for n in (5, 11, 256):
            assert_equal_at_every_threshold(score, gt, name, n)


def test_an_image_without_targets_counts_every_predicted_pixel_as_a_false_alarm():
    score = np.random.default_rng(0).random((20, 20)).astype(np.float32)
    gt = np.zeros((20, 20), bool)
    for name in PROTOCOLS:
        assert_equal_at_every_threshold(score, gt, name, 64)


@pytest.mark.parametrize("name", ["irbench", "basicirstd", "mshnet"])
def test_real_masks_at_all_256_thresholds(name, shared_data):
    protocol = get_protocol(name)
    ds = get_dataset("sirst", shared_data, "test")
    rng = np.random.default_rng(0)
    for sample in ds.ids[:4]:
        gt = ds.load_mask(sample)
        blurred = ndimage.gaussian_filter(ndimage.binary_dilation(gt).astype(np.float32), 1.5)
        score = blurred + 0.3 * rng.random(gt.shape, dtype=np.float32)
        score, gt = protocol.prepare(score, gt)
        assert_equal_at_every_threshold(minmax(score), gt, name, 256)


def test_a_large_image_uses_wide_sums_and_stays_exact():
    rng = np.random.default_rng(3)
    gt = np.zeros((1300, 1300), bool)  # row sums above 2**31: the int64 set records
    gt[1200:1204, 1250:1253] = gt[40:42, 60:63] = True
    score = ndimage.gaussian_filter(gt.astype(np.float32), 2.0) + 0.05 * rng.random(gt.shape, dtype=np.float32)
    assert_equal_at_every_threshold(minmax(score), gt, "irbench", 4)
