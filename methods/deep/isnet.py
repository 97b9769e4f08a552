"""ISNet (Zhang et al., CVPR 2022): ACM-style U-Net with TTOA fusion and a gated edge (shape) branch.

Written from the official architectures and their state_dict layouts. Two layouts:

* official (``dcn="v2"``, ``in_channels=3``, external gradient input): modulated deformable convs with
  ``conv_offset_mask`` keys, 1,090,671 parameters; the gradient magnitude of the normalised input is
  computed outside the net (:func:`image_gradient`) and passed as the second input.
* BasicIRSTD (``dcn="v1"``, ``in_channels=1``, ``grad_inside=True``): DCNv1 with ``conv_offset`` keys,
  1,089,519 parameters; the gradient is computed inside the net (fixed kernels, not in the state_dict).

Modules the reference defines but never calls (``res1..3``, ``d1..3``, ``cw``, ``gate1..3``, ``SA``,
``SA_att``, ``head2``, ``conv2_1``, ``conv16``) are kept so that checkpoints load strictly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from methods.deep.base import COMMON_DEFAULTS, DeepDetector
from methods.deep.deform_conv import DeformConv, ModulatedDeformConv
from methods.deep.losses import LossFn, isnet_loss
from methods.deep.recipe import Recipe
from methods.registry import register

__all__ = ["image_gradient", "ISNetNet", "ISNet"]


def image_gradient(x: torch.Tensor) -> torch.Tensor:
    """Per-channel gradient magnitude ``sqrt(dv^2 + dh^2 + 1e-6)`` with central differences, zero padding.

    ``dv(y, x) = I(y+1, x) - I(y-1, x)`` and ``dh(y, x) = I(y, x+1) - I(y, x-1)``.
    """
    p = F.pad(x, (1, 1, 1, 1))
    dv = p[..., 2:, 1:-1] - p[..., :-2, 1:-1]
    dh = p[..., 1:-1, 2:] - p[..., 1:-1, :-2]
    return torch.sqrt(dv * dv + dh * dh + 1e-6)


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class _ResidualBlock(nn.Module):
    """``body`` = conv3x3-BN-ReLU-conv3x3-BN (no bias); ``downsample`` = conv1x1-BN when shapes change."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn_relu(cin, cout, stride), nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        )
        if cin != cout or stride != 1:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        else:
            self.downsample = nn.Sequential()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.downsample(x) if len(self.downsample) else x
        return torch.relu(self.body(x) + residual)


def _layer(cin: int, cout: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(_ResidualBlock(cin, cout, stride), *[_ResidualBlock(cout, cout, 1) for _ in range(blocks - 1)])


class _FCNHead(nn.Sequential):
    """``block`` = conv3x3 (C -> C/4, no bias), BN, ReLU, Dropout(0.1), conv1x1 (C/4 -> out)."""

    def __init__(self, cin: int, cout: int) -> None:
        inter = cin // 4
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(cin, inter, 3, 1, 1, bias=False),
            nn.BatchNorm2d(inter),
            nn.ReLU(inplace=True),
            nn.Dropout(0.1),
            nn.Conv2d(inter, cout, 1),
        )


class _BasicBlock(nn.Module):
    """ResNet basic block (``conv1``, ``bn1``, ``conv2``, ``bn2``; no bias, no downsample).

    ``forward`` returns ``(relu(x + body(x)), relu(body(x)))`` (the ``BasicBlock1`` of the reference's TFD).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        body = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(x + body), torch.relu(body)


class _GatedSpatialConv(nn.Module):
    """GSCNN gated 1x1 conv: ``conv(x * (1 + gate(cat(x, g))))``; ``weight`` then ``_gate_conv`` keys."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, channels, 1, 1))
        nn.init.xavier_normal_(self.weight)
        self._gate_conv = nn.Sequential(
            nn.BatchNorm2d(channels + 1),
            nn.Conv2d(channels + 1, channels + 1, 1),
            nn.ReLU(),
            nn.Conv2d(channels + 1, 1, 1),
            nn.BatchNorm2d(1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor, gating: torch.Tensor) -> torch.Tensor:
        alphas = self._gate_conv(torch.cat([x, gating], dim=1))
        return F.conv2d(x * (alphas + 1), self.weight)


class _TFD(nn.Module):
    """Edge block: two basic blocks and a gated conv; ``3 * delta_0 + u_2 + gate(u_2, side)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.res1 = _BasicBlock(channels)
        self.res2 = _BasicBlock(channels)
        self.gate = _GatedSpatialConv(channels)

    def forward(self, x: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        u1, delta0 = self.res1(x)
        _, u2 = self.res2(u1)
        return 3 * delta0 + u2 + self.gate(u2, side)


class _ShuffleAttention(nn.Module):
    """Shuffle-attention parameters (``cweight``, ``cbias``, ``sweight``, ``sbias``, ``gn``); unused in forward."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        c = channels // (2 * groups)
        self.cweight = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.cbias = nn.Parameter(torch.ones(1, c, 1, 1))
        self.sweight = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.sbias = nn.Parameter(torch.ones(1, c, 1, 1))
        self.gn = nn.GroupNorm(c, c)


class _TTOA(nn.Module):
    """Two-direction deformable attention fusion of a decoder feature (``low``) and a skip (``high``)."""

    def __init__(self, channels: int, dcn: str) -> None:
        super().__init__()
        conv = ModulatedDeformConv if dcn == "v2" else DeformConv
        self.dcn_row = conv(channels, channels, (1, 3), padding=(0, 1))
        self.dcn_colum = conv(channels, channels, (3, 1), padding=(1, 0))
        self.preprocess = nn.Sequential(nn.Conv2d(channels, channels // 2, 1), nn.Conv2d(channels // 2, channels, 1))

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        low = self.preprocess(low)
        high = self.preprocess(high)
        colum = low + torch.sigmoid(self.dcn_colum(low)) * high
        row = low + torch.sigmoid(self.dcn_row(low)) * high
        return row + colum


class ISNetNet(nn.Module):
    """The ISNet network (layer_blocks [4, 4, 4], channels [8, 16, 32, 64]).

    Parameters
    ----------
    in_channels : {1, 3}
        Image channels (3 official, 1 BasicIRSTD); also the channels of the gradient input.
    dcn : {"v2", "v1"}
        Deformable conv flavour and key layout: ``"v2"`` official (``conv_offset_mask``), ``"v1"``
        BasicIRSTD (``conv_offset``).
    grad_inside : bool
        Compute the gradient input from ``x`` inside ``forward`` (BasicIRSTD) instead of taking it as
        the second argument.

    Notes
    -----
    ``forward(x, x_grad=None)`` returns ``(logits, edge_probability)``, both at the input size.
    """

    def __init__(self, in_channels: int = 3, dcn: str = "v2", grad_inside: bool = False) -> None:
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"parameter 'in_channels' must be 1 or 3, got {in_channels!r}")
        if dcn not in ("v1", "v2"):
            raise ValueError(f"parameter 'dcn' must be 'v1' or 'v2', got {dcn!r}")
        self.grad_inside = bool(grad_inside)
        self.stem = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            *_conv_bn_relu(in_channels, 8, 2),
            *_conv_bn_relu(8, 8),
            *_conv_bn_relu(8, 16),
            nn.MaxPool2d(3, 2, 1),
        )
        self.TTOA_low = _TTOA(32, dcn)
        self.TTOA_high = _TTOA(16, dcn)
        self.layer1 = _layer(16, 16, 4, 1)
        self.layer2 = _layer(16, 32, 4, 2)
        self.layer3 = _layer(32, 64, 4, 2)
        self.deconv2 = nn.ConvTranspose2d(64, 32, 4, 2, 1)
        self.uplayer2 = _layer(32, 32, 4, 1)
        self.deconv1 = nn.ConvTranspose2d(32, 16, 4, 2, 1)
        self.uplayer1 = _layer(16, 16, 4, 1)
        self.head = _FCNHead(16, 1)
        self.dsn1 = nn.Conv2d(64, 1, 1)
        self.dsn2 = nn.Conv2d(32, 1, 1)
        self.dsn3 = nn.Conv2d(16, 1, 1)
        self.res1 = _BasicBlock(64)
        self.d1 = nn.Conv2d(64, 32, 1)
        self.res2 = _BasicBlock(32)
        self.d2 = nn.Conv2d(32, 16, 1)
        self.res3 = _BasicBlock(16)
        self.d3 = nn.Conv2d(16, 8, 1)
        self.fuse = nn.Conv2d(64, 1, 1, bias=False)
        self.cw = nn.Conv2d(4, 1, 1, bias=False)
        self.gate1 = _GatedSpatialConv(32)
        self.gate2 = _GatedSpatialConv(16)
        self.gate3 = _GatedSpatialConv(8)
        self.SA = _ShuffleAttention(4, 2)
        self.SA_att = _ShuffleAttention(17, 2)
        self.dsup = nn.Conv2d(in_channels, 64, 1)
        self.head2 = _FCNHead(16, 3)
        self.conv2_1 = nn.Conv2d(3, 1, 1)
        self.conv16 = nn.Conv2d(3, 16, 1)
        self.myb1 = _TFD(64)
        self.myb2 = _TFD(64)
        self.myb3 = _TFD(64)

    def forward(self, x: torch.Tensor, x_grad: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.grad_inside:
            x_grad = image_gradient(x[:, :1])
        elif x_grad is None:
            raise ValueError("ISNetNet: x_grad is required when grad_inside=False")
        size = x.shape[-2:]
        c1 = self.layer1(self.stem(x))
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        upc2 = self.uplayer2(self.TTOA_low(self.deconv2(c3), c2))
        upc1 = self.uplayer1(self.TTOA_high(self.deconv1(upc2), c1))

        def full(t: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, size=size, mode="bilinear", align_corners=True)

        s1, s2, s3 = full(self.dsn1(c3)), full(self.dsn2(upc2)), full(self.dsn3(upc1))
        cs = self.myb1(self.dsup(full(x_grad)), s1)
        cs = self.myb2(cs, s2)
        cs = self.myb3(cs, s3)
        edge = torch.sigmoid(full(self.fuse(cs)))
        upc1 = F.interpolate(upc1, size=size, mode="bilinear", align_corners=False)
        logits = self.head(edge * upc1 + upc1)
        return logits, edge


@register(
    "isnet",
    family="deep",
    kind="deep",
    paper="Zhang, Zhang, Yang, Bai, Zhang & Guo, ISNet: shape matters for infrared small target detection, CVPR 2022",
    year=2022,
    defaults={**COMMON_DEFAULTS, "dcn": "v2", "dataset_stats": None, "trained_on": None},
    policy="fixed:0.5",
    display="ISNet",
)
class ISNet(DeepDetector):
    """ISNet detector, ``head`` logits -> sigmoid.

    ``dcn="v2"`` (default): the official model, ImageNet-normalised RGB input and the per-channel gradient
    of the normalised input as second input. ``dcn="v1"``: the BasicIRSTD model (1 channel, grey
    normalisation with the training set's statistics, gradient inside the net, inputs padded to a multiple
    of 32 as BasicIRSTD pads them).
    """

    stride = 16
    output = "logits"
    recipe = Recipe("adagrad", 0.05, 1e-4, "cosine30", epochs=3000, batch=12, crop=480, base=512, loss="iou-batch")

    def __init__(self, **params: object) -> None:
        dcn = params.get("dcn", "v2")
        if dcn not in ("v1", "v2"):
            raise ValueError(f"parameter 'dcn' must be 'v1' or 'v2', got {dcn!r}")
        self.preset = "imagenet_rgb" if dcn == "v2" else "basicirstd_gray"
        self.stride = 16 if dcn == "v2" else 32  # BasicIRSTD pads its inputs to a multiple of 32
        super().__init__(**params)

    def build(self) -> nn.Module:
        if self.params.get("dcn", "v2") == "v2":
            return ISNetNet(3, "v2", grad_inside=False)
        return ISNetNet(1, "v1", grad_inside=True)

    def forward_scores(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        grad = None if getattr(net, "grad_inside", False) else image_gradient(x)
        return net(x, grad)[0]

    def training_loss(
        self, net: nn.Module, x: torch.Tensor, target: torch.Tensor, loss: LossFn, warm: bool, recipe: Recipe
    ) -> torch.Tensor:
        """``loss`` on the output plus ``10 * BCE + SoftIoU`` on the edge output."""
        grad = None if getattr(net, "grad_inside", False) else image_gradient(x)
        out, edge = net(x, grad)
        return isnet_loss(self.probabilities(out), edge.float(), target, loss, warm)
