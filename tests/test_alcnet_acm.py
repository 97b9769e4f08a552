"""ALCNet / ACM (official MXNet ports and BasicIRSTD variants) and the shared deep-detector base."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.datasets import get_dataset
from benchmark.evaluation import score_maps
from benchmarks import reproduce_official_sirst as repro
from methods.deep.acm import ASKCResUNet
from methods.deep.alcnet import MPCMResNetFPN, multiscale_patch_contrast, patch_contrast
from methods.deep.basicirstd_acm import BasicIRSTDACMNet, BasicIRSTDALCNet
from methods.deep.checkpoint import load_gluon_or_torch
from methods.deep.fuse import prepare_for_inference
from methods.registry import MissingWeightsError, create
from tests.conftest import need

torch.set_num_threads(1)


def _reference_block(shared_data: Path, title: str) -> tuple[int, list[tuple[str, tuple[int, ...]]]]:
    """(params, [(key, shape)]) of the block of statedict-keys.txt whose header starts with ``title``."""
    text = need(shared_data.parent / "reference" / "statedict-keys.txt").read_text()
    block = text.split(f"##### {title}", 1)[1].split("#####", 1)[0]
    params = int(re.search(r"params=(\d+)", block).group(1))
    keys = [
        (m.group(1), tuple(int(v) for v in m.group(2).split(",") if v.strip()))
        for m in re.finditer(r"^    (\S+) \(([\d, ]*)\)$", block, flags=re.M)
    ]
    return params, keys


@pytest.mark.parametrize(
    "title, cls",
    [("BasicIRSTD ACM (ASKCResUNet)", BasicIRSTDACMNet), ("BasicIRSTD ALCNet (ASKCResNetFPN)", BasicIRSTDALCNet)],
)
def test_basicirstd_listing_equals_reference(shared_data: Path, title: str, cls: type) -> None:
    params, keys = _reference_block(shared_data, title)
    net = cls()
    assert sum(p.numel() for p in net.parameters()) == params
    assert [(k, tuple(v.shape)) for k, v in net.state_dict().items()] == keys


def test_parameter_counts() -> None:
    assert sum(p.numel() for p in BasicIRSTDACMNet().parameters()) == 397_823
    assert sum(p.numel() for p in BasicIRSTDALCNet().parameters()) == 519_889
    # the official MXNet files hold 374,929 (ALCNet) and 520,009 (ACM) values, of which the BN running
    # statistics are buffers here: 372,579 and 516,875 learnable parameters
    assert sum(p.numel() for p in MPCMResNetFPN().parameters()) == 372_579
    assert sum(p.numel() for p in ASKCResUNet().parameters()) == 516_875


def test_official_mxnet_weights_load_strictly(shared_data: Path) -> None:
    folder = need(shared_data / "weights" / "mxnet-official")
    for net, pattern in ((MPCMResNetFPN(), "alcnet_*.params"), (ASKCResUNet(), "acm_*.params")):
        report = load_gluon_or_torch(net, next(folder.glob(pattern)), fixed_bn=("stem.0",))
        assert report == ([], [])
        assert torch.equal(net.stem[0].weight, torch.ones(3)) and torch.equal(net.stem[0].bias, torch.zeros(3))
        assert net.stem[0].running_var.min() > 0.5  # real statistics, not the defaults


def _naive_pcm(x: np.ndarray, s: int) -> np.ndarray:
    """Paper definition, pixel by pixel: min over 4 directions of (left - centre) * (right - centre)."""
    n, c, h, w = x.shape
    out = np.empty_like(x)
    for i in range(h):
        for j in range(w):
            prods = [
                (x[:, :, (i + dy * s) % h, (j + dx * s) % w] - x[:, :, i, j])
                * (x[:, :, (i - dy * s) % h, (j - dx * s) % w] - x[:, :, i, j])
                for dy, dx in ((1, 1), (1, 0), (1, -1), (0, 1))
            ]
            out[:, :, i, j] = np.min(prods, axis=0)
    return out


def test_patch_contrast_matches_naive_loop() -> None:
    x = torch.randn(2, 3, 11, 9, generator=torch.Generator().manual_seed(1))
    for s in (1, 3, 4):
        np.testing.assert_allclose(patch_contrast(x, s).numpy(), _naive_pcm(x.numpy(), s), rtol=1e-6, atol=1e-6)
    both = multiscale_patch_contrast(x, (2, 3)).numpy()
    np.testing.assert_allclose(both, np.maximum(_naive_pcm(x.numpy(), 2), _naive_pcm(x.numpy(), 3)), atol=1e-6)
    # a bright isolated point gives a large positive response, a flat image none
    img = torch.zeros(1, 1, 16, 16)
    img[0, 0, 8, 8] = 1.0
    assert patch_contrast(img, 2)[0, 0, 8, 8] == 1.0 and patch_contrast(torch.ones(1, 1, 8, 8), 2).abs().max() == 0


@pytest.mark.parametrize(
    "cls, in_ch", [(MPCMResNetFPN, 3), (ASKCResUNet, 3), (BasicIRSTDACMNet, 1), (BasicIRSTDALCNet, 1)]
)
def test_inference_preparation_keeps_outputs(cls: type, in_ch: int) -> None:
    torch.manual_seed(0)
    net = cls().eval()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, in_ch, 64, 96)
    with torch.inference_mode():
        plain = net(x)
        fast = prepare_for_inference(copy.deepcopy(net))(x)
    assert plain.shape == (2, 1, 64, 96)
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-4)


def _saved_weights(tmp_path: Path, net: torch.nn.Module, name: str) -> Path:
    path = tmp_path / name
    torch.save({"state_dict": {f"model.{k}": v for k, v in net.state_dict().items()}}, path)
    return path


def test_detector_scores_mixed_sizes_in_order(tmp_path: Path) -> None:
    torch.manual_seed(0)
    weights = _saved_weights(tmp_path, BasicIRSTDACMNet(), "acm.pth.tar")
    det = create("acm-basicirstd", weights=str(weights), device="cpu", batch_size=2)
    det.configure("sirst")
    rng = np.random.default_rng(0)
    images = [rng.uniform(0, 255, size=s).astype(np.float32) for s in ((40, 50), (64, 64), (40, 50), (40, 50))]
    out = det.detect_batch(images)
    assert [o.shape for o in out] == [im.shape for im in images]
    assert all(o.dtype == np.float32 and o.min() >= 0 and o.max() <= 1 for o in out)
    singles = [det.detect(im) for im in images]
    for a, b in zip(out, singles):
        np.testing.assert_allclose(a, b, atol=1e-5)
    det.params["input_size"] = 64
    assert det.detect(images[0]).shape == (40, 50)
    prov = det.provenance()
    assert prov["weights"] == str(weights) and len(prov["weights_sha256"]) == 64
    assert prov["preset"] == "basicirstd_gray" and prov["device"] == "cpu"


def test_basicirstd_stats_need_a_known_dataset(tmp_path: Path) -> None:
    weights = _saved_weights(tmp_path, BasicIRSTDALCNet(), "alc.pth.tar")
    with pytest.raises(ValueError, match="dataset_stats"):
        create("alcnet-basicirstd", weights=str(weights)).configure("my-data")
    det = create("alcnet-basicirstd", weights=str(weights), dataset_stats=[100.0, 30.0], device="cpu")
    det.configure("my-data")
    assert det.detect(np.full((32, 32), 100, np.float32)).shape == (32, 32)


def test_missing_weights_hint_and_default_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRBENCH_WEIGHTS", str(tmp_path / "w"))
    det = create("alcnet", device="cpu")
    with pytest.raises(MissingWeightsError) as err:
        det.configure("sirst")
    msg = str(err.value)
    assert str(tmp_path / "w" / "alcnet" / "sirst.pth") in msg and "--weights alcnet=PATH" in msg
    with pytest.raises(MissingWeightsError, match="does not exist"):
        create("alcnet", weights=str(tmp_path / "nope.params")).configure("sirst")
    torch.manual_seed(0)
    (tmp_path / "w" / "alcnet").mkdir(parents=True)
    torch.save(MPCMResNetFPN().state_dict(), tmp_path / "w" / "alcnet" / "sirst.pth")
    det.configure("sirst")
    assert det.provenance()["weights"].endswith("sirst.pth")
    score = det.detect(np.random.default_rng(0).uniform(0, 255, (30, 42)).astype(np.float32))
    assert score.shape == (30, 42) and score.min() >= 0 and score.max() <= 1


def test_rollover_epochs_follow_gluon_semantics() -> None:
    # 10 samples, batches of 4: epoch 0 scores 8 (2 left over), epoch 1 scores 2 + 10 = 12, ...
    assert repro.rollover_epochs(10, 4, 4) == [(0, 8), (8, 12), (20, 8), (28, 12)]
    # the official loaders on the 86 SIRST test images
    assert {length for _, length in repro.rollover_epochs(86, 32, 40)} == {64, 96}
    acm = repro.rollover_epochs(86, 8, 300)
    assert {length for _, length in acm} == {80, 88} and acm[288] == (288 * 86, 80)
    order = np.array([3, 1, 2])
    np.testing.assert_array_equal(repro.window_indices(order, 2, 5), [2, 3, 1, 2, 3])
    with pytest.raises(ValueError, match="batch_size"):
        repro.rollover_epochs(10, 0, 1)


def test_subset_iou_bounds_match_brute_force() -> None:
    import itertools

    rng = np.random.default_rng(3)
    union = rng.integers(5, 200, size=9)
    counts = np.stack([(union * rng.uniform(0, 1, 9)).astype(np.int64), union], axis=1)
    for length in (3, 6, 9, 13):
        full, k = divmod(length, 9)
        values = [
            repro.window_iou(counts, np.r_[np.tile(np.arange(9), full), np.array(s, dtype=int)])
            for s in itertools.combinations(range(9), k)
        ]
        lo, hi = repro.subset_iou_bounds(counts, length)
        assert lo == pytest.approx(min(values)) and hi == pytest.approx(max(values))
    with_4 = [repro.window_iou(counts, np.array(s)) for s in itertools.combinations(range(9), 5) if 4 in s]
    assert repro.subset_iou_bounds(counts, 5, (4,)) == pytest.approx((min(with_4), max(with_4)))
    with pytest.raises(ValueError, match="length"):
        repro.subset_iou_bounds(counts, 9, (4,))


class _Bright(torch.nn.Module):
    """Logit > 0 where the (normalised) red channel exceeds 0: a stand-in network."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1]


def test_official_counts_resize_both_and_cast_the_mask(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    img = np.zeros((30, 30), np.uint8)
    img[10:20, 10:20] = 255
    img[0, 29] = 255  # a false alarm
    Image.fromarray(img).save(tmp_path / "images" / "a.png")
    mask = np.zeros((60, 60), np.uint8)  # another size than the image, like Misc_111
    mask[20:40, 20:40] = 255
    mask[0:4, 0:4] = 254  # not target under the official int(mask / 255)
    Image.fromarray(mask).save(tmp_path / "masks" / "a_pixels0.png")
    counts = repro.official_counts(tmp_path, ["a"], _Bright(), size=30)
    assert counts.dtype == np.int64 and counts.tolist() == [[100, 101]]
    with pytest.raises(ValueError, match="b_pixels0.png|b.png"):
        repro.official_counts(tmp_path, ["b"], _Bright(), size=60)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, full_split, epoch, lengths", [("alcnet", 0.7031, None, [64]), ("acm", 0.6931, 288, [80])]
)
def test_recorded_sirst_iou_is_one_rollover_window(
    shared_data: Path, name: str, full_split: float, epoch: int | None, lengths: list[int]
) -> None:
    """The IoU in each official file name is that of one epoch's rollover window of a shuffled test list,
    not of the split: our port gives ``full_split`` on all 86 images (official protocol); of the window
    sizes the official loader scores (ACM: at its known best epoch) only ``lengths`` can reach the record,
    and only without ``Misc_29``; a shuffled order reproducing it to 4 decimals exists, and the unshuffled
    split order never gives it."""
    method, extra, pattern, batch = repro.MODELS[name]
    recorded = repro.RECORDED[name]
    sirst = need(shared_data / "SIRST")
    ids = (sirst / "idx_427" / "test.txt").read_text().split()
    det = create(
        method, weights=str(next(need(shared_data / "weights" / "mxnet-official").glob(pattern))), device="cpu", **extra
    )
    det.configure("sirst")
    counts = repro.official_counts(sirst, ids, det.network)
    n = len(ids)
    assert repro.window_iou(counts, np.arange(n)) == pytest.approx(full_split, abs=5e-4)
    epochs = repro.rollover_epochs(n, batch, 300)
    scored = {epochs[epoch][1]} if epoch is not None else {length for _, length in epochs}
    bounds = {length: repro.subset_iou_bounds(counts, length) for length in sorted(scored)}
    reachable = [length for length, (lo, hi) in bounds.items() if lo <= recorded <= hi]
    assert reachable == lengths, f"{recorded} vs the window ranges {bounds}"
    # Misc_29 (a large target both models mostly miss) cannot be in the recorded window
    assert repro.subset_iou_bounds(counts, lengths[0], (ids.index("Misc_29"),))[1] < recorded
    order = repro.witness_order(counts, reachable[0], recorded, np.random.default_rng(0))
    assert order is not None
    assert round(repro.window_iou(counts, repro.window_indices(order, 0, reachable[0])), 4) == recorded
    unshuffled = {
        round(repro.window_iou(counts, repro.window_indices(np.arange(n), s, length)), 4) for s, length in epochs
    }
    assert recorded not in unshuffled


def test_a_checkpoint_is_normalised_with_its_training_set_statistics(tmp_path: Path) -> None:
    weights = tmp_path / "acm.pth"
    torch.save(create("acm-basicirstd").build().state_dict(), weights)
    det = create("acm-basicirstd", weights=str(weights), trained_on="sirst3", device="cpu")
    det.configure("nudt-sirst")
    assert det.provenance()["normalisation"] == {"mean": 95.010, "std": 41.511}  # LESPS's SIRST3
    default = create("acm-basicirstd", weights=str(weights), device="cpu")
    default.configure("nudt-sirst")  # trained on the set it is tested on: exact BasicIRSTD values
    assert default.provenance()["normalisation"] == {"mean": 107.80905151367188, "std": 33.02274703979492}
    explicit = create("acm-basicirstd", weights=str(weights), trained_on="sirst3", dataset_stats=[90.0, 40.0])
    explicit.configure("nudt-sirst")
    assert explicit.provenance()["normalisation"] == {"mean": 90.0, "std": 40.0}
    with pytest.raises(ValueError, match="parameter 'trained_on' must name a training set"):
        create("acm-basicirstd", trained_on="sirst-v9")


@pytest.mark.parametrize("trained_on, iou, pd", [("sirst3", 0.6006, 0.9231), (None, 0.6173, 0.9423)])
def test_lesps_acm_full_on_nudt_sirst_reproduces_its_own_numbers(shared_data: Path, trained_on, iou, pd) -> None:
    """LESPS's ACM_full (trained on SIRST3) on the first 40 NUDT-SIRST test images: IoU 0.6006 under LESPS's
    own pipeline, which normalises with SIRST3's statistics; with the test set's, 0.6173."""
    weights = need(shared_data / "weights" / "basicirstd-format" / "ACM_full.pth.tar")
    ds = get_dataset("nudt-sirst", shared_data, "test")
    ids = ds.ids[:40]
    det = create("acm-basicirstd", weights=str(weights), trained_on=trained_on, device="cpu")
    det.configure("nudt-sirst")
    maps = det.detect_batch([ds.load_image(i) for i in ids])
    result = score_maps([(i, m, ds.load_mask(i)) for i, m in zip(ids, maps)], "basicirstd", "fixed:0.5")
    assert result.metrics["iou"] == pytest.approx(iou, abs=5e-5) and result.metrics["pd"] == pytest.approx(pd, abs=5e-5)
