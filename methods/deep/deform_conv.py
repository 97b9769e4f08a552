"""Deformable convolution in pure PyTorch (bilinear sampling): v1 (no mask) and v2 (modulated).

No torchvision and no compiled extension. The offset layout is that of the CUDA kernels of both DCN
packages (and of ``torchvision.ops.deform_conv2d``): for kernel position ``k = i * kw + j``, channel ``2k``
is the vertical offset and ``2k + 1`` the horizontal one. Samples falling outside the image read zeros
(bilinear weights of the out-of-range corners are dropped), as in the CUDA kernels.

Modules with the state_dict layouts of the two ISNet variants:

* :class:`ModulatedDeformConv` (CharlesShang ``dcn_v2.DCN``): ``weight``, ``bias``,
  ``conv_offset_mask.{weight,bias}`` with ``3*kh*kw`` channels, split as (o1, o2, m); offset = (o1, o2),
  mask = sigmoid(m).
* :class:`DeformConv` (chengdazhi ``DeformConvPack``, DCNv1): ``weight``, ``bias``,
  ``conv_offset.{weight,bias}`` with ``2*kh*kw`` channels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["deform_conv2d", "DeformConvBase", "DeformConv", "ModulatedDeformConv"]


def _pair(v: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (v, v) if isinstance(v, int) else tuple(v)
    if len(pair) != 2 or not all(isinstance(p, int) for p in pair):
        raise ValueError(f"parameter {name!r} must be an int or a pair of ints, got {v!r}")
    return pair  # type: ignore[return-value]


def deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Deformable 2-D convolution (one offset group, one conv group).

    Parameters
    ----------
    x : (N, C, H, W) tensor
    offset : (N, 2*kh*kw, Ho, Wo) tensor
        Interleaved (dy, dx) per kernel position, in pixels.
    weight : (O, C, kh, kw) tensor
    bias : (O,) tensor, optional
    stride, padding, dilation : int or (int, int)
    mask : (N, kh*kw, Ho, Wo) tensor, optional
        Modulation scalars (DCNv2); ``None`` for DCNv1.

    Returns
    -------
    (N, O, Ho, Wo) tensor

    Notes
    -----
    All kernel positions are sampled in one ``grid_sample`` call (``align_corners=False`` with pixel
    centres mapped exactly, zero padding), then contracted with the weight by one matrix product.
    """
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    dh, dw = _pair(dilation, "dilation")
    if x.dim() != 4 or weight.dim() != 4:
        raise ValueError(f"deform_conv2d: x and weight must be 4-D, got {tuple(x.shape)} and {tuple(weight.shape)}")
    n, c, h, w = x.shape
    o, cw, kh, kw = weight.shape
    if cw != c:
        raise ValueError(f"deform_conv2d: weight expects {cw} input channels, x has {c}")
    k = kh * kw
    ho = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    wo = (w + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    if tuple(offset.shape) != (n, 2 * k, ho, wo):
        raise ValueError(f"deform_conv2d: offset must have shape {(n, 2 * k, ho, wo)}, got {tuple(offset.shape)}")
    if mask is not None and tuple(mask.shape) != (n, k, ho, wo):
        raise ValueError(f"deform_conv2d: mask must have shape {(n, k, ho, wo)}, got {tuple(mask.shape)}")
    dtype, dev = x.dtype, x.device
    ys = (torch.arange(ho, device=dev, dtype=dtype) * sh - ph).view(1, 1, ho, 1)
    xs = (torch.arange(wo, device=dev, dtype=dtype) * sw - pw).view(1, 1, 1, wo)
    ky = (torch.arange(kh, device=dev, dtype=dtype) * dh).repeat_interleave(kw).view(1, k, 1, 1)
    kx = (torch.arange(kw, device=dev, dtype=dtype) * dw).repeat(kh).view(1, k, 1, 1)
    off = offset.view(n, k, 2, ho, wo)
    py = ys + ky + off[:, :, 0]  # (N, K, Ho, Wo) sampling rows
    px = xs + kx + off[:, :, 1]
    grid = torch.stack(((2 * px + 1) / w - 1, (2 * py + 1) / h - 1), dim=-1)  # (N, K, Ho, Wo, 2)
    sampled = F.grid_sample(
        x, grid.view(n, k * ho, wo, 2), mode="bilinear", padding_mode="zeros", align_corners=False
    ).view(n, c, k, ho, wo)
    if mask is not None:
        sampled = sampled * mask.unsqueeze(1)
    out = torch.einsum("nckhw,ock->nohw", sampled, weight.reshape(o, c, k))
    if bias is not None:
        out = out + bias.view(1, o, 1, 1)
    return out


class DeformConvBase(nn.Module):
    """Shared parameters of the deformable convs: ``weight``, ``bias`` and a zero-initialised offset conv."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int],
        padding: int | tuple[int, int],
        dilation: int | tuple[int, int],
        offset_per_position: int,
        offset_name: str,
    ) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        self.dilation = _pair(dilation, "dilation")
        kh, kw = self.kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kh, kw))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        nn.init.uniform_(self.weight, -1 / math.sqrt(in_channels * kh * kw), 1 / math.sqrt(in_channels * kh * kw))
        offset_conv = nn.Conv2d(
            in_channels, offset_per_position * kh * kw, self.kernel_size, self.stride, self.padding, self.dilation
        )
        nn.init.zeros_(offset_conv.weight)
        nn.init.zeros_(offset_conv.bias)
        self.add_module(offset_name, offset_conv)

    def _conv(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return deform_conv2d(x, offset, self.weight, self.bias, self.stride, self.padding, self.dilation, mask)


class ModulatedDeformConv(DeformConvBase):
    """DCNv2 with its own offset/mask predictor ``conv_offset_mask`` (the layout of ``dcn_v2.DCN``).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, padding, dilation : int or (int, int)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 3, "conv_offset_mask")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        om = self.conv_offset_mask(x)
        k = self.kernel_size[0] * self.kernel_size[1]
        return self._conv(x, om[:, : 2 * k], torch.sigmoid(om[:, 2 * k :]))


class DeformConv(DeformConvBase):
    """DCNv1 with its own offset predictor ``conv_offset`` (the layout of ``DeformConvPack``).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, padding, dilation : int or (int, int)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 2, "conv_offset")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv(x, self.conv_offset(x), None)
