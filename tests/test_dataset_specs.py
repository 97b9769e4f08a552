"""Datasets as specs: SIRST-v2 and NUDT-SIRST-Sea layouts, user specs, unions, folders, background-only images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.cli import main as cli_main
from benchmark.datasets import SpecError, builtin_specs, get_dataset, load_spec
from benchmark.metrics import DetectionMetrics
from benchmark.policies import parse_policy
from methods.registry import create


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _scene(seed: int, targets: int, size: int = 48, value: int = 255) -> tuple[np.ndarray, np.ndarray]:
    """A textured background with ``targets`` bright 3x3 squares, and their mask: target k marked ``value``,
    or, for ``value=0``, its number k (a label mask)."""
    rng = np.random.default_rng(seed)
    image = rng.normal(90, 4, (size, size))
    mask = np.zeros((size, size), np.uint8)
    for t in range(targets):
        y, x = 8 + 14 * t, 10 + 9 * t
        image[y : y + 3, x : x + 3] += 80
        mask[y : y + 3, x : x + 3] = value or t + 1
    return np.clip(image, 0, 255).astype(np.uint8), mask


def make_sirst_v2(root: Path, n_target: int = 3, n_background: int = 2) -> Path:
    """open-sirst-v2's shape: mixed/, annotations/masks/<id>_pixels0.png (target images only), splits/."""
    folder = root / "open-sirst-v2"
    ids = []
    for i in range(n_target):
        image, mask = _scene(i, targets=1 + i % 2)
        _save(folder / "mixed" / f"Misc_{i}.png", image)
        _save(folder / "annotations" / "masks" / f"Misc_{i}_pixels0.png", mask)
        ids.append(f"Misc_{i}")
    for i in range(n_background):
        _save(folder / "mixed" / f"S4_{i}.png", _scene(100 + i, targets=0)[0])
        ids.append(f"S4_{i}")
    (folder / "splits").mkdir(parents=True)
    (folder / "splits" / "test_full.txt").write_text("\n".join(ids) + "\n")
    (folder / "splits" / "trainval_full.txt").write_text(ids[0] + "\n")
    return folder


def make_folder_set(folder: Path, ids: list[str], seed: int) -> None:
    """A set in a simple layout of its own: img/<id>.png, gt/<id>.png, test.txt."""
    for k, sample in enumerate(ids):
        image, mask = _scene(seed + k, targets=1)
        _save(folder / "img" / f"{sample}.png", image)
        _save(folder / "gt" / f"{sample}.png", mask)
    (folder / "test.txt").write_text("\n".join(ids) + "\n")


def write_spec(path: Path, name: str, folder: str) -> Path:
    path.write_text(
        f'name = "{name}"\ndisplay = "{name.upper()}"\nfolders = ["{folder}"]\n'
        'layouts = [{ name = "mine", images = "img", masks = "gt", mask_name = "{id}.png", '
        'split_file = "{split}.txt" }]\n[splits]\ntest = "test"\n[facts]\nmean = 90.0\nstd = 4.0\n'
    )
    return path


def _scores(dataset, method: str = "tophat") -> dict:
    """The metrics of ``method`` under its default policy, scored image by image in-process."""
    det, acc = create(method), DetectionMetrics()
    policy = parse_policy("adaptive")
    for sample in dataset.ids:
        image, gt = dataset.load(sample)
        acc.update(policy.binarise(det(image)), gt)
    return acc.compute()


def test_sirst_v2_layout_with_background_only_images(tmp_path: Path) -> None:
    make_sirst_v2(tmp_path)
    ds = get_dataset("sirst-v2", tmp_path)
    assert ds.display == "SIRST-v2" and len(ds) == 5 and ds.layout == "public"
    image, gt = ds.load("S4_1")  # no mask file: background-only
    assert image.shape == gt.shape == (48, 48) and not gt.any()
    assert get_dataset("open-sirst-v2", tmp_path, "train").ids == ["Misc_0"]
    metrics = _scores(ds)
    assert metrics["n_background"] == 2 and metrics["n_targets"] == 4  # 1 + 2 + 1 targets


def test_run_scores_sirst_v2_by_spec_and_reports_background_images(tmp_path: Path) -> None:
    make_sirst_v2(tmp_path)
    out = tmp_path / "runs"
    argv = ["run", "--methods", "tophat,pstnn", "--dataset", "sirst-v2", "--data-root", str(tmp_path)]
    assert cli_main([*argv, "--out", str(out), "--name", "v2", "--jobs", "1"]) == 0
    record = json.loads((out / "v2" / "run.json").read_text())
    assert record["datasets"][0]["display"] == "SIRST-v2"
    metrics = record["cells"]["tophat"]["sirst-v2"]["metrics"]
    assert (metrics["n_images"], metrics["n_background"], metrics["n_targets"]) == (5, 2, 4)
    table = (out / "v2" / "table1.md").read_text()
    assert "SIRST-v2 IoU" in table and "5 images listed, all scored, 2 of them background-only" in table


def test_a_target_image_without_a_mask_is_still_an_error_elsewhere(tmp_path: Path) -> None:
    folder = make_sirst_v2(tmp_path / "a")
    (folder / "annotations" / "masks" / "Misc_0_pixels0.png").unlink()
    assert not get_dataset("sirst-v2", tmp_path / "a").load("Misc_0")[1].any()  # SIRST-v2: background
    (tmp_path / "b" / "SIRST" / "idx_427").mkdir(parents=True)
    (tmp_path / "b" / "SIRST" / "images").mkdir()
    _save(tmp_path / "b" / "SIRST" / "images" / "Misc_0.png", _scene(0, 1)[0])
    (tmp_path / "b" / "SIRST" / "idx_427" / "test.txt").write_text("Misc_0\n")
    with pytest.raises(Exception, match="Misc_0_pixels0.png"):
        get_dataset("sirst", tmp_path / "b").load("Misc_0")  # SIRST: every image has a mask


def test_nudt_sirst_sea_in_the_basicirstd_layout(tmp_path: Path) -> None:
    folder = tmp_path / "NUDT-SIRST-Sea"
    image, mask = _scene(3, targets=2)
    _save(folder / "images" / "0001.png", image)
    _save(folder / "masks" / "0001.png", mask)
    (folder / "img_idx").mkdir()
    (folder / "img_idx" / "test_NUDT-SIRST-Sea.txt").write_text("0001\n")
    ds = get_dataset("nudt-sirst-sea", tmp_path)
    assert ds.layout == "basicirstd" and ds.load("0001")[1].sum() == 18
    assert ds.describe()["facts"]["mean"] == pytest.approx(43.624, abs=1e-3)


def test_user_spec_by_path_and_in_the_data_root(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    make_folder_set(tmp_path / "setA", ["a1", "a2"], seed=0)
    spec = write_spec(tmp_path / "mine.toml", "mine", "setA")
    ds = get_dataset(str(spec), tmp_path)
    assert (ds.name, ds.display, ds.ids) == ("mine", "MINE", ["a1", "a2"])
    assert get_dataset("mine", tmp_path).ids == ["a1", "a2"]  # found by name among <root>/*.toml
    assert cli_main(["list", "datasets", "--data-root", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert "mine" in listing and "present" in listing and str(spec) in listing


def test_union_of_two_sets_equals_scoring_them_together(tmp_path: Path) -> None:
    make_folder_set(tmp_path / "setA", ["a1", "a2"], seed=0)
    make_folder_set(tmp_path / "setB", ["b1", "b2", "b3"], seed=10)
    write_spec(tmp_path / "seta.toml", "seta", "setA")
    write_spec(tmp_path / "setb.toml", "setb", "setB")
    (tmp_path / "both.toml").write_text('name = "both"\nunion = ["seta", "setb"]\n')
    union = get_dataset("both", tmp_path)
    assert union.ids == ["seta/a1", "seta/a2", "setb/b1", "setb/b2", "setb/b3"]
    a, b = get_dataset("seta", tmp_path), get_dataset("setb", tmp_path)
    assert np.array_equal(union.load("setb/b2")[0], b.load("b2")[0])
    pooled = DetectionMetrics()
    det, policy = create("tophat"), parse_policy("adaptive")
    for ds in (a, b):
        for sample in ds.ids:
            image, gt = ds.load(sample)
            pooled.update(policy.binarise(det(image)), gt)
    assert _scores(union) == pooled.compute()
    assert set(union.describe()["members"]) == {"seta", "setb"}


def test_a_folder_in_a_known_layout_needs_no_spec(tmp_path: Path) -> None:
    folder = make_sirst_v2(tmp_path / "downloads")
    ds = get_dataset(str(folder), None)
    assert ds.name == "open-sirst-v2" and len(ds) == 5 and "facts" not in ds.describe()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = 'x'\nfolders = ['x']\n", "needs 'layouts'"),
        ("name = 'x'\nlayouts = ['basicirstd']\n", "needs 'splits'"),
        (
            "name = 'x'\nlayouts = [{ images = 'i', masks = 'm', mask_name = 'm.png', split_file = 's' }]\n"
            "[splits]\ntest = 'test'\n",
            "must contain {id}",
        ),
        ("name = 'x'\ncolour = 'red'\n", "unknown keys colour"),
        ("name = 'x'\nunion = ['a']\n[facts]\nmean = 'high'\n", "facts.mean"),
        ("name = \n", "not a valid TOML"),
    ],
)
def test_bad_specs_name_the_file_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message) as info:
        load_spec(path)
    assert str(path) in str(info.value)


def test_builtin_specs_and_their_statistics_match_the_deep_presets() -> None:
    from methods.deep.presets import BASICIRSTD_STATS

    specs = builtin_specs()
    assert {"synth", "irstd1k", "nudt-sirst", "sirst", "sirst-v2", "nudt-sirst-sea", "sirst3"} <= set(specs)
    for name, spec in specs.items():
        if "mean" in spec.facts:
            assert (spec.facts["mean"], spec.facts["std"]) == pytest.approx(BASICIRSTD_STATS[name])
