"""ACM (Dai et al., WACV 2021): the official MXNet ``ASKCResUNet`` with asymmetric bi-directional fusion.

Module names follow the Gluon structural names of the official ``.params`` file, so the mapping is only
``gamma``/``beta`` -> ``weight``/``bias`` (see :func:`methods.deep.checkpoint.gluon_state_dict`). The
building blocks here (CIFAR residual block, AsymBi fusion, FCN head) are shared with ALCNet and the
BasicIRSTD variants.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from methods.deep.base import COMMON_DEFAULTS, DeepDetector
from methods.deep.checkpoint import load_gluon_or_torch
from methods.deep.recipe import Recipe
from methods.registry import register

__all__ = ["CifarBasicBlock", "make_cifar_layer", "AsymBiChaFuse", "FCNHead", "ASKCResUNet", "ACM"]


def conv3x3(cin: int, cout: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    """3x3 convolution, padding 1."""
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=bias)


class CifarBasicBlock(nn.Module):
    """gluoncv ``CIFARBasicBlockV1``: ``relu(body(x) + shortcut(x))``, ``body`` = conv-BN-ReLU-conv-BN."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(cin, cout, stride),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            conv3x3(cout, cout),
            nn.BatchNorm2d(cout),
        )
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.body(x) + residual)


def make_cifar_layer(cin: int, cout: int, blocks: int, stride: int) -> nn.Sequential:
    """A stage of ``blocks`` CIFAR blocks; the first one changes channels and stride."""
    return nn.Sequential(CifarBasicBlock(cin, cout, stride), *[CifarBasicBlock(cout, cout) for _ in range(blocks - 1)])


class AsymBiChaFuse(nn.Module):
    """Asymmetric bi-directional channel fusion: global top-down attention from the high-level input,
    pointwise bottom-up attention from the low-level input, ``2*xl*td + 2*xh*bu``, then conv-BN-ReLU."""

    def __init__(self, channels: int, r: int = 4) -> None:
        super().__init__()
        mid = channels // r
        self.topdown = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, mid, 1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, channels, 1),
            nn.BatchNorm2d(channels),
            nn.Sigmoid(),
        )
        self.bottomup = nn.Sequential(
            nn.Conv2d(channels, mid, 1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, channels, 1),
            nn.BatchNorm2d(channels),
            nn.Sigmoid(),
        )
        self.post = nn.Sequential(
            conv3x3(channels, channels, bias=True), nn.BatchNorm2d(channels), nn.ReLU(inplace=True)
        )

    def forward(self, xh: torch.Tensor, xl: torch.Tensor) -> torch.Tensor:
        return self.post(2 * xl * self.topdown(xh) + 2 * xh * self.bottomup(xl))


class FCNHead(nn.Module):
    """gluoncv ``_FCNHead``: conv3x3 (C -> C/4) - BN - ReLU - Dropout(0.1) - conv1x1 (-> classes)."""

    def __init__(self, cin: int, classes: int = 1) -> None:
        super().__init__()
        mid = cin // 4
        self.block = nn.Sequential(
            conv3x3(cin, mid), nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Dropout(0.1), nn.Conv2d(mid, classes, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class ASKCResUNet(nn.Module):
    """Official ACM network (``tiny=True`` layout of the released weights: full-resolution stem).

    Parameters
    ----------
    in_channels : int
        3 for the official RGB model.
    blocks : int
        Residual blocks per stage (4 in the released SIRST weights).
    channels : tuple of int
        ``(c0, c1, c2, c3)``; the stem outputs ``2*c0`` which must equal ``c1``.

    Returns logits at the input resolution (the input must be divisible by 4).
    """

    def __init__(self, in_channels: int = 3, blocks: int = 4, channels: tuple[int, ...] = (8, 16, 32, 64)) -> None:
        super().__init__()
        c0, c1, c2, c3 = channels
        self.stem = nn.Sequential(
            nn.BatchNorm2d(in_channels),  # Gluon BatchNorm(scale=False, center=False): weight 1, bias 0
            conv3x3(in_channels, 2 * c0),
            nn.BatchNorm2d(2 * c0),
            nn.ReLU(inplace=True),
        )
        self.layer1 = make_cifar_layer(c1, c1, blocks, 1)
        self.layer2 = make_cifar_layer(c1, c2, blocks, 2)
        self.layer3 = make_cifar_layer(c2, c3, blocks, 2)
        self.deconv2 = nn.ConvTranspose2d(c3, c2, 4, 2, 1)
        self.uplayer2 = make_cifar_layer(c2, c2, blocks, 1)
        self.fuse2 = AsymBiChaFuse(c2)
        self.deconv1 = nn.ConvTranspose2d(c2, c1, 4, 2, 1)
        self.uplayer1 = make_cifar_layer(c1, c1, blocks, 1)
        self.fuse1 = AsymBiChaFuse(c1)
        self.head = FCNHead(c1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1 = self.layer1(self.stem(x))
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        up2 = self.uplayer2(self.fuse2(self.deconv2(c3), c2))
        up1 = self.uplayer1(self.fuse1(self.deconv1(up2), c1))
        return self.head(up1)


@register(
    "acm",
    family="deep",
    kind="deep",
    paper="Dai et al., Asymmetric Contextual Modulation for Infrared Small Target Detection, WACV 2021",
    year=2021,
    defaults={**COMMON_DEFAULTS, "blocks": 4},
    policy="fixed:0.5",
    display="ACM",
)
class ACM(DeepDetector):
    """ACM with the official MXNet weights (``.params``, mapped on load) or a converted torch checkpoint.

    Preprocessing: grey copied to RGB, ImageNet mean/std; logits; stride 4.

    Notes
    -----
    Official SIRST protocol (open-acm ``train_dentist.py``): as for :class:`methods.deep.alcnet.ALCNet`
    (``test`` split, image and mask resized to 512, ``logits > 0``, dataset-level IoU). With the released
    weights this port gives 0.6931 on all 86 images (0.7469 without ``Misc_29``). The file name records
    0.7442 at epoch 288 of a loop whose validation loader (shuffled id list, ``last_batch='rollover'``,
    test batch 8) scores 80 or 88 images per epoch; epoch 288 is an 80-image epoch (the first 80 of the
    shuffled list). 80-image windows span 0.6603-0.7748 and reach 0.7442 only without ``Misc_29`` (with it:
    at most 0.7153); 88-image windows reach at most 0.7053. See ``benchmarks/reproduce_official_sirst.py``.
    """

    preset = "imagenet_rgb"
    stride = 4
    output = "logits"
    recipe = Recipe("adagrad", 0.05, 1e-4, epochs=300, batch=8, crop=480, base=512, loss="iou-batch")

    def build(self) -> nn.Module:
        return ASKCResUNet(in_channels=3, blocks=int(self.params.get("blocks", 4)))

    def load_weights(self, net: nn.Module, path: Path) -> None:
        load_gluon_or_torch(net, path, fixed_bn=("stem.0",))
