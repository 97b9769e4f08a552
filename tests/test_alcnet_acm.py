"""ALCNet / ACM (official MXNet ports and BasicIRSTD variants) and the shared deep-detector base."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from methods.deep.acm import ASKCResUNet
from methods.deep.alcnet import MPCMResNetFPN, multiscale_patch_contrast, patch_contrast
from methods.deep.basicirstd_acm import BasicIRSTDACMNet, BasicIRSTDALCNet
from methods.deep.checkpoint import load_gluon_or_torch
from methods.deep.fuse import prepare_for_inference
from methods.registry import MissingWeightsError, create

torch.set_num_threads(1)


def _reference_block(shared_data: Path, title: str) -> tuple[int, list[tuple[str, tuple[int, ...]]]]:
    """(params, [(key, shape)]) of the block of statedict-keys.txt whose header starts with ``title``."""
    text = (shared_data.parent / "reference" / "statedict-keys.txt").read_text()
    block = text.split(f"##### {title}", 1)[1].split("#####", 1)[0]
    params = int(re.search(r"params=(\d+)", block).group(1))
    keys = [(m.group(1), tuple(int(v) for v in m.group(2).split(",") if v.strip()))
            for m in re.finditer(r"^    (\S+) \(([\d, ]*)\)$", block, flags=re.M)]
    return params, keys


@pytest.mark.parametrize("title, cls", [("BasicIRSTD ACM (ASKCResUNet)", BasicIRSTDACMNet),
                                        ("BasicIRSTD ALCNet (ASKCResNetFPN)", BasicIRSTDALCNet)])
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
    folder = shared_data / "weights" / "mxnet-official"
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
            prods = [(x[:, :, (i + dy * s) % h, (j + dx * s) % w] - x[:, :, i, j])
                     * (x[:, :, (i - dy * s) % h, (j - dx * s) % w] - x[:, :, i, j])
                     for dy, dx in ((1, 1), (1, 0), (1, -1), (0, 1))]
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


@pytest.mark.parametrize("cls, in_ch", [(MPCMResNetFPN, 3), (ASKCResUNet, 3), (BasicIRSTDACMNet, 1),
                                        (BasicIRSTDALCNet, 1)])
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
    assert score.shape == (30, 42) and 0 <= score.min() and score.max() <= 1


def _official_sirst_iou(shared_data: Path, method: str, weights: Path, skip: tuple[str, ...]) -> float:
    """The open-acm/open-alcnet test protocol: RGB image and mask resized to 512 (bilinear / nearest),
    ImageNet normalisation, logits > 0, dataset-level IoU; run through our port and loader."""
    from PIL import Image

    root = shared_data / "SIRST"
    ids = [i for i in (root / "idx_427" / "test.txt").read_text().split() if i not in skip]
    det = create(method, weights=str(weights), device="cpu")
    det.configure("sirst")
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    inter = union = 0
    for i in ids:
        rgb = Image.open(root / "images" / f"{i}.png").convert("RGB").resize((512, 512), Image.BILINEAR)
        x = (torch.from_numpy(np.asarray(rgb, np.float32) / 255).permute(2, 0, 1)[None] - mean) / std
        with torch.inference_mode():
            pred = (det.network(x)[0, 0] > 0).numpy()
        mask = np.asarray(Image.open(root / "masks" / f"{i}_pixels0.png").convert("L").resize((512, 512),
                                                                                             Image.NEAREST)) > 0
        inter += int((pred & mask).sum())
        union += int((pred | mask).sum())
    return inter / union


@pytest.mark.slow
@pytest.mark.parametrize("method, pattern, recorded", [("alcnet", "alcnet_*.params", 0.7614),
                                                       ("acm", "acm_*.params", 0.7442)])
def test_official_sirst_iou_reproduced(shared_data: Path, method: str, pattern: str, recorded: float) -> None:
    """The recorded IoUs (in the file names) are reproduced when ``Misc_29`` is left out; on the full
    split they are ~5 points lower. The official validation loader used ``last_batch='rollover'`` with
    batches of 32, so an epoch scored 64 or 96 of the 86 images and the best epoch was kept: ``Misc_29``
    (1,250 target pixels at 512x512, mostly missed by both models) decides the gap. ``Misc_111`` has a
    mask of another size (unusable)."""
    weights = next((shared_data / "weights" / "mxnet-official").glob(pattern))
    without = _official_sirst_iou(shared_data, method, weights, ("Misc_111", "Misc_29"))
    assert abs(without - recorded) < 0.006
    assert _official_sirst_iou(shared_data, method, weights, ("Misc_111",)) < recorded - 0.03
