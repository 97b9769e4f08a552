"""Pure-PyTorch deformable convolution against a naive loop implementation (DCNv1 and modulated DCNv2)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from methods.deep.deform_conv import DeformConv, ModulatedDeformConv, deform_conv2d

torch.set_num_threads(1)


def _bilinear(img: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """Bilinear read of a (C, H, W) image at (y, x); corners outside the image read 0 (the CUDA rule)."""
    c, h, w = img.shape
    out = torch.zeros(c, dtype=img.dtype)
    if not (-1 < y < h and -1 < x < w):
        return out
    y0, x0 = math.floor(y), math.floor(x)
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                out += wy * wx * img[:, yy, xx]
    return out


def _naive(x, offset, weight, bias, stride, padding, dilation, mask):
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    ho, wo = offset.shape[-2:]
    out = torch.zeros(n, o, ho, wo, dtype=x.dtype)
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                acc = torch.zeros(o, dtype=x.dtype)
                for ki in range(kh):
                    for kj in range(kw):
                        k = ki * kw + kj
                        y = i * stride[0] - padding[0] + ki * dilation[0] + float(offset[b, 2 * k, i, j])
                        xx = j * stride[1] - padding[1] + kj * dilation[1] + float(offset[b, 2 * k + 1, i, j])
                        v = _bilinear(x[b], y, xx)
                        if mask is not None:
                            v = v * mask[b, k, i, j]
                        acc += weight[:, :, ki, kj] @ v
                out[b, :, i, j] = acc + (bias if bias is not None else 0)
    return out


@pytest.mark.parametrize(
    "kernel,stride,padding,dilation,modulated",
    [
        ((3, 3), (1, 1), (1, 1), (1, 1), True),
        ((1, 3), (1, 1), (0, 1), (1, 1), True),
        ((3, 1), (1, 1), (1, 0), (1, 1), False),
        ((3, 3), (2, 1), (1, 2), (1, 2), False),
        ((2, 2), (1, 2), (0, 1), (2, 1), True),
    ],
)
def test_matches_naive_loop(kernel, stride, padding, dilation, modulated):
    g = torch.Generator().manual_seed(sum(kernel) + stride[0] + dilation[1])
    n, c, o, h, w = 2, 3, 4, 7, 6
    kh, kw = kernel
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    weight = torch.randn(o, c, kh, kw, generator=g, dtype=torch.float64)
    bias = torch.randn(o, generator=g, dtype=torch.float64)
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    # offsets up to +-3 px: many samples fall partly or wholly outside the image
    offset = (torch.rand(n, 2 * kh * kw, ho, wo, generator=g, dtype=torch.float64) - 0.5) * 6
    mask = torch.rand(n, kh * kw, ho, wo, generator=g, dtype=torch.float64) if modulated else None
    got = deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask)
    want = _naive(x, offset, weight, bias, stride, padding, dilation, mask)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_zero_offset_is_plain_conv():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 5, 9, 8, generator=g)
    weight = torch.randn(6, 5, 3, 3, generator=g)
    bias = torch.randn(6, generator=g)
    offset = torch.zeros(2, 18, 9, 8)
    got = deform_conv2d(x, offset, weight, bias, 1, 1, 1)
    torch.testing.assert_close(got, F.conv2d(x, weight, bias, 1, 1), rtol=1e-5, atol=1e-5)


def test_one_pixel_wide_input():
    x = torch.randn(1, 2, 5, 1)
    weight = torch.randn(3, 2, 3, 1)
    got = deform_conv2d(x, torch.zeros(1, 6, 5, 1), weight, None, 1, (1, 0), 1)
    torch.testing.assert_close(got, F.conv2d(x, weight, None, 1, (1, 0)), rtol=1e-5, atol=1e-5)


def test_module_layouts_and_forward():
    v2 = ModulatedDeformConv(8, 8, (1, 3), padding=(0, 1))
    v1 = DeformConv(8, 8, (3, 1), padding=(1, 0))
    assert {k: tuple(v.shape) for k, v in v2.state_dict().items()} == {
        "weight": (8, 8, 1, 3),
        "bias": (8,),
        "conv_offset_mask.weight": (9, 8, 1, 3),
        "conv_offset_mask.bias": (9,),
    }
    assert {k: tuple(v.shape) for k, v in v1.state_dict().items()} == {
        "weight": (8, 8, 3, 1),
        "bias": (8,),
        "conv_offset.weight": (6, 8, 3, 1),
        "conv_offset.bias": (6,),
    }
    x = torch.randn(2, 8, 5, 7)
    with torch.no_grad():
        v2.conv_offset_mask.weight.normal_(0, 0.3)
        v2.conv_offset_mask.bias.normal_(0, 0.3)
        om = v2.conv_offset_mask(x)
        want = _naive(x, om[:, :6], v2.weight, v2.bias, (1, 1), (0, 1), (1, 1), torch.sigmoid(om[:, 6:]))
        torch.testing.assert_close(v2(x), want, rtol=1e-4, atol=1e-4)
        # freshly built: zero offsets, so v1 equals a plain conv with its weight
        torch.testing.assert_close(v1(x), F.conv2d(x, v1.weight, v1.bias, 1, (1, 0)), rtol=1e-5, atol=1e-5)


def test_rejects_bad_shapes():
    x = torch.randn(1, 2, 4, 4)
    weight = torch.randn(3, 2, 3, 3)
    with pytest.raises(ValueError, match="offset"):
        deform_conv2d(x, torch.zeros(1, 17, 4, 4), weight, None, 1, 1, 1)
    with pytest.raises(ValueError, match="mask"):
        deform_conv2d(x, torch.zeros(1, 18, 4, 4), weight, None, 1, 1, 1, torch.zeros(1, 8, 4, 4))
    with pytest.raises(ValueError, match="input channels"):
        deform_conv2d(torch.randn(1, 3, 4, 4), torch.zeros(1, 18, 4, 4), weight)
    with pytest.raises(ValueError, match="stride"):
        deform_conv2d(x, torch.zeros(1, 18, 4, 4), weight, None, (1, 2, 3), 1, 1)
