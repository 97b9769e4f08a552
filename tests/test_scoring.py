"""One scoring path (``score_maps``), one component matcher, datasets that load image and mask separately."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import benchmark.datasets.folder
import benchmark.figures
from benchmark.datasets import SampleError, get_dataset
from benchmark.evaluation import score_maps
from benchmark.metrics import CurveMetrics, DetectionMetrics, bootstrap_ci, evaluate_image, get_protocol
from benchmark.offline import evaluate_predictions
from benchmark.policies import parse_policy
from benchmark.record import RunRecord
from benchmark.runner import RunConfig, run
from methods.registry import Detector, register

SHAPE = (40, 60)  # not 256x256, so that the mshnet protocol resizes


@register("test-batched-identity", family="deep", kind="deep", paper="test", defaults={"batch_size": 2})
class BatchedIdentity(Detector):
    """The image as its score map, batched in the main process (so decodes there can be counted)."""

    def detect_batch(self, images):
        return [im.astype(np.float32) for im in images]


def _samples(n: int = 6) -> list:
    """(id, score or None, gt): two targets per image, noisy scores with clutter, a failed image, a dense mask."""
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        gt = np.zeros(SHAPE, bool)
        gt[5 + i : 8 + i, 10:13] = True
        gt[20:22, 30 + i : 34 + i] = True
        if i == n - 1:
            gt[25:, :] = True  # marks over 25 % of the image
        score = rng.random(SHAPE).astype(np.float32) * 0.6 + gt * 0.5
        samples.append((f"s{i}", None if i == 2 else score, gt))
    return samples


def _tree(root: Path, n: int = 4) -> Path:
    """A SIRST-layout dataset of 40x60 images, each with two targets and bright clutter."""
    folder = root / "SIRST"
    for sub in ("images", "masks", "idx_427"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i, (_, _, gt) in enumerate(_samples(n + 1)[:n]):
        image = (40 + 30 * rng.random(SHAPE) + 150 * gt).astype(np.uint8)
        image[30 + i % 5, 50 - i] = 255  # a one-pixel false alarm
        Image.fromarray(image).save(folder / "images" / f"Misc_{i}.png")
        Image.fromarray(gt.astype(np.uint8) * 255).save(folder / "masks" / f"Misc_{i}_pixels0.png")
    (folder / "idx_427" / "test.txt").write_text("".join(f"Misc_{i}\n" for i in range(n)))
    return root


@pytest.mark.parametrize("protocol", ["irbench", "mshnet"])
@pytest.mark.parametrize("policy", ["minmax:0.5", "sweep"])
def test_score_maps_equals_the_accumulators_by_hand(protocol, policy):
    samples = _samples()
    proto, pol = get_protocol(protocol), parse_policy(policy)
    prepared = [
        (i, score is None, *proto.prepare(np.zeros(SHAPE, np.float32) if score is None else score, gt))
        for i, score, gt in samples
    ]
    if pol.needs_fit:
        for _, _, score, gt in prepared:
            pol.fit_update(score, gt)
        pol.fit_done()
    acc, curve, stats = DetectionMetrics(proto), CurveMetrics(proto), []
    for _, failed, score, gt in prepared:
        stats.append(acc.update(np.zeros(gt.shape, bool) if failed else pol.binarise(score), gt))
        curve.update(pol.normalise(score), gt)
    result = score_maps(samples, protocol, policy, curves=True, ci=90, keep=True)
    assert result.metrics == {**acc.compute(), "ci": {"level": 90, **bootstrap_ci(stats, 90)}}
    assert result.curves == curve.compute() and result.policy == pol.record()
    assert result.per_image == {i: s.to_dict() for (i, *_), s in zip(prepared, stats, strict=True)}
    assert list(result.dense_masks) == ["s5"] and result.dense_masks["s5"] == samples[5][2].mean()
    side = proto.eval_size or None
    for i, pred, gt in ((i, *result.predictions[i]) for i, *_ in samples):
        assert pred.shape == gt.shape == ((side, side) if side else SHAPE)
        assert evaluate_image(pred, gt, proto).to_dict() == result.per_image[i]
    assert not result.predictions["s2"][0].any()  # the failed image is an empty prediction
    assert score_maps(samples, protocol, policy).metrics == acc.compute()


def test_a_fitted_policy_needs_a_re_iterable_source():
    with pytest.raises(TypeError, match="re-iterable"):
        score_maps(iter(_samples()), "irbench", "sweep")
    assert score_maps(iter(_samples()), "irbench", "fixed:0.5").metrics["n_images"] == 6  # one pass suffices


@pytest.mark.parametrize("protocol", ["irbench", "basicirstd", "mshnet"])
def test_the_curves_count_what_evaluate_image_counts(protocol):
    proto = get_protocol(protocol)
    curve = CurveMetrics(proto, n_thresholds=8)
    per_threshold = [DetectionMetrics(proto) for _ in range(8)]
    for _, score, gt in _samples():
        score, gt = proto.prepare(np.zeros(SHAPE, np.float32) if score is None else score, gt)
        norm = parse_policy("minmax").normalise(score)
        curve.update(norm, gt)
        for k, acc in enumerate(per_threshold):
            acc.update(norm > k / 8, gt)
    result = curve.compute()
    assert result["pd"] == [acc.compute()["pd"] for acc in per_threshold]
    assert result["fa"] == [acc.compute()["fa"] for acc in per_threshold]
    assert len(set(result["pd"])) > 1 and len(set(result["fa"])) > 1


def test_load_image_and_load_mask_equal_load(tmp_path, monkeypatch):
    ds = get_dataset("sirst", _tree(tmp_path))
    for sample in ds.ids:
        image, mask = ds.load(sample)
        assert np.array_equal(ds.load_image(sample), image) and np.array_equal(ds.load_mask(sample), mask)
    synth = get_dataset("synth")
    image, mask = synth.load(synth.ids[1])
    assert np.array_equal(synth.load_image(synth.ids[1]), image)
    assert np.array_equal(synth.load_mask(synth.ids[1]), mask)

    folder = tmp_path / "SIRST"
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(folder / "masks" / "Misc_1_pixels0.png")  # size mismatch
    (folder / "images" / "Misc_2.png").unlink()
    ds = get_dataset("sirst", tmp_path)
    problems = {
        "Misc_1": "size mismatch: image .*Misc_1.png is 60x40 .*Misc_1_pixels0.png is 30x20",
        "Misc_2": "Misc_2.png: image file is missing",
    }
    messages = {}
    monkeypatch.setattr(benchmark.datasets.folder, "read_image", lambda *a, **k: pytest.fail("image decoded"))
    for sample, problem in problems.items():
        with pytest.raises(SampleError, match=problem) as info:
            ds.load_mask(sample)
        messages[sample] = str(info.value)
    monkeypatch.undo()
    for sample, message in messages.items():
        with pytest.raises(SampleError) as info:
            ds.load(sample)
        assert str(info.value) == message


def test_offline_ground_truth_reads_masks_only_and_skips_what_a_run_skips(tmp_path, monkeypatch):
    root = _tree(tmp_path)
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    for mask in (root / "SIRST" / "masks").iterdir():
        (pred_dir / mask.name.replace("_pixels0", "")).write_bytes(mask.read_bytes())  # perfect predictions
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(root / "SIRST" / "masks" / "Misc_1_pixels0.png")
    monkeypatch.setattr(benchmark.datasets.folder, "read_image", lambda *a, **k: pytest.fail("image decoded"))
    result = evaluate_predictions(str(pred_dir), dataset="sirst", data_root=str(root))
    assert [e["id"] for e in result["skipped"]] == ["Misc_1"] and "size mismatch" in result["skipped"][0]["error"]
    assert result["n_images"] == 3 and result["iou"] == result["pd"] == 1.0 and not result["missing_predictions"]


def _counting(monkeypatch, name: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    real = getattr(benchmark.datasets.folder, name)

    def counted(path, *args, **kw):
        counts[Path(path).name] = counts.get(Path(path).name, 0) + 1
        return real(path, *args, **kw)

    monkeypatch.setattr(benchmark.datasets.folder, name, counted)
    return counts


@pytest.mark.parametrize("policy", ["minmax:0.5", "sweep"])
def test_an_image_is_decoded_once_per_method_and_its_mask_read_once_for_evaluation(tmp_path, monkeypatch, policy):
    images, masks = _counting(monkeypatch, "read_image"), _counting(monkeypatch, "read_raw_mask")
    run_dir = run(
        RunConfig(
            methods=["test-batched-identity"],
            datasets=["sirst"],
            data_root=str(_tree(tmp_path)),
            policy=policy,
            out=tmp_path / "out",
            name="r",
        ),
        log=lambda m: None,
    )
    cell = RunRecord.read(run_dir).cells["test-batched-identity"]["sirst"]
    assert cell.ok and cell.metrics["n_images"] == 4 and cell.policy.kind == policy.partition(":")[0]
    assert images == {f"Misc_{i}.png": 1 for i in range(4)}  # detection only: evaluation decodes no image
    # the split's mask-encoding scan when the dataset is opened, detection's pair check, evaluation once
    assert masks == {f"Misc_{i}_pixels0.png": 3 for i in range(4)}


def test_the_qualitative_boxes_are_what_the_metric_counted_at_256(tmp_path, monkeypatch):
    run_dir = run(
        RunConfig(
            methods=["tophat", "test-batched-identity"],
            datasets=["sirst"],
            protocol="mshnet",
            data_root=str(_tree(tmp_path)),
            jobs=1,
            out=tmp_path / "out",
            name="r",
        ),
        log=lambda m: None,
    )
    stats = {(r["method"], r["id"]): r["stats"] for r in map(json.loads, (run_dir / "per_image.jsonl").open())}
    drawn = []
    real = benchmark.figures._boxes

    def recording(matching):
        drawn.append(matching)
        return real(matching)

    monkeypatch.setattr(benchmark.figures, "_boxes", recording)
    record = RunRecord.read(run_dir)
    assert benchmark.figures.plot_qualitative(run_dir, record, "sirst", n_images=3).is_file()
    totals = benchmark.figures._per_image_stats(run_dir, "sirst")
    shown = benchmark.figures.choose_examples(totals, [f"Misc_{i}" for i in range(4)], 3)
    keys = [(m.name, sample) for m, _ in record.ok_cells("sirst") for sample in shown]
    assert len(drawn) == len(keys) == 6
    for key, m in zip(keys, drawn, strict=True):
        assert m.gt.labels.shape == m.pred.labels.shape == (256, 256)
        s = stats[key]
        assert (m.gt.n, int(m.matched_gt.sum()), m.pred.n) == (s["n_gt"], s["n_matched"], s["n_pred"])
        assert int(m.pred.areas[m.false_alarm].sum()) == s["fa_pixels"]
    assert any(stats[k]["fa_pixels"] for k in keys) and any(stats[k]["n_matched"] for k in keys)
    kinds = {kind for m in drawn for kind, _ in real(m)}
    assert kinds >= {"correct", "false alarm"}


def test_examples_show_misses_false_alarms_and_hits_in_turn():
    totals = {
        "a": {"targets": 1, "hits": 2, "misses": 0, "fa": 0},
        "b": {"targets": 2, "hits": 0, "misses": 4, "fa": 3},
        "c": {"targets": 1, "hits": 1, "misses": 1, "fa": 90},
        "d": {"targets": 0, "hits": 0, "misses": 0, "fa": 500},  # background only: never an example
        "e": {"targets": 3, "hits": 6, "misses": 0, "fa": 0},
    }
    ids = ["a", "b", "c", "d", "e"]
    assert benchmark.figures.choose_examples(totals, ids, 3) == ["b", "c", "e"]
    assert benchmark.figures.choose_examples(totals, ids, 10) == ["b", "c", "e", "a"]
    assert benchmark.figures.choose_examples({}, ids, 3) == []


def test_roc_auc_closes_the_curve():
    assert benchmark.figures.roc_auc([], []) == 0.5  # only (1, 1) and (0, 0): the diagonal
    assert benchmark.figures.roc_auc([0.0], [1.0]) == 1.0  # a perfect threshold
    assert benchmark.figures.roc_auc([0.5], [0.5]) == 0.5
