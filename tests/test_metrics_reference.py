"""``evaluate_image`` against a slow, literal reference: skimage regionprops, Python loops over components,
exhaustive search for the optimal matching and explicit R_t masks for the bucket IoU, on seeded random masks."""

import numpy as np
import pytest
from skimage.measure import label, regionprops

from benchmark.metrics import evaluate_image, get_protocol


def random_pair(rng, size, crowded=False):
    """A ground truth of 1-4 blobs and a prediction of jittered, resized, dropped and spurious blobs;
    ``crowded`` packs small blobs into a 12 px window so that matchers compete for the same components."""
    gt, pred = np.zeros((size, size), bool), np.zeros((size, size), bool)
    span, big = (12, 3) if crowded else (size - 10, 9)
    for _ in range(rng.integers(1, 5)):
        r, c = rng.integers(2, span, size=2)
        h, w = rng.integers(1, big, size=2)
        gt[r : r + h, c : c + w] = True
        if rng.random() < 0.8:
            dr, dc = rng.integers(-2, 3, size=2)
            pred[max(r + dr, 0) : r + dr + h + rng.integers(-1, 2), max(c + dc, 0) : c + dc + w] = True
    for _ in range(rng.integers(0, 4)):
        r, c = rng.integers(0, span if crowded else size - 6, size=2)
        s = rng.integers(1, big if crowded else 7)
        pred[r : r + s, c : c + rng.integers(1, big if crowded else 7)] = True
    return pred, gt


def best_assignment(dist, gate):
    """All one-to-one assignments within the gate; return the optimal pairs and whether the optimum is unique."""
    n_gt, n_pred = dist.shape
    results = []

    def search(i, used, pairs, total):
        if i == n_gt:
            results.append((len(pairs), -total, pairs))
            return
        search(i + 1, used, pairs, total)
        for j in range(n_pred):
            if j not in used and dist[i, j] < gate:
                search(i + 1, used | {j}, pairs + [(i, j)], total + dist[i, j])

    search(0, frozenset(), [], 0.0)
    results.sort(key=lambda x: (x[0], x[1]), reverse=True)
    unique = len(results) == 1 or (results[0][0], round(results[0][1], 9)) != (results[1][0], round(results[1][1], 9))
    return results[0][2], unique


def reference(pred, gt, protocol):
    gl, pl = label(gt, connectivity=2), label(pred, connectivity=2)
    g_regions, p_regions = regionprops(gl), regionprops(pl)
    dist = np.array([[np.hypot(*np.subtract(g.centroid, p.centroid)) for p in p_regions] for g in g_regions])
    dist = dist.reshape(len(g_regions), len(p_regions))
    unique = True
    if protocol.matcher == "greedy":
        pairs, free = [], list(range(len(p_regions)))
        for i in range(len(g_regions)):
            for j in free:
                if dist[i, j] < protocol.distance:
                    pairs.append((i, j))
                    free.remove(j)
                    break
    else:
        pairs, unique = best_assignment(dist, protocol.distance)
    matched_p = {j for _, j in pairs}
    matched_areas = [p_regions[j].area for j in matched_p]
    false = [
        j
        for j in range(len(p_regions))
        if j not in matched_p and not (protocol.fa_counting == "area_value" and p_regions[j].area in matched_areas)
    ]

    def bucket(area):
        return 0 if area <= 10 else 1 if area <= 40 else 2

    out = {"n_gt_b": [0] * 3, "n_matched_b": [0] * 3, "inter_b": [0] * 3, "union_b": [0] * 3, "fa_pixels_b": [0] * 3}
    for i, g in enumerate(g_regions):
        b = bucket(g.area)
        out["n_gt_b"][b] += 1
        out["n_matched_b"][b] += any(i == gi for gi, _ in pairs)
        region = gl == i + 1
        for j in range(len(p_regions)):
            if (i, j) in pairs or ((gl == i + 1) & (pl == j + 1)).any():
                region |= pl == j + 1
        out["inter_b"][b] += int((pred & gt & region).sum())
        out["union_b"][b] += int(((pred | gt) & region).sum())
    for j in false:
        out["fa_pixels_b"][bucket(p_regions[j].area)] += int(p_regions[j].area)
    inter, union = int((pred & gt).sum()), int((pred | gt).sum())
    out.update(
        inter=inter,
        union=union,
        n_pixels=gt.size,
        n_gt=len(g_regions),
        n_matched=len(pairs),
        n_pred=len(p_regions),
        fa_pixels=sum(int(p_regions[j].area) for j in false),
        niou_i=inter / union if union else protocol.niou_empty,
    )
    return {k: tuple(v) if isinstance(v, list) else v for k, v in out.items()}, unique


@pytest.mark.parametrize("crowded", [False, True])
@pytest.mark.parametrize("name, size, n", [("irbench", 48, 120), ("basicirstd", 48, 120), ("mshnet", 256, 30)])
def test_evaluate_image_matches_the_literal_reference(name, size, n, crowded):
    protocol = get_protocol(name)
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(n):
        pred, gt = random_pair(rng, size, crowded)
        ref, unique = reference(pred, gt, protocol)
        ours = evaluate_image(pred, gt, protocol).to_dict()
        ours = {k: tuple(v) if isinstance(v, list) else v for k, v in ours.items()}
        if not unique:  # tied optimal assignments: only the number of pairs is defined
            assert ours["n_matched"] == ref["n_matched"]
            continue
        assert ours.pop("niou_i") == pytest.approx(ref.pop("niou_i"), abs=1e-15)
        assert ours == ref
        checked += 1
    assert checked >= n * 0.8
