"""``irbench train --resume`` reads last.pth with weights_only=True: a planted pickle cannot run code."""

from __future__ import annotations

import pathlib
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.cli import main as cli_main
from benchmark.training.loop import TrainConfig, _rng_state, _set_rng_state, train

torch.set_num_threads(1)

TINY = {
    "dataset": "synth",
    "crop": 32,
    "base": 32,
    "batch": 2,
    "limit": 4,
    "warmup": 0,
    "threads": 1,
    "progress": False,
    "device": "cpu",
}


class _TouchOnUnpickle:
    """Unpickling this calls ``Path.touch(marker)``: the stand-in for arbitrary code in a planted checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return pathlib.Path.touch, (self.marker,)


def _plant(out: Path, marker: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    last = out / "last.pth"
    torch.save({"epoch": 1, "history": [], "payload": _TouchOnUnpickle(marker)}, last)
    return last


def test_planted_pickle_does_not_run_and_the_error_names_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    last = _plant(tmp_path / "run", marker)
    with pytest.raises(ValueError, match="not a valid irbench resume state") as err:
        train(TrainConfig("mshnet", out=tmp_path / "run", epochs=1, resume=True, **TINY), log=lambda m: None)
    assert str(last) in str(err.value)
    assert not marker.exists()
    torch.load(last, weights_only=False)  # the payload is live: the old full unpickling would have run it
    assert marker.exists()


def test_cli_resume_of_a_planted_pickle_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    marker = tmp_path / "MARKER"
    last = _plant(tmp_path / "run", marker)
    code = cli_main(
        [
            "train",
            "--method",
            "mshnet",
            "--epochs",
            "1",
            "--batch",
            "2",
            "--crop",
            "32",
            "--base",
            "32",
            "--limit",
            "4",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--resume",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and not marker.exists()
    assert f"irbench: error: {last} is not a valid irbench resume state" in err


@pytest.mark.parametrize(
    "payload",
    [{"epoch": 1}, [1, 2], {"rng": {"numpy": np.random.get_state()}}],
    ids=["missing-fields", "not-a-dict", "old-format-numpy-state"],
)
def test_foreign_resume_states_are_rejected(tmp_path: Path, payload: object) -> None:
    (tmp_path / "run").mkdir()
    torch.save(payload, tmp_path / "run" / "last.pth")
    with pytest.raises(ValueError, match=r"last\.pth is not a valid irbench resume state"):
        train(TrainConfig("mshnet", out=tmp_path / "run", epochs=1, resume=True, **TINY), log=lambda m: None)


def test_rng_state_is_plain_and_round_trips(tmp_path: Path) -> None:
    random.seed(5)
    np.random.seed(5)
    np.random.standard_normal()  # a cached gaussian in the numpy state
    torch.manual_seed(5)
    torch.save(_rng_state(), tmp_path / "rng.pth")
    expected = (random.random(), np.random.standard_normal(3).tolist(), torch.rand(3).tolist())
    _set_rng_state(torch.load(tmp_path / "rng.pth", weights_only=True))
    assert (random.random(), np.random.standard_normal(3).tolist(), torch.rand(3).tolist()) == expected


def test_genuine_resume_still_works(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(TrainConfig("mshnet", out=out, epochs=1, **TINY), log=lambda m: None)
    state = torch.load(out / "last.pth", weights_only=True)
    assert state["epoch"] == 1 and len(state["history"]) == 1
    logs: list[str] = []
    resumed = train(TrainConfig("mshnet", out=out, epochs=2, resume=True, **TINY), log=logs.append)
    assert any(m.startswith(f"resuming {out / 'last.pth'} after epoch 1") for m in logs)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    assert torch.load(out / "last.pth", weights_only=True)["epoch"] == 2
