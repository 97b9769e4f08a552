"""Checkpoint reading and strict loading for every format released IRSTD checkpoints come in."""

from __future__ import annotations

import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from methods.deep.checkpoint import (
    CheckpointError,
    gluon_state_dict,
    load_checkpoint,
    read_state_dict,
)
from tests.conftest import need

torch.set_num_threads(1)


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(4, 1, 1))


def _trained() -> Small:
    torch.manual_seed(0)
    net = Small()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
        net.bn.running_mean.normal_()
        net.bn.running_var.uniform_(0.5, 2.0)
        net.bn.num_batches_tracked.fill_(7)
    return net


def _assert_same(a: nn.Module, b: nn.Module, skip: tuple[str, ...] = ()) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        if k not in skip:
            assert torch.equal(sa[k], sb[k]), k


def _prefixed(state: dict, prefix: str) -> OrderedDict:
    return OrderedDict((prefix + k, v) for k, v in state.items())


@pytest.mark.parametrize(
    "fmt", ["bare", "state_dict", "net", "model_state", "module.", "model.", "epoch-dict", "module.model."]
)
def test_round_trip_formats(tmp_path: Path, fmt: str) -> None:
    src = _trained()
    sd = src.state_dict()
    payload = {
        "bare": sd,
        "state_dict": {"state_dict": sd, "epoch": 3, "mean_IOU": 0.7},
        "net": {"net": sd, "optimizer": {"state": {}}, "epoch": 1, "iou": 0.5},
        "model_state": {"epoch": 2, "it": 10, "model_state": sd, "optimizer_state": {}},
        "module.": _prefixed(sd, "module."),
        "model.": {"epoch": 400, "state_dict": _prefixed(sd, "model."), "total_loss": [0.1]},
        "epoch-dict": {"epoch": 5, "state_dict": sd, "loss": 0.2},
        "module.model.": _prefixed(sd, "module.model."),
    }[fmt]
    path = tmp_path / "ckpt.pth.tar"
    torch.save(payload, path)
    dst = Small()
    report = load_checkpoint(dst, path)
    assert report.missing == [] and report.unexpected == []
    _assert_same(src, dst)


def test_missing_num_batches_tracked_is_filled(tmp_path: Path) -> None:
    src = _trained()
    old = OrderedDict((k, v) for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked"))
    torch.save(old, tmp_path / "old.pth")
    dst = Small()
    load_checkpoint(dst, tmp_path / "old.pth")
    _assert_same(src, dst, skip=("bn.num_batches_tracked",))


def test_whole_pickled_module_without_its_code(tmp_path: Path) -> None:
    """A torch.save(net) whose class lives in a module that no longer exists (like official ISNet .pkl)."""
    fake = types.ModuleType("irbench_fake_isnet_pkg")

    class FakeNet(nn.Module):  # the checkpoint's class, importable only while saving
        def __init__(self) -> None:
            super().__init__()
            self.body = _trained()
            self.register_buffer("scratch", torch.zeros(2), persistent=False)

    FakeNet.__module__ = fake.__name__
    FakeNet.__qualname__ = "FakeNet"
    fake.FakeNet = FakeNet
    sys.modules[fake.__name__] = fake
    try:
        wrapped = nn.DataParallel(FakeNet())  # also the `module.` prefix of multi-GPU saves
        torch.save(wrapped, tmp_path / "whole.pkl")
    finally:
        del sys.modules[fake.__name__]
    state = read_state_dict(tmp_path / "whole.pkl")
    assert "module.body.conv.weight" in state and "module.scratch" not in state
    dst = nn.Module()
    dst.body = Small()
    load_checkpoint(dst, tmp_path / "whole.pkl")
    _assert_same(dst.body, _trained())


def test_strict_error_lists_missing_unexpected_and_shapes(tmp_path: Path) -> None:
    sd = _trained().state_dict()
    sd["extra.weight"] = torch.zeros(1)
    del sd["head.1.bias"]
    sd["conv.weight"] = torch.zeros(4, 2, 3, 3)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(Small(), tmp_path / "bad.pth")
    msg = str(err.value)
    assert "bad.pth" in msg and "Small" in msg
    assert "1 missing keys: head.1.bias" in msg
    assert "1 unexpected keys: extra.weight" in msg
    assert "conv.weight: checkpoint (4, 2, 3, 3) vs model (4, 1, 3, 3)" in msg


def test_non_strict_reports_but_rejects_shape_mismatch(tmp_path: Path) -> None:
    sd = _trained().state_dict()
    del sd["head.1.bias"]
    torch.save(sd, tmp_path / "partial.pth")
    report = load_checkpoint(Small(), tmp_path / "partial.pth", strict=False)
    assert report.missing == ["head.1.bias"] and report.unexpected == []


def test_unreadable_files_name_file_content_and_formats(tmp_path: Path) -> None:
    text = tmp_path / "weights.pth"
    text.write_text("not a checkpoint at all")
    with pytest.raises(CheckpointError) as err:
        read_state_dict(text)
    msg = str(err.value)
    assert str(text) in msg and "found unknown content" in msg and "Supported:" in msg and ".params" in msg
    h5 = tmp_path / "keras.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(CheckpointError, match="HDF5"):
        read_state_dict(h5)
    torch.save({"epoch": 3, "best_iou": 0.5}, tmp_path / "meta.pth")
    with pytest.raises(CheckpointError, match=r"found a dict with keys \['epoch', 'best_iou'\]"):
        read_state_dict(tmp_path / "meta.pth")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_state_dict(tmp_path / "absent.pth")


def test_gluon_name_mapping() -> None:
    params = {
        "stem.0.gamma": torch.full((3,), 5.0),
        "stem.0.beta": torch.ones(3),
        "stem.0.running_mean": torch.ones(3),
        "layer.1.gamma": torch.full((2,), 2.0),
        "layer.1.beta": torch.zeros(2),
        "conv.weight": torch.ones(2, 1, 1, 1),
    }
    out = gluon_state_dict(params, fixed_bn=("stem.0",))
    assert sorted(out) == [
        "conv.weight",
        "layer.1.bias",
        "layer.1.weight",
        "stem.0.bias",
        "stem.0.running_mean",
        "stem.0.weight",
    ]
    assert torch.equal(out["stem.0.weight"], torch.ones(3)) and torch.equal(out["stem.0.bias"], torch.zeros(3))
    assert torch.equal(out["layer.1.weight"], torch.full((2,), 2.0))


def test_lesps_checkpoints_load_strictly(shared_data: Path) -> None:
    from methods.deep.basicirstd_acm import BasicIRSTDACMNet, BasicIRSTDALCNet

    folder = need(shared_data / "weights" / "basicirstd-format")
    for net, name in ((BasicIRSTDACMNet(), "ACM_full.pth.tar"), (BasicIRSTDALCNet(), "ALCNet_full.pth.tar")):
        raw = read_state_dict(folder / name)
        assert all(k.startswith("model.") for k in raw)
        report = load_checkpoint(net, folder / name)
        assert report == ([], [])
        assert torch.equal(net.state_dict()["stem.1.weight"], raw["model.stem.1.weight"])


def _truncated_zip(path: Path) -> None:
    torch.save(_trained().state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("kind", ["empty", "json", "random", "truncated-zip", "pickled-int", "pickle-header"])
def test_unreadable_checkpoints_raise_checkpoint_error_naming_the_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.pth"
    if kind == "truncated-zip":
        _truncated_zip(path)
    else:
        path.write_bytes(
            {
                "empty": b"",
                "json": b'{"state_dict": {"conv.weight": [1.0, 2.0]}}',
                "random": np.random.default_rng(0).bytes(4096),
                "pickled-int": pickle.dumps(5),
                "pickle-header": b"\x80",
            }[kind]
        )
    for reader in (read_state_dict, lambda p: load_checkpoint(Small(), p)):
        with pytest.raises(CheckpointError) as err:  # any other exception type fails the test
            reader(path)
        msg = str(err.value)
        assert str(path) in msg and "\n" not in msg and "Supported:" in msg


def test_unreadable_checkpoint_messages_say_what_was_found(tmp_path: Path) -> None:
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="the file is empty"):
        read_state_dict(tmp_path / "empty.pth")
    _truncated_zip(tmp_path / "cut.pth")
    with pytest.raises(CheckpointError, match="truncated or corrupt zip archive"):
        read_state_dict(tmp_path / "cut.pth")
    (tmp_path / "meta.json").write_text('{"epoch": 3}')
    with pytest.raises(CheckpointError, match="JSON-like text"):
        read_state_dict(tmp_path / "meta.json")
