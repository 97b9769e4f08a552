"""``irbench evaluate`` scores missing, unreadable or wrongly sized predictions as empty ones (``--strict``: error)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.cli import main
from benchmark.offline import MissingPredictionsError, evaluate_predictions

IDS = [f"img{i}" for i in range(6)]
SHAPE = (16, 20)
METRICS = ("iou", "niou", "pd", "fa", "n_images", "n_targets", "precision", "recall", "f1")


def _mask(index: int) -> np.ndarray:
    """A bool mask with one or two 2x2 targets, placed by ``index``."""
    mask = np.zeros(SHAPE, bool)
    mask[2 + index : 4 + index, 3:5] = True
    if index % 2:
        mask[10:12, 12 + index : 14 + index] = True
    return mask


def _save(path: Path, mask: np.ndarray) -> None:
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """A ground-truth folder and a prediction folder holding perfect predictions of every id."""
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    for index, sample in enumerate(IDS):
        _save(gt_dir / f"{sample}.png", _mask(index))
        _save(pred_dir / f"{sample}.png", _mask(index))
    return gt_dir, pred_dir


def _metrics(result: dict) -> dict:
    return {k: result[k] for k in METRICS}


def test_missing_predictions_score_as_all_zero_maps(folders, tmp_path):
    gt_dir, pred_dir = folders
    zero_dir = tmp_path / "zero"
    zero_dir.mkdir()
    for sample in IDS:
        (zero_dir / f"{sample}.png").write_bytes((pred_dir / f"{sample}.png").read_bytes())
    for sample in IDS[1:3]:
        (pred_dir / f"{sample}.png").unlink()
        _save(zero_dir / f"{sample}.png", np.zeros(SHAPE, bool))
    result = evaluate_predictions(str(pred_dir), gt_dir=str(gt_dir))
    assert _metrics(result) == _metrics(evaluate_predictions(str(zero_dir), gt_dir=str(gt_dir)))
    assert result["n_images"] == len(IDS) and result["pd"] < 1.0 and result["fa"] == 0.0
    assert result["n_missing_predictions"] == 2 and result["skipped"] == []
    assert result["missing_predictions"] == [
        {"id": s, "path": str(pred_dir / f"{s}.png"), "error": "missing"} for s in IDS[1:3]
    ]


def test_unreadable_and_wrongly_sized_predictions_score_empty(folders):
    gt_dir, pred_dir = folders
    (pred_dir / f"{IDS[0]}.png").write_bytes(np.random.default_rng(0).bytes(200))
    _save(pred_dir / f"{IDS[1]}.png", np.ones((8, 8), bool))
    result = evaluate_predictions(str(pred_dir), gt_dir=str(gt_dir))
    bad = {e["id"]: e for e in result["missing_predictions"]}
    assert set(bad) == {IDS[0], IDS[1]} and result["n_missing_predictions"] == 2
    assert bad[IDS[0]]["path"] == str(pred_dir / f"{IDS[0]}.png") and "unreadable" in bad[IDS[0]]["error"]
    assert "size mismatch (8x8, ground truth 20x16" in bad[IDS[1]]["error"]
    assert result["n_images"] == len(IDS) and result["fa"] == 0.0
    assert result["n_targets"] - round(result["pd"] * result["n_targets"]) == 1 + 2  # img0: 1, img1: 2 targets


def test_unreadable_ground_truth_is_skipped_not_missing(folders):
    gt_dir, pred_dir = folders
    (gt_dir / f"{IDS[2]}.png").write_bytes(b"not a png")
    result = evaluate_predictions(str(pred_dir), gt_dir=str(gt_dir))
    assert [e["id"] for e in result["skipped"]] == [IDS[2]] and "cannot read mask" in result["skipped"][0]["error"]
    assert result["missing_predictions"] == [] and result["n_images"] == len(IDS) - 1 and result["pd"] == 1.0


def test_strict_is_an_error_naming_the_ids(folders, tmp_path, capsys):
    gt_dir, pred_dir = folders
    (pred_dir / f"{IDS[3]}.png").unlink()
    (pred_dir / f"{IDS[4]}.png").write_bytes(b"\x00garbage")
    out = tmp_path / "scores.json"
    argv = ["evaluate", "--pred-dir", str(pred_dir), "--gt-dir", str(gt_dir), "--json", str(out), "--strict"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("irbench: error: 2 of 6 predictions missing") and "--strict" in err
    assert f"{IDS[3]} (missing: {pred_dir / IDS[3]}.png)" in err and f"{IDS[4]} (unreadable" in err
    assert not out.exists()
    with pytest.raises(MissingPredictionsError, match=IDS[3]):
        evaluate_predictions(str(pred_dir), gt_dir=str(gt_dir), strict=True)


def test_without_strict_a_summary_line_goes_to_stderr(folders, tmp_path, capsys):
    gt_dir, pred_dir = folders
    for sample in IDS:
        (pred_dir / f"{sample}.png").unlink()
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--pred-dir", str(pred_dir), "--gt-dir", str(gt_dir), "--json", str(out)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("irbench: 6 of 6 predictions missing or unreadable, scored as empty")
    assert f"{IDS[0]} (missing: {pred_dir / IDS[0]}.png)" in err[0] and "use --strict" in err[0]
    result = json.loads(out.read_text())
    assert result["pd"] == 0.0 and result["iou"] == 0.0 and result["n_missing_predictions"] == 6


def test_summary_lists_ten_and_counts_the_rest(tmp_path, capsys):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    for index in range(13):
        _save(gt_dir / f"m{index:02d}.png", _mask(index % 6))
    assert main(["evaluate", "--pred-dir", str(pred_dir), "--gt-dir", str(gt_dir), "--json", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err
    assert "13 of 13 predictions" in err and "m09 (missing" in err and "m10" not in err
    assert err.rstrip().endswith("... and 3 more")


def test_upper_case_extension_is_found(folders):
    gt_dir, pred_dir = folders
    (pred_dir / f"{IDS[5]}.png").rename(pred_dir / f"{IDS[5]}.PNG")
    (pred_dir / f"{IDS[4]}.png").rename(pred_dir / f"{IDS[4]}.Bmp")
    result = evaluate_predictions(str(pred_dir), gt_dir=str(gt_dir))
    assert result["missing_predictions"] == [] and result["pd"] == 1.0 and result["iou"] == 1.0
    (pred_dir / f"{IDS[5]}.PNG").rename(pred_dir / f"{IDS[5].upper()}.PNG")  # the id itself stays case-sensitive
    missing = evaluate_predictions(str(pred_dir), gt_dir=str(gt_dir))["missing_predictions"]
    assert [(e["id"], e["error"]) for e in missing] == [(IDS[5], "missing")]
