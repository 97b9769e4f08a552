"""MSHNet, DNANet, ISNet and MDvsFA: parameter counts, state_dict listings, MACs, inference wrappers."""

from __future__ import annotations

import copy
import os
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from methods.deep.checkpoint import load_checkpoint
from methods.deep.dnanet import DNANetNet
from methods.deep.flops import count_macs, count_params
from methods.deep.fuse import fold_batchnorm, prepare_for_inference
from methods.deep.isnet import ISNetNet, image_gradient
from methods.deep.mdvsfa import Generator1CAN8, Generator2UCAN64, MDvsFANet
from methods.deep.mshnet import MSHNetNet
from methods.registry import MissingWeightsError, create

torch.set_num_threads(1)

LISTING = Path(__file__).resolve().parents[2] / "shared" / "reference" / "statedict-keys.txt"

# reference block title -> (builder, input shapes for count_macs); BasicIRSTD ISNet lists two stubbed
# gradient kernels (grad.weight_h / grad.weight_v) that real checkpoints do not hold
MODELS = {
    "MSHNet(3) official": (lambda: MSHNetNet(3), [(1, 3, 64, 64)]),
    "DNANet official (3ch,res18,DS)": (lambda: DNANetNet(3), [(1, 3, 64, 64)]),
    "BasicIRSTD DNANet (1ch)": (lambda: DNANetNet(1), [(1, 1, 64, 64)]),
    "Official ISNet (3ch, DCNv2 modulated)": (lambda: ISNetNet(3, "v2"), [(1, 3, 64, 64), (1, 3, 64, 64)]),
    "BasicIRSTD ISNet (1ch, DCNv1 DeformConvPack)": (lambda: ISNetNet(1, "v1", grad_inside=True), [(1, 1, 64, 64)]),
    "MDvsFA Generator1_CAN8": (Generator1CAN8, [(1, 1, 64, 64)]),
    "MDvsFA Generator2_UCAN64": (Generator2UCAN64, [(1, 1, 64, 64)]),
}
STUBBED = "grad."


def _parse_listing(path: Path) -> dict[str, dict]:
    """Blocks of statedict-keys.txt: title -> {params, entries, top (name -> (keys, numel)), keys, macs}."""
    blocks: dict[str, dict] = {}
    cur: dict | None = None
    for line in path.read_text().splitlines():
        if line.startswith("##### "):
            m = re.match(r"##### (.*?): params=(\d+) .*entries=(\d+)", line)
            assert m, line
            cur = blocks[m.group(1)] = {
                "params": int(m.group(2)),
                "entries": int(m.group(3)),
                "top": {},
                "keys": {},
                "macs": {},
            }
        elif cur is None or line.startswith("#"):
            continue
        elif line.startswith("top-level: "):
            for name, nkeys, numel in re.findall(r"(\w+)\((\d+) keys,(\d+)\)", line):
                cur["top"][name] = (int(nkeys), int(numel))
        elif line.startswith("    "):
            key, shape = re.match(r"\s+(\S+) \((.*)\)$", line).groups()
            cur["keys"][key] = tuple(int(v) for v in shape.split(",") if v.strip())
        elif line.strip().startswith("input "):
            shape, macs = re.search(r"input \(([\d, ]+)\): hook-MACs=([\d.]+)G", line).groups()
            cur["macs"][tuple(int(v) for v in shape.split(","))] = float(macs) * 1e9
    return blocks


@pytest.fixture(scope="module")
def listing() -> dict[str, dict]:
    if not LISTING.is_file():
        pytest.skip(f"reference listing not available at {LISTING}")
    return _parse_listing(LISTING)


@pytest.mark.parametrize(
    "build,expected",
    [
        (lambda: MSHNetNet(3), 4_065_513),
        (lambda: DNANetNet(3), 4_696_888),
        (lambda: DNANetNet(1), 4_696_568),
        (lambda: ISNetNet(3, "v2"), 1_090_671),
        (lambda: ISNetNet(1, "v1", grad_inside=True), 1_089_519),
        (Generator1CAN8, 3_138_497),
        (Generator2UCAN64, 629_825),
    ],
)
def test_parameter_counts(build, expected):
    assert count_params(build()) == expected


def test_mdvsfa_total_parameters():
    assert count_params(MDvsFANet()) == 3_138_497 + 629_825


@pytest.mark.parametrize("title", list(MODELS))
def test_state_dict_equals_reference_listing(listing, title):
    ref = listing[title]
    sd = {k: tuple(v.shape) for k, v in MODELS[title][0]().state_dict().items()}
    ref_keys = {k: s for k, s in ref["keys"].items() if not k.startswith(STUBBED)}
    mismatched = {k: (sd.get(k), s) for k, s in ref_keys.items() if sd.get(k) != s}
    assert not mismatched
    stubbed = {k for k in ref["top"] if k + "." == STUBBED}
    assert len(sd) == ref["entries"] - sum(ref["top"][k][0] for k in stubbed)
    # the per-module summary covers the keys the listing leaves out
    top: dict[str, list[int]] = {}
    for key, shape in sd.items():
        entry = top.setdefault(key.split(".")[0], [0, 0])
        entry[0] += 1
        entry[1] += int(np.prod(shape)) if shape else 1
    assert {k: tuple(v) for k, v in top.items()} == {k: v for k, v in ref["top"].items() if k not in stubbed}
    if title.startswith("BasicIRSTD DNANet"):  # the listing gives only the summary; keys as official
        official = listing["DNANet official (3ch,res18,DS)"]["keys"]
        first = {"conv0_0.0.conv1.weight": (16, 1, 3, 3), "conv0_0.0.shortcut.0.weight": (16, 1, 1, 1)}
        assert all(sd[k] == first.get(k, s) for k, s in official.items())


@pytest.mark.parametrize("title", list(MODELS))
def test_macs_equal_reference_hook_count(listing, title):
    """MACs scale with H*W for these fully convolutional nets: 64x64 counts 1/16 of the 256x256 figure."""
    build, shapes = MODELS[title]
    ref = listing[title]["macs"]
    big = next(s for s in ref if s[-1] == 256)
    got = count_macs(build(), *shapes) * (big[-1] * big[-2]) / (shapes[0][-1] * shapes[0][-2])
    assert got == pytest.approx(ref[big], rel=5e-4)


def _randomise_bn(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.2, generator=g)
    return net.eval()


@pytest.mark.parametrize(
    "build,call,unfoldable",
    [
        (lambda: MSHNetNet(3), lambda n, x: n(x)[1], 0),
        (lambda: DNANetNet(3), lambda n, x: n(x)[-1], 0),
        # ISNet: the input BN stem.0 and the 6 gate-input BNs (_gate_conv.0) precede their conv
        (lambda: ISNetNet(3, "v2"), lambda n, x: n(x, image_gradient(x))[0], 7),
        (lambda: ISNetNet(1, "v1", grad_inside=True), lambda n, x: n(x[:, :1])[0], 7),
        (MDvsFANet, lambda n, x: n(x[:, :1]), 0),
    ],
)
def test_inference_preparation_keeps_outputs(build, call, unfoldable):
    net = _randomise_bn(build())
    folds = sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) - unfoldable
    x = torch.randn(2, 3, 32, 48, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        want = call(net, x)
        assert fold_batchnorm(copy.deepcopy(net)) == folds
        fast = prepare_for_inference(copy.deepcopy(net), "cpu")
        got = call(fast, x)
        again = call(prepare_for_inference(fast, "cpu"), x)
    assert got.shape == (2, 1, 32, 48)
    assert len(fast._forward_pre_hooks) == 1
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(again, got)


def test_fold_batchnorm_needs_eval_mode():
    with pytest.raises(ValueError, match="eval"):
        fold_batchnorm(MSHNetNet(3).train())


def test_image_gradient_central_differences():
    x = torch.arange(20.0).view(1, 1, 4, 5) ** 1.5
    g = image_gradient(x)[0, 0]
    p = torch.nn.functional.pad(x, (1, 1, 1, 1))[0, 0]
    i, j = 2, 3  # padded coordinates (1, 2)
    dv = p[i + 1, j] - p[i - 1, j]
    dh = p[i, j + 1] - p[i, j - 1]
    assert g[1, 2] == pytest.approx(float(torch.sqrt(dv**2 + dh**2 + 1e-6)))
    assert g[0, 0] == pytest.approx(float(torch.sqrt(x[0, 0, 1, 0] ** 2 + x[0, 0, 0, 1] ** 2 + 1e-6)))


def test_model_constructors_validate():
    with pytest.raises(ValueError, match="in_channels"):
        DNANetNet(2)
    with pytest.raises(ValueError, match="dcn"):
        ISNetNet(3, "v3")
    with pytest.raises(ValueError, match="x_grad"):
        ISNetNet(3, "v2")(torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize(
    "name,params,net",
    [
        ("mshnet", {}, lambda: MSHNetNet(3)),
        ("dnanet", {}, lambda: DNANetNet(3)),
        ("dnanet", {"in_channels": 1, "dataset_stats": [100.0, 30.0]}, lambda: DNANetNet(1)),
        ("isnet", {}, lambda: ISNetNet(3, "v2")),
        ("isnet", {"dcn": "v1", "dataset_stats": [100.0, 30.0]}, lambda: ISNetNet(1, "v1", True)),
        ("mdvsfa", {}, MDvsFANet),
    ],
)
def test_detectors_score_native_size(name, params, net):
    det = create(name, device="cpu", batch_size=2, **params)
    det.use_network(_randomise_bn(net()))
    rng = np.random.default_rng(0)
    images = [rng.uniform(0, 255, (37, 45)).astype(np.float32) for _ in range(3)]
    images.append(rng.uniform(0, 255, (20, 33)).astype(np.float32))
    out = det.detect_batch(images)
    assert [o.shape for o in out] == [im.shape for im in images]
    assert all(o.dtype == np.float32 and o.min() >= 0 and o.max() <= 1 for o in out)
    # batching does not change the scores
    np.testing.assert_allclose(det.detect(images[1]), out[1], atol=1e-5)


def test_detector_parameter_validation():
    with pytest.raises(ValueError, match="in_channels"):
        create("dnanet", in_channels=2)
    with pytest.raises(ValueError, match="dcn"):
        create("isnet", dcn="v3")


def test_basicirstd_dnanet_checkpoint_loads(tmp_path):
    src = _randomise_bn(DNANetNet(1), seed=3)
    path = tmp_path / "DNANet_400.pth.tar"
    torch.save(
        {"epoch": 400, "state_dict": {f"model.{k}": v for k, v in src.state_dict().items()}, "total_loss": 0.1}, path
    )
    det = create("dnanet", in_channels=1, weights=str(path), device="cpu")
    det.configure("sirst")
    image = np.random.default_rng(1).uniform(0, 255, (32, 32)).astype(np.float32)
    with torch.inference_mode():
        x = (torch.from_numpy(image)[None, None] - 101.06385040283203) / 34.619606018066406
        want = torch.sigmoid(src(x)[-1])[0, 0].numpy()
    np.testing.assert_allclose(det.detect(image), want, atol=1e-5)


def test_mdvsfa_loads_two_generator_files(tmp_path):
    src = _randomise_bn(MDvsFANet(), seed=4)
    g1, g2 = tmp_path / "g1.pth", tmp_path / "g2.pth"
    for path, part in ((g1, src.g1), (g2, src.g2)):
        torch.save({"epoch": 30, "it": 1, "model_state": part.state_dict(), "optimizer_state": None}, path)
    det = create("mdvsfa", weights=str(g1), weights_g2=str(g2), device="cpu")
    det.configure("sirst")
    image = np.random.default_rng(2).uniform(0, 255, (24, 40)).astype(np.float32)
    with torch.inference_mode():
        want = src(torch.from_numpy(image)[None, None] / 255 * 2 - 1)[0, 0].numpy()
    np.testing.assert_allclose(det.detect(image), want, atol=1e-5)
    missing = create("mdvsfa", weights=str(g1), weights_g2=str(tmp_path / "nope.pth"), device="cpu")
    with pytest.raises(MissingWeightsError, match="G2"):
        missing.configure("sirst")
    prov = det.provenance()
    assert prov["weights"] == str(g1) and prov["weights_g2"] == str(g2)
    assert prov["weights_g2_sha256"] != prov["weights_sha256"]


def test_official_isnet_whole_pickled_module_loads(tmp_path, monkeypatch):
    """Official ISNet releases torch.save(net): the class's module is not importable at load time."""
    fake = types.ModuleType("ISNet")

    class OfficialISNet(ISNetNet):
        pass

    OfficialISNet.__module__, OfficialISNet.__qualname__ = "ISNet", "ISNet"
    fake.ISNet = OfficialISNet
    monkeypatch.setitem(sys.modules, "ISNet", fake)
    src = _randomise_bn(OfficialISNet(3, "v2"), seed=5)
    path = tmp_path / "Epoch-100_IoU-0.6000_nIoU-0.6000.pkl"
    torch.save(src, path)
    monkeypatch.delitem(sys.modules, "ISNet")
    dst = ISNetNet(3, "v2")
    load_checkpoint(dst, path)
    for key, value in src.state_dict().items():
        torch.testing.assert_close(dst.state_dict()[key], value)


@pytest.mark.slow
@pytest.mark.parametrize("title", list(MODELS))
def test_macs_at_reference_size(listing, title):
    build, shapes = MODELS[title]
    for ref_shape, ref_macs in listing[title]["macs"].items():
        extra = [ref_shape] * (len(shapes) - 1)
        assert count_macs(build(), ref_shape, *extra) == pytest.approx(ref_macs, rel=5e-4)


def test_basicirstd_variants_pad_to_32_like_basicirstd():
    assert create("dnanet").stride == 16 and create("dnanet", in_channels=1).stride == 32
    assert create("isnet").stride == 16 and create("isnet", dcn="v1").stride == 32
    assert create("acm-basicirstd").stride == 32


def _echo(seen: list[torch.Tensor], **params: object):
    """A deep detector whose network returns its normalised input (``mdvsfa``: x / 127.5 - 1) as
    probabilities, and records it in ``seen``."""
    from torch import nn

    from methods.deep.base import DeepDetector

    class Echo(DeepDetector):
        preset, stride, output = "mdvsfa", 1, "probs"

        def build(self) -> nn.Module:
            return nn.Identity()

        def forward_scores(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return (x + 1) / 2

    det = Echo(device="cpu", **params)
    det.use_network(det.build())
    return det


def test_input_size_resizes_like_pil_bilinear():
    """The official MSHNet and DNANet tests shrink with PIL's bilinear resize, which antialiases."""
    from PIL import Image

    seen: list[torch.Tensor] = []
    image = np.zeros((128, 96), np.uint8)
    image[::2] = 255  # stripes: a resize without antialiasing keeps them, PIL's averages them out
    det = _echo(seen, input_size=64)
    det.detect(image.astype(np.float32))
    ours = (seen[0][0, 0].numpy() + 1.0) * 127.5
    pil = np.asarray(Image.fromarray(image).resize((64, 64), Image.BILINEAR), dtype=np.float32)
    assert np.abs(ours - pil).max() < 1.0
    assert det.provenance()["resize"] == "bilinear, antialiased"


def test_the_official_resize_feeds_pils_bilinear_and_the_protocol_recovers_the_networks_map():
    """``resize="pil"``: the network sees exactly PIL's bilinear 8-bit resize of the image, and its 256x256
    map, sent back at native size by nearest neighbour, is what the ``mshnet`` protocol scores."""
    from PIL import Image

    from benchmark.metrics import get_protocol
    from methods.deep.base import DeepDetector

    seen: list[torch.Tensor] = []
    image = np.random.default_rng(3).integers(0, 256, (512, 512)).astype(np.uint8)
    det = _echo(seen, **DeepDetector.protocol_params(256))
    prob = det.detect(image.astype(np.float32) + 1e-5)  # a luma image: whole grey levels up to float error
    pil = np.asarray(Image.fromarray(image).resize((256, 256), Image.BILINEAR), dtype=np.float32)
    assert np.array_equal(np.rint((seen[0][0, 0].numpy() + 1.0) * 127.5), pil)
    network_map = ((seen[0][0, 0] + 1) / 2).numpy()
    assert prob.shape == (512, 512)
    assert np.array_equal(get_protocol("mshnet").prepare(prob, np.zeros((512, 512), bool))[0], network_map)
    assert det.provenance()["resize"] == "PIL bilinear in, nearest back (official test code)"


def test_a_rewritten_weights_file_is_loaded_again_by_a_kept_detector(tmp_path):
    # the runner keeps configured detectors across runs in one process; a file rewritten in between (a new
    # training, a re-published zoo file) must not be scored with the network loaded from its old content
    path = tmp_path / "acm.pth"
    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    maps = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        torch.save(create("acm").build().state_dict(), path)
        os.utime(path, ns=(seed * 10**9, seed * 10**9))  # a distinct mtime even on coarse file-system clocks
        if seed == 0:
            det = create("acm", weights=str(path), device="cpu", precision="float32")
            det.configure("synth")
        maps.append(det.detect(image))
    fresh = create("acm", weights=str(path), device="cpu", precision="float32")
    fresh.configure("synth")
    assert not np.array_equal(maps[0], maps[1]) and np.array_equal(maps[1], fresh.detect(image))
