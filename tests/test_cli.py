"""The ``irbench`` command line: list, run, report and evaluate."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.cli import build_parser, main
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


def _evaluate_tree(tmp_path, n: int, without: tuple[str, ...] = ()):
    """Ground-truth PNGs of the first ``n`` synth test images and perfect predictions of all but ``without``."""
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    ds = SynthDataset("test")
    for sample in ds.ids[:n]:
        gt = ds.load_mask(sample).astype(np.uint8) * 255
        Image.fromarray(gt).save(gt_dir / f"{sample}.png")
        if sample not in without:
            Image.fromarray(gt).save(pred_dir / f"{sample}.png")
    return gt_dir, pred_dir


def test_evaluate_saved_predictions(tmp_path):
    ds = SynthDataset("test")
    gt_dir, pred_dir = _evaluate_tree(tmp_path, 5, without=(ds.ids[4],))
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


def test_evaluate_prints_a_paper_unit_table_and_survives_a_closed_pipe(tmp_path, capsys):
    gt_dir, pred_dir = _evaluate_tree(tmp_path, 3)
    assert main(["evaluate", "--pred-dir", str(pred_dir), "--gt-dir", str(gt_dir)]) == 0
    out = capsys.readouterr().out
    assert "| Images | Targets | IoU(%) ↑ | nIoU(%) ↑ | Pd(%) ↑ | Fa(1e-6) ↓ |" in out
    assert "| 3 |" in out and "| 100.0 | 100.0 | 100.0 | 0.00 |" in out
    piped = subprocess.run(
        f"{sys.executable} -m benchmark.cli evaluate --pred-dir {pred_dir} --gt-dir {gt_dir} | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert piped.returncode == 0 and "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr


def test_version_and_every_option_explained(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.startswith("irbench ")
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, command in commands.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"irbench {name} {action.option_strings or action.dest} has no help"
            if action.option_strings and action.default not in (None, False, []):
                assert "default" in action.help, f"irbench {name} {action.option_strings}: default not stated"
    assert "../shared" not in (build_parser().description or "")


def test_run_limit_and_device_and_plain_progress_lines(tmp_path, capsys):
    args = ["run", "--methods", "tophat,mshnet", "--limit", "3", "--device", "cpu", "--jobs", "1"]
    assert main([*args, "--out", str(tmp_path), "--name", "smoke"]) == 0
    record = json.loads((tmp_path / "smoke" / "run.json").read_text())
    assert record["cells"]["tophat"]["synth"]["metrics"]["n_images"] == 3
    assert record["datasets"][0]["limited_from"] == 24 and record["settings"]["limit"] == 3
    assert next(m for m in record["methods"] if m["name"] == "mshnet")["params"]["device"] == "cpu"
    assert "first 3 of 24 images (--limit)" in (tmp_path / "smoke" / "table1.md").read_text()
    err = capsys.readouterr().err  # not a terminal: plain progress lines, no bar frames
    assert "irbench: 6/6 images (100%)" in err and "\r" not in err


def test_list_datasets_marks_what_is_present(tmp_path, capsys):
    (tmp_path / "SIRST" / "images").mkdir(parents=True)
    (tmp_path / "SIRST" / "masks").mkdir()
    (tmp_path / "SIRST" / "idx_427").mkdir()
    (tmp_path / "SIRST" / "idx_427" / "test.txt").write_text("Misc_1\n")
    assert main(["list", "datasets", "--data-root", str(tmp_path)]) == 0
    lines = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()}
    assert lines["sirst"] == "present" and lines["irstd1k"] == "missing" and lines["synth"] == "present"
