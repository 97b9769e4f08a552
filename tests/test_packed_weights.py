"""Packed weight files: per-channel quantisation against hand-worked cases, lossless and quantised round
trips, and reading them as checkpoints."""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest
import torch

from methods.deep.checkpoint import CheckpointError, read_state_dict
from methods.deep.packed_weights import pack, quantise, unpack


def _state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "conv.weight": (torch.randn(8, 3, 3, 3, generator=g) * 0.1).half(),
        "conv.bias": torch.randn(8, generator=g).half(),
        "bn.running_var": torch.tensor([1.9e6, 2.0]),  # float32: beyond float16's range
        "bn.num_batches_tracked": torch.tensor(7),
        "fc.weight": torch.randn(3, 8, generator=g).half(),
    }


def test_quantise_hand_worked() -> None:
    # 2 bits (q = 1): s = max|w| = 1, codes round(w / 1).
    codes, scales = quantise(torch.tensor([[0.9, 1.0, -1.0, 0.1], [0.0, 0.0, 0.0, 0.0]]), 2)
    assert codes.tolist() == [[1, 1, -1, 0], [0, 0, 0, 0]] and codes.dtype == torch.int8
    assert scales.flatten().tolist() == [1.0, 1.0]  # an all-zero channel: scale 1, codes 0
    # 3 bits (q = 3): s = 6 / 3 = 2; w / s = (3, 1.5, -0.5, 0.45), rounded half to even: (3, 2, 0, 0).
    codes, scales = quantise(torch.tensor([[[6.0, 3.0], [-1.0, 0.9]]]), 3)
    assert codes.tolist() == [[[3, 2], [0, 0]]] and scales.shape == (1, 1, 1) and scales.item() == 2.0


def test_quantise_keeps_codes_in_range_and_errors_within_half_a_step() -> None:
    torch.manual_seed(1)
    w = torch.distributions.StudentT(3.0).sample((16, 4, 3, 3)) * 0.05  # heavy-tailed, like trained weights
    for bits in (2, 4, 8):
        codes, scales = quantise(w, bits)
        assert codes.shape == w.shape and scales.shape == (16, 1, 1, 1)
        q = 2 ** (bits - 1) - 1
        assert int(codes.abs().max()) == q  # each channel's peak gets the largest code
        assert torch.all((w - codes.float() * scales).abs() <= scales / 2 * (1 + 1e-6))
    with pytest.raises(ValueError, match="bits must be 2 to 8"):
        quantise(w, 9)


def test_lossless_pack_round_trips_exactly(tmp_path: Path) -> None:
    state = _state()
    (tmp_path / "w.pth.xz").write_bytes(pack(state))
    out = unpack(tmp_path / "w.pth.xz")
    assert list(out) == list(state)
    for key, value in state.items():
        assert out[key].dtype == value.dtype and torch.equal(out[key], value), key


def test_quantised_pack_keeps_other_tensors_and_reads_back_codes_times_scales(tmp_path: Path) -> None:
    state = _state()
    path = tmp_path / "w.pth.xz"
    path.write_bytes(pack(state, bits=4))
    out = read_state_dict(path)  # the checkpoint reader knows the format
    assert list(out) == list(state)
    for key in ("conv.bias", "bn.running_var", "bn.num_batches_tracked"):
        assert out[key].dtype == state[key].dtype and torch.equal(out[key], state[key]), key
    for key in ("conv.weight", "fc.weight"):
        codes, scales = quantise(state[key], 4)
        assert out[key].dtype == torch.float32 and torch.equal(out[key], codes.float() * scales), key
        assert torch.all((out[key] - state[key].float()).abs() <= scales / 2 * (1 + 1e-6))
        assert not torch.equal(out[key], state[key].float())


def test_foreign_xz_data_is_a_checkpoint_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.xz"
    path.write_bytes(lzma.compress(b"not weights"))
    with pytest.raises(CheckpointError, match=r"notes\.xz"):
        read_state_dict(path)
