"""Inference speed-ups that leave the scores unchanged (up to float rounding).

* BatchNorm folding: an eval-mode ``BatchNorm2d`` applied directly to a ``Conv2d`` output is merged into
  the conv's weight and bias and replaced by ``Identity``. Pairs are found structurally: a conv followed
  by a BN inside an ``nn.Sequential``, and sibling attributes named ``<p>conv<i>`` / ``<p>bn<i>`` (the
  naming of the MSHNet, DNANet, ISNet and MDvsFA blocks, whose forward applies that BN to that conv's
  output only).
* channels_last memory format for weights and inputs (faster oneDNN convolutions on CPU).

:func:`prepare_for_inference` applies both; the deep base calls it on every network before scoring.
"""

from __future__ import annotations

import re

import torch
from torch import nn

__all__ = ["fold_batchnorm", "prepare_for_inference"]

_PAIR = re.compile(r"^(.*)conv(\d+)$")


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Merge the eval-mode ``bn`` into ``conv`` in place."""
    with torch.no_grad():
        scale = torch.rsqrt(bn.running_var + bn.eps)
        shift = -bn.running_mean * scale
        if bn.affine:
            scale = scale * bn.weight
            shift = bn.bias - bn.running_mean * scale
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
        if conv.bias is None:
            conv.bias = nn.Parameter(shift.clone())
        else:
            conv.bias.mul_(scale).add_(shift)


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    return (
        type(conv) is nn.Conv2d
        and isinstance(bn, nn.BatchNorm2d)
        and bn.track_running_stats
        and bn.running_mean is not None
        and conv.out_channels == bn.num_features
    )


def fold_batchnorm(net: nn.Module) -> int:
    """Fold every conv -> BN pair of ``net`` in place (the network must be in eval mode).

    Parameters
    ----------
    net : nn.Module

    Returns
    -------
    int
        Number of BN layers folded (each is replaced by ``nn.Identity``).

    Notes
    -----
    Only exact patterns are folded (see the module docstring); BN layers that normalise a network input
    (ISNet's first stem BN) are left alone, since folding them through a zero-padded conv is not exact.
    """
    if net.training:
        raise ValueError("fold_batchnorm: call net.eval() first (folding uses the running statistics)")
    folded = 0
    for parent in list(net.modules()):
        children = dict(parent.named_children())
        if isinstance(parent, nn.Sequential):
            names = list(children)
            for a, b in zip(names, names[1:]):
                if _foldable(children[a], children[b]):
                    _fold(children[a], children[b])
                    setattr(parent, b, nn.Identity())
                    folded += 1
            continue
        for name, child in children.items():
            m = _PAIR.match(name)
            bn_name = f"{m.group(1)}bn{m.group(2)}" if m else None
            if bn_name in children and _foldable(child, children[bn_name]):
                _fold(child, children[bn_name])
                setattr(parent, bn_name, nn.Identity())
                folded += 1
    return folded


def _inputs_channels_last(module: nn.Module, args: tuple) -> tuple:
    return tuple(
        a.contiguous(memory_format=torch.channels_last) if isinstance(a, torch.Tensor) and a.dim() == 4 else a
        for a in args
    )


def prepare_for_inference(
    net: nn.Module, device: torch.device | str = "cpu", channels_last: bool | None = None
) -> nn.Module:
    """Make ``net`` evaluation-ready and fast: eval mode, BN folded, moved to ``device``, channels_last.

    Parameters
    ----------
    net : nn.Module
        Modified in place (and returned); preparing a prepared network again changes nothing.
    device : torch.device or str
    channels_last : bool, optional
        Store weights and convert 4-D inputs to channels_last (a forward pre-hook). ``None``: on CPU only.

    Returns
    -------
    nn.Module
        ``net``.
    """
    device = torch.device(device)
    net.eval()
    fold_batchnorm(net)
    net.to(device)
    if channels_last is None:
        channels_last = device.type == "cpu"
    if channels_last:
        net.to(memory_format=torch.channels_last)
        if not getattr(net, "_irbench_channels_last", False):  # idempotent: one input hook
            net.register_forward_pre_hook(_inputs_channels_last)
            net._irbench_channels_last = True
    return net
