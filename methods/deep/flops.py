"""Multiply-accumulate counts of a network, by forward hooks on its conv, deconv and linear layers.

IRSTD papers (and BasicIRSTD's ``cal_params.py``, which uses ``thop``) report MACs under the label
"FLOPs"; irbench's profile field does the same: its "FLOPs" column holds MACs.
"""

from __future__ import annotations

import torch
from torch import nn

from methods.deep.deform_conv import DeformConvBase

__all__ = ["count_macs", "count_params"]


def _conv_macs(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    """MACs of a conv-like layer: every output element needs ``C_in / groups * kh * kw`` of them."""
    if isinstance(module, nn.ConvTranspose2d):
        # every input element is scattered through C_out / groups * kh * kw weights
        kh, kw = module.kernel_size
        return inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
    weight = module.weight
    per_output = weight[0].numel()  # C_in / groups * kh * kw
    return output.numel() * per_output


def count_macs(net: nn.Module, input_shape: tuple[int, ...], *extra_inputs: tuple[int, ...]) -> int:
    """Count the multiply-accumulates of one forward pass of ``net`` on zero inputs.

    Parameters
    ----------
    net : nn.Module
    input_shape : tuple of int
        Shape of the first input, e.g. ``(1, 3, 256, 256)``.
    *extra_inputs : tuple of int
        Shapes of further positional inputs (e.g. ISNet's gradient map).

    Returns
    -------
    int
        MACs of the ``Conv*d``, ``ConvTranspose2d``, ``Linear`` and deformable-conv layers actually run
        (layers defined but never called cost nothing).

    Notes
    -----
    The count is the one papers label "FLOPs" (thop reports MACs). Deformable convolutions count as
    plain convolutions of the same shape (bilinear sampling not included). Pooling, normalisation,
    activations, interpolation and convolutions applied with ``F.conv2d`` inside custom modules (ISNet's
    gated convs: 0.8 G at 256x256) are not counted, as in a forward-hook count; thop's figure is a
    little higher.
    """
    if not input_shape or any(not isinstance(s, int) or s < 1 for s in input_shape):
        raise ValueError(f"parameter 'input_shape' must be a tuple of positive ints, got {input_shape!r}")
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            total += output.numel() * module.in_features
        else:
            total += _conv_macs(module, inputs, output)

    counted = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear, DeformConvBase)
    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, counted)]
    was_training = net.training
    try:
        net.eval()
        param = next(net.parameters(), None)
        dev = param.device if param is not None else torch.device("cpu")
        with torch.inference_mode():
            net(torch.zeros(input_shape, device=dev), *(torch.zeros(s, device=dev) for s in extra_inputs))
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    return int(total)


def count_params(net: nn.Module) -> int:
    """Number of parameters (buffers such as BN running statistics excluded)."""
    return sum(p.numel() for p in net.parameters())
