"""The numpy-only reader of MXNet NDArray-list (``.params``) files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from methods.deep.mxnet_params import is_mxnet_params, read_params
from tests.conftest import need

_FLAGS = {
    np.dtype(np.float32): 0,
    np.dtype(np.float64): 1,
    np.dtype(np.float16): 2,
    np.dtype(np.uint8): 3,
    np.dtype(np.int32): 4,
    np.dtype(np.int8): 5,
    np.dtype(np.int64): 6,
}


def _array_v2(arr: np.ndarray, stype: int = 0) -> bytes:
    out = struct.pack("<Ii", 0xF993FAC9, stype) + struct.pack("<i", arr.ndim)
    out += struct.pack(f"<{arr.ndim}q", *arr.shape)
    out += struct.pack("<iii", 1, 0, _FLAGS[arr.dtype]) + arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    return out


def _array_legacy(arr: np.ndarray) -> bytes:
    out = struct.pack("<I", arr.ndim) + struct.pack(f"<{arr.ndim}I", *arr.shape)
    return out + struct.pack("<iii", 1, 0, _FLAGS[arr.dtype]) + arr.tobytes()


def _write(path: Path, records: list[bytes], names: list[str]) -> Path:
    blob = struct.pack("<QQQ", 0x112, 0, len(records)) + b"".join(records) + struct.pack("<Q", len(names))
    for name in names:
        raw = name.encode()
        blob += struct.pack("<Q", len(raw)) + raw
    path.write_bytes(blob)
    return path


def test_round_trip_dtypes_shapes_and_prefixes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "stem.0.gamma": rng.normal(size=3).astype(np.float32),
        "arg:layer1.0.body.0.weight": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
        "aux:bn.running_var": rng.random(4).astype(np.float64),
        "half": rng.normal(size=(2, 5)).astype(np.float16),
        "counts": np.arange(6, dtype=np.int64).reshape(2, 3),
        "bytes": np.arange(5, dtype=np.uint8),
    }
    path = _write(tmp_path / "net.params", [_array_v2(a) for a in arrays.values()], list(arrays))
    assert is_mxnet_params(path)
    out = read_params(path)
    assert list(out) == ["stem.0.gamma", "layer1.0.body.0.weight", "bn.running_var", "half", "counts", "bytes"]
    for (_, want), got in zip(arrays.items(), out.values()):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_legacy_records_without_magic(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = read_params(_write(tmp_path / "old.params", [_array_legacy(arr)], ["w"]))
    np.testing.assert_array_equal(out["w"], arr)


def test_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.params"
    bad.write_bytes(struct.pack("<QQQ", 0x113, 0, 0))
    assert not is_mxnet_params(bad)
    with pytest.raises(ValueError, match="not an MXNet NDArray list"):
        read_params(bad)
    good = _write(tmp_path / "t.params", [_array_v2(np.ones((8, 8), np.float32))], ["w"])
    truncated = tmp_path / "trunc.params"
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(ValueError, match="truncated"):
        read_params(truncated)
    sparse = _write(tmp_path / "s.params", [_array_v2(np.ones(2, np.float32), stype=1)], ["w"])
    with pytest.raises(ValueError, match="sparse"):
        read_params(sparse)
    unnamed = _write(tmp_path / "u.params", [_array_v2(np.ones(2, np.float32))], [])
    with pytest.raises(ValueError, match="names"):
        read_params(unnamed)


def test_real_official_files(shared_data: Path) -> None:
    folder = need(shared_data / "weights" / "mxnet-official")
    alc = read_params(next(folder.glob("alcnet_*.params")))
    acm = read_params(next(folder.glob("acm_*.params")))
    assert len(alc) == 196 and len(acm) == 290
    assert alc["stem.1.weight"].shape == (16, 3, 3, 3)
    assert alc["bottomuplocal_fpn_1.bottomup_att.0.weight"].shape == (16, 16, 1, 1)
    assert acm["deconv2.weight"].shape == (64, 32, 4, 4)
    assert all(v.dtype == np.float32 for v in alc.values())
