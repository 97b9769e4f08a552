"""Dataset folders of any name, mask encodings, and the bad split files and specs around them (built in code)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.cli import main as cli_main
from benchmark.datasets import DatasetNotFoundError, SpecError, get_dataset, load_spec
from benchmark.datasets.errors import SplitFileError
from tests.test_dataset_specs import _scene


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_basicirstd(folder: Path, ids: list[str], seed: int = 0, value: int = 255) -> Path:
    """``images/``, ``masks/<id>.png`` and ``img_idx/test_<folder name>.txt``."""
    for k, sample in enumerate(ids):
        image, mask = _scene(seed + k, 1 + k % 3, value=value)
        _save(folder / "images" / f"{sample}.png", image)
        _save(folder / "masks" / f"{sample}.png", mask)
    (folder / "img_idx").mkdir(parents=True, exist_ok=True)
    (folder / "img_idx" / f"test_{folder.name}.txt").write_text("\n".join(ids) + "\n")
    return folder


def _run(tmp_path: Path, dataset: str, name: str, *extra: str) -> tuple[dict, str]:
    out = tmp_path / "runs"
    argv = ["run", "--methods", "tophat", "--dataset", dataset, "--out", str(out), "--name", name, "--jobs", "1"]
    assert cli_main([*argv, *extra]) == 0
    return json.loads((out / name / "run.json").read_text()), (out / name / "table1.md").read_text()


def test_a_basicirstd_folder_of_any_name_runs_by_path(tmp_path: Path) -> None:
    folder = make_basicirstd(tmp_path / "MyThermal", ["a1", "a2", "a3"])
    record, table = _run(tmp_path, str(folder), "mine")
    assert "MyThermal IoU" in table and "3 images listed" in table
    assert record["cells"]["tophat"]["mythermal"]["metrics"]["n_targets"] == 6


def test_a_single_test_list_of_another_name_is_the_test_split(tmp_path: Path) -> None:
    folder = make_basicirstd(tmp_path / "Set", ["x1", "x2"])
    (folder / "img_idx" / "test_Set.txt").rename(folder / "img_idx" / "my_test_list.txt")
    assert get_dataset(str(folder)).ids == ["x1", "x2"]
    (folder / "img_idx" / "test_other.txt").write_text("x1\n")
    with pytest.raises(DatasetNotFoundError, match="img_idx/test_Set.txt"):
        get_dataset(str(folder))  # two test lists: which one is ambiguous


@pytest.mark.parametrize("split_file", ["test.txt", "splits/test.txt"])
def test_a_plain_folder_with_a_split_file(tmp_path: Path, split_file: str) -> None:
    folder = tmp_path / "plain"
    for k in range(3):
        image, mask = _scene(k, 1)
        _save(folder / "images" / f"p{k}.png", image)
        _save(folder / "masks" / f"p{k}.bmp", mask)  # a mask of the same stem, any image extension
    (folder / split_file).parent.mkdir(parents=True, exist_ok=True)
    (folder / split_file).write_text("p0\np2\n")
    ds = get_dataset(str(folder))
    assert ds.ids == ["p0", "p2"] and ds.layout == "plain" and ds.load("p2")[1].sum() == 9


def test_a_folder_without_split_file_scores_every_image_with_a_mask_and_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "loose"
    for k in range(3):
        image, mask = _scene(k, 1)
        _save(folder / "images" / f"q{k}.png", image)
        if k != 1:
            _save(folder / "masks" / f"q{k}.png", mask)
    record, table = _run(tmp_path, str(folder), "loose")
    assert record["datasets"][0]["n_images"] == 2
    assert "no split file: every image that has a mask" in table


def test_a_folder_that_fits_no_layout_lists_what_was_looked_for_there(tmp_path: Path) -> None:
    folder = tmp_path / "Odd"
    (folder / "pics").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError) as info:
        get_dataset(str(folder))
    text = str(info.value)
    assert str(folder) in text and "img_idx/test_Odd.txt" in text and "Found here: pics/" in text


def test_overlap_counts_the_images_two_folders_share(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = make_basicirstd(tmp_path / "SetA", ["a1", "a2", "a3"])
    b = make_basicirstd(tmp_path / "SetB", ["b1", "b2", "b3"], seed=7)
    for mine, theirs in (("b1", "a2"), ("b3", "a3")):  # the same pixels under other names
        (b / "images" / f"{mine}.png").write_bytes((a / "images" / f"{theirs}.png").read_bytes())
    assert cli_main(["overlap", str(a), str(b)]) == 0
    assert "2 image(s) of seta:test also in setb:test" in capsys.readouterr().out


def test_label_masks_count_every_target(tmp_path: Path) -> None:
    """Masks numbering their targets (1, 2, 3) are one encoding for the whole split: none become background."""
    folder = make_basicirstd(tmp_path / "Labels", ["l1", "l2", "l3", "l4"], value=0)
    ds = get_dataset(str(folder))
    assert (ds.mask_encoding, ds.encoding_source, ds.encoding_mismatches) == ("labels", "detected", [])
    record, table = _run(tmp_path, str(folder), "labels")
    assert record["cells"]["tophat"]["labels"]["metrics"]["n_targets"] == 1 + 2 + 3 + 1
    assert "masks labels (detected)" in table


def test_zero_one_masks_and_a_disagreeing_mask_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ones = make_basicirstd(tmp_path / "Ones", ["o1", "o2"], value=1)
    assert get_dataset(str(ones)).mask_encoding == "nonzero" and get_dataset(str(ones)).load("o2")[1].sum() == 18
    mixed = make_basicirstd(tmp_path / "Mixed", ["m1", "m2", "m3"])
    _save(mixed / "masks" / "m2.png", _scene(1, 2, value=1)[1])  # a 0/1 mask among 0/255 ones
    ds = get_dataset(str(mixed))
    assert ds.mask_encoding == "half-scale" and ds.encoding_mismatches == ["m2"]
    assert "m2" in capsys.readouterr().err and ds.describe()["mask_encoding_mismatches"] == ["m2"]


def test_a_declared_encoding_is_used_and_checked_per_mask(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = make_basicirstd(tmp_path / "Decl", ["d1", "d2"], value=0)
    spec = tmp_path / "decl.toml"
    spec.write_text(
        f'name = "decl"\nfolders = ["{folder}"]\nbasicirstd_name = "Decl"\nlayouts = ["basicirstd"]\n'
        'mask_encoding = "half-scale"\n[splits]\ntest = "test"\n'
    )
    ds = get_dataset(str(spec))
    assert ds.encoding_source == "spec" and not ds.load("d1")[1].any()
    assert "d1.png: mask disagrees with the dataset's mask encoding 'half-scale'" in capsys.readouterr().err


@pytest.mark.parametrize("line", ["../outside", "/etc/passwd", "sub/../../x", "..\\..\\x"])
def test_a_split_id_outside_the_dataset_folder_is_an_error(tmp_path: Path, line: str) -> None:
    folder = make_basicirstd(tmp_path / "Esc", ["e1"])
    (folder / "img_idx" / "test_Esc.txt").write_text(f"e1\n{line}\n")
    with pytest.raises(SplitFileError, match="line 2") as info:
        get_dataset(str(folder))
    assert "test_Esc.txt" in str(info.value) and "outside the dataset folder" in str(info.value)


def test_union_cycles_name_every_spec_file_in_the_cycle(tmp_path: Path) -> None:
    (tmp_path / "selfish.toml").write_text('name = "selfish"\nunion = ["selfish"]\n')
    with pytest.raises(SpecError, match="cycle") as info:
        get_dataset("selfish", tmp_path)
    assert str(tmp_path / "selfish.toml") in str(info.value)
    (tmp_path / "ping.toml").write_text('name = "ping"\nunion = ["pong"]\n')
    (tmp_path / "pong.toml").write_text('name = "pong"\nunion = ["ping"]\n')
    with pytest.raises(SpecError, match="cycle") as info:
        get_dataset("ping", tmp_path)
    assert str(tmp_path / "ping.toml") in str(info.value) and str(tmp_path / "pong.toml") in str(info.value)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("layouts = 5\n[splits]\ntest = 'test'\n", "'layouts'"),
        ("layouts = ['basicirstd']\ndisplay = 3\n[splits]\ntest = 'test'\n", "'display'"),
        ("layouts = ['basicirstd']\nmask_encoding = 'grey'\n[splits]\ntest = 'test'\n", "'mask_encoding'"),
        (
            "layouts = [{ images = 'i', masks = 'm', mask_name = '{id}', split_file = 's', splits = 'test' }]\n"
            "[splits]\ntest = 'test'\n",
            "'splits'",
        ),
    ],
)
def test_a_spec_field_of_the_wrong_type_names_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "typed.toml"
    path.write_text("name = 'typed'\n" + text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(path) in str(info.value) and field in str(info.value)
