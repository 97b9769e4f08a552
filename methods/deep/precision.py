"""Numeric precision of the deep networks: the mixed-precision type a device runs natively, and the
autocast context the detectors and the trainer enter."""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

import torch

__all__ = ["PRECISIONS", "autocast_dtype", "autocast"]

PRECISIONS = ("auto", "float32", "bfloat16")


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision type of ``device``: bfloat16 on a GPU that has it (no gradient scaling needed),
    else float16 on CUDA; bfloat16 on a CPU with native bfloat16 arithmetic (emulated bfloat16 is slower than
    float32), else ``None``."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager[object]:
    """``torch.autocast`` to ``dtype`` on ``device``; ``None`` enters nothing (an enclosing autocast stays)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
