"""Bad command-line values, bad run records, a diverged training, a missing device, a corrupt zoo manifest and
stop signals: each ends in one line that names the option, file or epoch, and loses nothing finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmark.cli import main as cli_main
from benchmark.training.loop import Trainer
from methods.deep.zoo import read_manifest
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ci", "0"], "--ci: the confidence level must be in (0, 100)"),
        (["--ci", "150"], "--ci: the confidence level must be in (0, 100)"),
        (["--jobs", "0"], "--jobs: must be -1 (all cores) or >= 1"),
        (["--name", "../x"], "--name: must be one folder name under --out"),
        (["--name", "a\nb"], "--name: must be one folder name under --out"),
    ],
)
def test_option_values_out_of_range_are_refused_with_the_valid_range(
    argv: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(["run", "--methods", "tophat", *argv])
    assert info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("doc", "message"),
    [([], "expected a JSON object, got list"), ({"cells": {"tophat": {"synth": 5}}}, "cell 'tophat'/'synth'")],
)
def test_report_refuses_a_record_of_the_wrong_shape_in_one_line(
    tmp_path: Path, doc: object, message: str, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "run.json").write_text(json.dumps(doc))
    assert cli_main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "run.json") in err and message in err


def test_a_diverged_training_names_the_epoch_and_keeps_the_last_finite_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    step, calls = Trainer.step, []

    def failing(self: Trainer, *args: object) -> float:
        calls.append(1)
        if len(calls) > 2:  # epoch 1 has 2 batches; epoch 2's first step diverges
            raise FloatingPointError("training loss is nan (method acm, loss iou)")
        return step(self, *args)

    monkeypatch.setattr(Trainer, "step", failing)
    argv = ["train", "--method", "acm", "--epochs", "3", "--crop", "32", "--base", "32", "--batch", "2"]
    argv += ["--limit", "6", "--threads", "1", "--device", "cpu", "--out", str(tmp_path)]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("irbench: error: training diverged in epoch 2: training loss is nan") and "epoch 1" in err
    state = torch.load(tmp_path / "last.pth", weights_only=True)
    assert state["epoch"] == 1 and (tmp_path / "best.pth").is_file()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_train_checks_the_device_before_any_work(capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["train", "--method", "acm", "--device", "cuda", "--dataset", "no-such-set"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "device 'cuda'" in err and "use --device cpu" in err


def test_a_corrupt_zoo_manifest_names_the_file_and_the_package(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"entries": [{"method": "acm", ')
    with pytest.raises(ValueError, match="manifest.json: the zoo manifest of the irbench package cannot be read"):
        read_manifest(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="manifest.json: the zoo manifest"):
        read_manifest(path)


@pytest.mark.parametrize(("sig", "name", "code"), [(signal.SIGTERM, "SIGTERM", 143), (signal.SIGINT, "Ctrl-C", 130)])
def test_a_stop_signal_ends_the_run_in_one_line_without_worker_tracebacks(
    tmp_path: Path, sig: signal.Signals, name: str, code: int
) -> None:
    argv = [sys.executable, "-m", "benchmark.cli", "run", "--methods", "ipi", "--dataset", "synth"]
    argv += ["--out", str(tmp_path), "--name", "r", "--jobs", "2"]
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # wait for the first progress line: the workers are running
        if "images (" in line:
            break
    time.sleep(1)
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # Ctrl-C reaches the whole process group
    else:
        proc.send_signal(sig)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == code
    assert "Traceback" not in rest and rest.strip().splitlines()[-1] == (
        f"irbench: stopped by {name}; finished work is kept (the same command resumes it)"
    )
