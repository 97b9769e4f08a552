"""The ``irbench`` command line: list, run, report and evaluate."""

import json

import numpy as np
from PIL import Image

from benchmark.cli import main
from benchmark.datasets.synth import SynthDataset


def test_list_commands(capsys):
    for what in ("methods", "datasets", "protocols", "policies"):
        assert main(["list", what]) == 0
    out = capsys.readouterr().out
    assert "tophat" in out and "irstd1k" in out and "basicirstd" in out and "adaptive" in out


def test_run_and_report(tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "--methods",
                "tophat",
                "--jobs",
                "1",
                "--out",
                str(tmp_path),
                "--name",
                "x",
                "--set",
                "tophat.size=7",
                "--compare-paper",
                "--curves",
                "11",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Tables written to" in out and "Top-Hat" in out
    md = (tmp_path / "x" / "table1.md").read_text()
    assert "reports no value for these methods and datasets" in md and "In parentheses" not in md
    curves = json.loads((tmp_path / "x" / "run.json").read_text())["cells"]["tophat"]["synth"]["curves"]
    assert curves["thresholds"] == [k / 11 for k in range(11)] and len(curves["iou"]) == len(curves["pd"]) == 11
    run = json.loads((tmp_path / "x" / "run.json").read_text())
    assert run["methods"][0]["params"]["size"] == 7
    (tmp_path / "x" / "table1.md").unlink()
    assert main(["report", str(tmp_path / "x"), "--format", "md"]) == 0
    assert (tmp_path / "x" / "table1.md").is_file()


def test_errors_are_one_clear_line(capsys):
    assert main(["run", "--methods", "nosuch", "--out", "/tmp/unused"]) == 2
    assert "Unknown method 'nosuch'. Available:" in capsys.readouterr().err
    assert main(["run", "--methods", "tophat", "--dataset", "irstd1k", "--data-root", "/nonexistent"]) == 2
    assert "not found under /nonexistent" in capsys.readouterr().err


def test_evaluate_saved_predictions(tmp_path):
    ds = SynthDataset("test")
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    for sample in ds.ids[:5]:
        _, gt = ds.load(sample)
        Image.fromarray(gt.astype(np.uint8) * 255).save(gt_dir / f"{sample}.png")
        if sample != ds.ids[4]:
            Image.fromarray(gt.astype(np.uint8) * 255).save(pred_dir / f"{sample}.png")  # perfect prediction
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--pred-dir", str(pred_dir), "--gt-dir", str(gt_dir), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["pd"] < 1.0 and result["fa"] == 0.0 and result["n_images"] == 5 and result["skipped"] == []
    assert result["missing_predictions"] == [
        {"id": ds.ids[4], "path": str(pred_dir / f"{ds.ids[4]}.png"), "error": "missing"}
    ]
    for key in ("protocol", "policy", "n_targets", "niou", "precision", "recall", "f1", "scales"):
        assert key in result
    assert main(["evaluate", "--pred-dir", str(pred_dir), "--dataset", "synth", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["n_missing_predictions"] == len(ds.ids) - 4
