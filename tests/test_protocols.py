"""The named protocols: their definitions, resolution handling and lookup errors."""

import dataclasses

import numpy as np
import pytest

from benchmark.metrics import PROTOCOLS, Protocol, detection_metrics, get_protocol


def test_the_three_protocols_differ_exactly_where_documented():
    irb, bas, msh = (PROTOCOLS[n] for n in ("irbench", "basicirstd", "mshnet"))
    assert (irb.eval_size, irb.matcher, irb.fa_counting, irb.fa_normaliser, irb.niou_empty) == (
        None,
        "hungarian",
        "identity",
        "native",
        1.0,
    )
    assert (bas.eval_size, bas.matcher, bas.fa_counting, bas.fa_normaliser, bas.niou_empty) == (
        None,
        "greedy",
        "identity",
        "native",
        0.0,
    )
    assert (msh.eval_size, msh.matcher, msh.fa_counting, msh.fa_normaliser, msh.niou_empty) == (
        256,
        "greedy",
        "area_value",
        "eval",
        0.0,
    )
    assert {p.distance for p in PROTOCOLS.values()} == {3.0}
    for p in PROTOCOLS.values():
        assert p.description.endswith(".") and "3 px" in p.description


def test_get_protocol_lists_the_available_ones():
    assert get_protocol("mshnet") is PROTOCOLS["mshnet"]
    assert get_protocol(PROTOCOLS["irbench"]) is PROTOCOLS["irbench"]
    with pytest.raises(KeyError, match="Unknown protocol 'x'. Available: irbench, basicirstd, mshnet"):
        get_protocol("x")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"matcher": "nearest"}, "matcher"),
        ({"fa_counting": "area"}, "fa_counting"),
        ({"fa_normaliser": "eval"}, "eval_size"),
        ({"eval_size": 256}, "native"),
        ({"distance": 0.0}, "distance"),
    ],
)
def test_invalid_protocols_are_rejected(changes, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(PROTOCOLS["irbench"], **changes)


def test_prepare_resizes_score_bilinearly_and_mask_by_pil_nearest():
    proto = get_protocol("mshnet")
    score = np.zeros((512, 512), np.float32)
    score[:, 257:] = 1.0  # a vertical edge between columns 256 and 257
    gt = np.zeros((512, 512), bool)
    gt[101, 101] = True  # a single pixel at an odd position: PIL's nearest samples the odd rows/cols
    gt[200:204, 200:204] = True
    s, g = proto.prepare(score, gt)
    assert s.dtype == np.float32 and g.dtype == bool and s.shape == g.shape == (256, 256)
    assert g.sum() == 5 and g[50, 50]
    # output column 128 samples input x = 256.5: halfway between 0 and 1
    assert s[0, 127] == 0.0 and s[0, 128] == pytest.approx(0.5) and s[0, 129] == 1.0
    native = get_protocol("irbench")
    s2, g2 = native.prepare(score, gt)
    assert s2.shape == (512, 512) and np.array_equal(g2, gt)
    with pytest.raises(ValueError, match="must be equal"):
        native.prepare(score, gt[:10])


def test_fa_normaliser_native_sum_versus_256_squared_per_image():
    # two images of different native sizes, each with one 4x4 false alarm (no targets)
    gts = [np.zeros((512, 512), bool), np.zeros((256, 384), bool)]
    preds = [g.copy() for g in gts]
    for p in preds:
        p[40:44, 40:44] = True
    native = detection_metrics(preds, gts, "basicirstd")
    assert native["fa"] == pytest.approx(32 / (512 * 512 + 256 * 384))
    proto = get_protocol("mshnet")
    small = [proto.prepare(p.astype(np.float32), g) for p, g in zip(preds, gts)]
    msh = detection_metrics([s > 0.5 for s, _ in small], [g for _, g in small], proto)
    # 512 -> 256: 2x2 of the 4x4 blob survive; 384 -> 256 columns (output x samples input 1.5x + 0.25):
    # only x = 27, 28 (inputs 40.75, 42.25) stay > 0.5, so 4 rows x 2 columns
    fa_pixels = sum(int((s > 0.5).sum()) for s, _ in small)
    assert fa_pixels == 4 + 8
    assert msh["fa"] == pytest.approx(fa_pixels / (2 * 256 * 256))


def test_protocol_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROTOCOLS["irbench"].distance = 5.0  # type: ignore[misc]
    assert isinstance(PROTOCOLS["irbench"], Protocol)


@pytest.mark.parametrize("sizes", [((512, 512), (256, 256)), ((220, 325), (256, 256)), ((592, 400), (256, 256))])
def test_masks_shrink_and_grow_exactly_as_pils_nearest(sizes):
    """The official test code resizes masks with PIL's ``Image.NEAREST``: SIRST's odd sizes included."""
    from PIL import Image

    (h, w), size = sizes
    gt = np.random.default_rng(h + w).random((h, w)) > 0.7
    expected = np.asarray(Image.fromarray(gt.astype(np.uint8) * 255).resize(size[::-1], Image.NEAREST)) > 0
    assert np.array_equal(get_protocol("mshnet").prepare(np.zeros((h, w), np.float32), gt)[1], expected)


def test_pil_nearest_index_equals_pil_on_random_sizes():
    from PIL import Image

    from methods.resample import pil_nearest

    rng = np.random.default_rng(0)
    for _ in range(300):
        h, w, oh, ow = (int(v) for v in rng.integers(1, 700, 4))
        grid = np.arange(h * w, dtype=np.int32).reshape(h, w)
        expected = np.asarray(Image.fromarray(grid, "I").resize((ow, oh), Image.NEAREST))
        assert np.array_equal(pil_nearest(grid, (oh, ow)), expected), (h, w, oh, ow)


def test_under_the_mshnet_protocol_a_deep_network_runs_at_256_unless_the_user_sets_input_size(tmp_path):
    import json

    from benchmark.cli import main as cli_main

    base = ["run", "--methods", "acm,tophat", "--dataset", "synth", "--limit", "2", "--jobs", "1"]
    base += ["--protocol", "mshnet", "--out", str(tmp_path)]
    assert cli_main([*base, "--name", "p"]) == 0
    assert cli_main([*base, "--name", "u", "--set", "acm.input_size=128"]) == 0
    params = {}
    for name in ("p", "u"):
        record = json.loads((tmp_path / name / "run.json").read_text())
        params[name] = {m["name"]: m["params"] for m in record["methods"]}
    assert (params["p"]["acm"]["input_size"], params["p"]["acm"]["resize"]) == (256, "pil")
    assert (params["u"]["acm"]["input_size"], params["u"]["acm"]["resize"]) == (128, "antialiased")
    assert "input_size" not in params["p"]["tophat"]
    assert (
        "ACM: 256x256 (PIL bilinear in, nearest back (official test code))"
        in (tmp_path / "p" / "table1.md").read_text()
    )


def test_irstd1k_test_masks_at_256_count_the_official_294_targets(shared_data):
    """The official MSHNet test prints Pd as 262/294 for a checkpoint on IRSTD-1k's test split: its masks,
    shrunk by PIL's nearest neighbour, hold 294 targets (OpenCV's nearest gave 291)."""
    from benchmark.datasets import get_dataset
    from benchmark.evaluation import score_maps

    ds = get_dataset("irstd1k", shared_data, "test")
    samples = [(i, np.zeros(m.shape, np.float32), m) for i, m in ((i, ds.load_mask(i)) for i in ds.ids)]
    assert score_maps(samples, "mshnet", "fixed:0.5").metrics["n_targets"] == 294


@pytest.mark.slow
def test_mshnet_on_irstd1k_under_the_mshnet_protocol_matches_the_official_test(shared_data, tmp_path):
    """The zoo's MSHNet (NUDT-SIRST) weights read back to float32, on IRSTD-1k test: the official
    ``main.py --mode test`` prints IoU 0.185484, Pd 262/294, Fa 591.30 for them; irbench differs on XDU999
    only (its RGB channels differ, irbench reads luma), which moves one predicted pixel."""
    import json

    import torch

    from benchmark.cli import main as cli_main
    from methods.deep.base import sha256_file
    from methods.deep.checkpoint import read_state_dict
    from methods.deep.zoo import ZOO_DIR

    path = ZOO_DIR / "mshnet-nudt-sirst.pth.xz"
    sha = "2b8a2099cb99b7e4f7257943138a960a192378bdf8ecb0f982513c61d0139569"
    assert sha256_file(path) == sha, "the zoo file changed: measure the official main.py on it again"
    state = read_state_dict(path)
    weights = tmp_path / "w.pth"
    torch.save({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, weights)
    argv = ["run", "--methods", "mshnet", "--weights", f"mshnet={weights}", "--dataset", "irstd1k", "--protocol"]
    argv += ["mshnet", "--data-root", str(shared_data), "--out", str(tmp_path), "--name", "r", "--device", "cpu"]
    assert cli_main(argv) == 0
    m = json.loads((tmp_path / "r" / "run.json").read_text())["cells"]["mshnet"]["irstd1k"]["metrics"]
    assert (m["n_targets"], round(m["pd"] * m["n_targets"])) == (294, 262)
    assert m["iou"] == pytest.approx(0.185469, abs=2e-6) and m["fa"] * 1e6 == pytest.approx(590.69, abs=0.01)
