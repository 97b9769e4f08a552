"""Packed weight files: a state_dict, xz-compressed, optionally with its weight tensors quantised.

A packed file is ``xz(torch.save(doc))`` with ``doc = {"format", "bits", "order", "tensors", "codes",
"scales"}``. With ``bits=None`` every tensor is kept as given (lossless). With ``bits=b`` each floating tensor
of two or more dimensions (convolution and linear weights) ``w`` is stored per output channel ``o`` as

    c_o = round(w_o / s_o),   s_o = max|w_o| / q,   q = 2**(b-1) - 1   (so |c_o| <= q, |w_o - s_o·c_o| <= s_o/2)

as int8 codes and a float32 scale (``round`` rounds halves to even); it reads back as ``s_o·c_o`` in float32.
Every other tensor (biases, BatchNorm statistics) is kept as given. Nothing is clipped: under xz's entropy
coding a finer step costs size whatever the range, so a b-bit step over the whole range beats clipping.
"""

from __future__ import annotations

import io
import lzma
from pathlib import Path

import torch

__all__ = ["FORMAT", "XZ_MAGIC", "is_packed", "pack", "quantise", "unpack"]

FORMAT = "irbench-packed-weights/1"
XZ_MAGIC = b"\xfd7zXZ\x00"


def quantise(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(codes, scales)`` of ``w`` at ``bits`` (2 to 8): int8 codes shaped like ``w`` and float32 scales
    shaped ``(out, 1, ...)``, so that ``codes * scales`` approximates ``w`` (see the module docstring)."""
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be 2 to 8, got {bits}")
    flat = w.detach().float().reshape(w.shape[0], -1)
    peak = flat.abs().amax(1, keepdim=True)
    scales = torch.where(peak > 0, peak / (2 ** (bits - 1) - 1), torch.ones_like(peak))  # all-zero channel: 1
    codes = torch.round(flat / scales).to(torch.int8)
    return codes.reshape(w.shape), scales.reshape((w.shape[0],) + (1,) * (w.ndim - 1))


def pack(state: dict[str, torch.Tensor], bits: int | None = None) -> bytes:
    """The packed-file bytes of ``state``: lossless with ``bits=None``, else its weights quantised."""
    tensors, codes, scales = {}, {}, {}
    for name, t in state.items():
        if bits is not None and t.is_floating_point() and t.ndim >= 2:
            codes[name], scales[name] = quantise(t, bits)
        else:
            tensors[name] = t
    doc = {"format": FORMAT, "bits": bits, "order": list(state), "tensors": tensors, "codes": codes, "scales": scales}
    buffer = io.BytesIO()
    torch.save(doc, buffer)
    return lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME)


def is_packed(path: Path) -> bool:
    """Whether ``path`` starts like an xz stream (a packed file, or a foreign xz file :func:`unpack` rejects)."""
    with open(path, "rb") as f:
        return f.read(len(XZ_MAGIC)) == XZ_MAGIC


def unpack(path: Path) -> dict[str, torch.Tensor]:
    """The state_dict of a packed file, quantised weights read back as ``scales * codes`` (float32).

    Raises
    ------
    ValueError
        Naming the file when it is xz data but not a packed weight file.
    """
    doc = torch.load(io.BytesIO(lzma.decompress(Path(path).read_bytes())), map_location="cpu", weights_only=True)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path}: xz data that is not an irbench packed weight file ({FORMAT})")
    return {
        name: doc["tensors"][name] if name in doc["tensors"] else doc["codes"][name].float() * doc["scales"][name]
        for name in doc["order"]
    }
