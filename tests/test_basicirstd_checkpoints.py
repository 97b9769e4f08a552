"""Third-party checkpoints trained with BasicIRSTD's own train.py: their numbers under irbench's protocol, and the
BasicIRSTD NUAA-SIRST split they were trained on (skipped without ``../shared``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmark.cli import main as cli_main
from benchmark.datasets import get_dataset
from methods.deep.basicirstd_acm import BasicIRSTDACMNet
from methods.deep.checkpoint import load_checkpoint
from tests.conftest import need

TRAINED = "weights/basicirstd-trained"


def _cell(shared: Path, out: Path, method: str, weights: str, dataset: str, *extra: str) -> dict:
    path = need(shared / TRAINED / weights)
    argv = ["run", "--methods", method, "--weights", f"{method}={path}", "--dataset", dataset, "--data-root"]
    argv += [str(shared), "--out", str(out), "--name", "r", "--device", "cpu", "--jobs", "1", *extra]
    assert cli_main(argv) == 0
    return json.loads((out / "r" / "run.json").read_text())["cells"][method][dataset]


def test_basicirstd_nuaa_sirst_lists_are_named_splits_of_sirst(shared_data: Path) -> None:
    need(shared_data / "SIRST" / "basicirstd_split")
    train = get_dataset("sirst", shared_data, "basicirstd-train")
    test = get_dataset("sirst", shared_data, "basicirstd-test")
    assert (len(train), len(test)) == (213, 214) and not set(train.ids) & set(test.ids)
    assert len(set(train.ids) & set(get_dataset("sirst", shared_data, "test").ids)) == 44


@pytest.mark.parametrize(("weights", "iou"), [("ACM_NUAA-SIRST_400_a.pth.tar", 0.6674)])
def test_an_acm_reproduces_its_numbers_on_the_basicirstd_test_list(
    shared_data: Path, tmp_path: Path, weights: str, iou: float
) -> None:
    cell = _cell(shared_data, tmp_path, "acm-basicirstd", weights, "sirst", "--split", "basicirstd-test")
    assert cell["metrics"]["iou"] == pytest.approx(iou, abs=5e-5)
    assert cell["leakage"]["n_seen"] == 0


@pytest.mark.slow
def test_an_acm_on_the_idx427_test_split_is_marked_and_exclude_seen_scores_the_rest(
    shared_data: Path, tmp_path: Path
) -> None:
    marked = _cell(shared_data, tmp_path / "a", "acm-basicirstd", "ACM_NUAA-SIRST_400_a.pth.tar", "sirst")
    assert (marked["leakage"]["n_seen"], marked["metrics"]["n_images"]) == (44, 85)
    excluded = _cell(
        shared_data, tmp_path / "b", "acm-basicirstd", "ACM_NUAA-SIRST_400_a.pth.tar", "sirst", "--exclude-seen"
    )
    assert excluded["leakage"]["excluded"] and excluded["metrics"]["n_images"] == 41


@pytest.mark.slow
def test_the_alcnet_reproduces_its_numbers_on_nudt_sirst_test(shared_data: Path, tmp_path: Path) -> None:
    cell = _cell(shared_data, tmp_path, "alcnet-basicirstd", "ALCNet_NUDT-SIRST_400.pth.tar", "nudt-sirst")
    m = cell["metrics"]
    assert (round(100 * m["iou"], 2), round(100 * m["pd"], 2), round(1e6 * m["fa"], 2)) == (66.94, 96.72, 20.20)
    assert cell["leakage"]["n_seen"] == 0


def test_the_lesps_review_prefix_is_stripped(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = BasicIRSTDACMNet()
    path = tmp_path / "lesps.pth"
    torch.save({"state_dict": {f"backbone.0.{k}": v for k, v in net.state_dict().items()}}, path)
    other = BasicIRSTDACMNet()
    load_checkpoint(other, path)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), other.state_dict().values()))
