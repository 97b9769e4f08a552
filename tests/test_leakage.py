"""Train/test leakage: a checkpoint scored on images it was trained on is flagged, matched by content."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from benchmark.cli import main as cli_main
from benchmark.record import RunRecord
from benchmark.report import table1
from benchmark.runner import RunConfig, run
from methods.registry import Detector, TrainingSet, create, register
from tests.conftest import need


@register(
    "test-memoriser",
    family="deep",
    kind="deep",
    paper="test",
    defaults={"train": "tr:test", "batch_size": 4},
    policy="fixed:0.5",
)
class Memoriser(Detector):
    """Scores bright pixels; its 'weights' were trained on the split named by ``train`` (dataset:split)."""

    batched = True

    def detect_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        return [(image > 150).astype(np.float32) for image in images]

    def training_set(self) -> TrainingSet | None:
        dataset, _, split = self.params["train"].partition(":")
        return TrainingSet(f"{dataset} {split}", dataset=dataset, split=split)


def _image(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(60, 120, (32, 32)).astype(np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    y, x = 5 + seed % 20, 8 + (3 * seed) % 18
    image[y : y + 3, x : x + 3] = 200
    mask[y : y + 3, x : x + 3] = 255
    if seed % 2:  # a false alarm on odd images
        image[25:27, 2:4] = 220
    return image, mask


def _set(root: Path, name: str, items: dict[str, int], bmp: tuple[str, ...] = ()) -> None:
    """A dataset ``name`` of images ``{id: seed}`` (ids in ``bmp`` saved as BMP) and its spec."""
    folder = root / name
    (folder / "img").mkdir(parents=True)
    (folder / "gt").mkdir()
    for sample_id, seed in items.items():
        image, mask = _image(seed)
        Image.fromarray(image).save(folder / "img" / f"{sample_id}.{'bmp' if sample_id in bmp else 'png'}")
        Image.fromarray(mask).save(folder / "gt" / f"{sample_id}.png")
    (folder / "test.txt").write_text("\n".join(items) + "\n")
    (root / f"{name}.toml").write_text(
        f'name = "{name}"\nfolders = ["{name}"]\n'
        'layouts = [{ images = "img", masks = "gt", mask_name = "{id}.png", split_file = "{split}.txt" }]\n'
        '[splits]\ntest = "test"\n'
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    _set(tmp_path, "tr", {"a": 1, "b": 2, "c": 3})
    # b and c again under other names, c re-encoded losslessly as BMP; d and e are new
    _set(tmp_path, "te", {"x_b": 2, "y_c": 3, "d": 4, "e": 5}, bmp=("y_c",))
    _set(tmp_path, "unseen", {"d": 4, "e": 5})
    _set(tmp_path, "other", {"p": 6, "q": 7})
    return tmp_path


def _run(root: Path, datasets: str, name: str, **extra: Any) -> RunRecord:
    config = RunConfig(
        methods=["test-memoriser"], datasets=datasets.split(","), data_root=str(root), out=root / "runs", name=name
    )
    for key, value in extra.items():
        setattr(config, key, value)
    return RunRecord.read(run(config, log=lambda m: None))


def test_overlap_is_found_by_content_across_renames_and_formats(root: Path) -> None:
    record = _run(root, "te,other", "r1")
    leak = record.cell("test-memoriser", "te").leakage
    assert leak == {
        "training_set": "tr test",
        "n_images": 4,
        "n_seen": 2,
        "seen": ["x_b", "y_c"],
        "excluded": False,
    }
    assert record.cell("test-memoriser", "other").leakage["n_seen"] == 0
    assert record.cell("test-memoriser", "te").metrics["n_images"] == 4  # scored on all, flagged
    table = table1(record)
    assert table.rows[0][0] == "test-memoriser †"
    notes = " ".join(table.notes)
    assert "2 of 4 evaluated images are in its weights' training set (tr test)" in notes
    assert "No train/test overlap found: test-memoriser on other" in notes


def test_exclude_seen_equals_scoring_the_unseen_subset(root: Path) -> None:
    excluded = _run(root, "te", "r2", exclude_seen=True).cell("test-memoriser", "te")
    direct = _run(root, "unseen", "r3").cell("test-memoriser", "unseen")
    assert excluded.leakage["excluded"] and excluded.metrics == direct.metrics
    assert excluded.metrics["n_images"] == 2


def test_every_image_seen_with_exclude_seen_is_a_cell_without_usable_images(root: Path) -> None:
    cell = _run(root, "tr", "r4", exclude_seen=True).cell("test-memoriser", "tr")
    assert cell.status == "no usable images" and "--exclude-seen" in cell.reason


def test_an_absent_training_set_is_reported_unchecked(root: Path) -> None:
    record = _run(root, "te", "r5", params={"test-memoriser": {"train": "nudt-sirst:train"}})
    leak = record.cell("test-memoriser", "te").leakage
    assert "cannot be read here" in leak["unresolved"] and "n_seen" not in leak
    assert any("Train/test overlap not checked" in n for n in table1(record).notes)


def test_overlap_command(root: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["overlap", "te", "tr", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "te:test (4 images) and tr:test (3 images): 2 image(s)" in out
    assert "x_b = b" in out and "y_c = c" in out


ALCNET = "weights/mxnet-official/alcnet_BottomUpLocal_r_1_b_4_0.7614.params"


def test_released_checkpoints_know_their_training_sets(shared_data: Path) -> None:
    alcnet = create("alcnet", weights=str(need(shared_data / ALCNET)))
    alcnet.configure("sirst")
    assert alcnet.training_set() == TrainingSet(
        "ALCNet official MXNet weights (YimianDai/open-alcnet): sirst trainval", dataset="sirst", split="trainval"
    )
    lesps = create("acm-basicirstd", weights=str(need(shared_data / "weights/basicirstd-format/ACM_full.pth.tar")))
    lesps.configure("sirst")
    assert lesps.training_set().dataset == "sirst3"


@pytest.mark.slow
@pytest.mark.parametrize(("split", "seen"), [("test", 0), ("trainval", 341)])
def test_official_alcnet_on_sirst_test_and_trainval(shared_data: Path, tmp_path: Path, split: str, seen: int) -> None:
    weights, data = need(shared_data / ALCNET), need(shared_data / "SIRST").parent
    argv = ["run", "--methods", "alcnet", "--weights", f"alcnet={weights}", "--dataset", "sirst", "--split", split]
    argv += ["--data-root", str(data), "--out", str(tmp_path), "--name", split, "--device", "cpu"]
    assert cli_main(argv) == 0
    leak = json.loads((tmp_path / split / "run.json").read_text())["cells"]["alcnet"]["sirst"]["leakage"]
    usable = 85 if split == "test" else 341  # Misc_111 (test) is unusable: its mask has another size
    assert (leak["n_seen"], leak["n_images"]) == (seen, usable)


def test_rows_on_different_subsets_are_marked_and_bolded_per_subset(root: Path) -> None:
    config = RunConfig(
        methods=["test-memoriser", "tophat"], datasets=["te"], data_root=str(root), out=root / "runs", name="mix"
    )
    config.exclude_seen = True
    record = RunRecord.read(run(config, log=lambda m: None))
    table = table1(record)
    labels = [row[0] for row in table.rows]
    assert "test-memoriser ‡" in labels and "Top-Hat" in labels  # tophat has no weights: whole split
    notes = " ".join(table.notes)
    assert "‡ --exclude-seen" in notes and "† " not in notes
    assert "Images per row: test-memoriser: 2; Top-Hat: 4" in notes
    assert table.rows[0][2:] == table.rows[1][2:]  # equal values, but on different images: nothing compared
    assert not any(any(marks) for marks in table.bold)


def test_exclude_seen_that_cannot_read_the_training_set_says_so(root: Path) -> None:
    lines: list[str] = []
    config = RunConfig(
        methods=["test-memoriser"], datasets=["te"], data_root=str(root), out=root / "runs", name="unres"
    )
    config.exclude_seen, config.params = True, {"test-memoriser": {"train": "nudt-sirst:train"}}
    record = RunRecord.read(run(config, log=lines.append))
    leak = record.cell("test-memoriser", "te").leakage
    assert leak["excluded"] is False and "not applied" in leak["exclude_seen"]
    assert any("--exclude-seen could not act on test-memoriser on te" in line for line in lines)
    assert record.cell("test-memoriser", "te").metrics["n_images"] == 4
    assert any("--exclude-seen not applied, every image scored" in n for n in table1(record).notes)
