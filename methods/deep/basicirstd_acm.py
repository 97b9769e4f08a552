"""The BasicIRSTD / LESPS PyTorch versions of ACM (``ASKCResUNet``) and "ALCNet" (``ASKCResNetFPN``).

These are the definitions the BasicIRSTD toolbox and the LESPS checkpoints use (1 input channel,
per-dataset mean/std, torchvision-style residual blocks, stride-4 stem). BasicIRSTD's "ALCNet" has no
local-contrast module: it is an ACM variant, hence the separate method name. Its
``uplayer1``/``uplayer2`` are never called but are kept so that its checkpoints load strictly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from methods.deep.acm import AsymBiChaFuse, FCNHead, conv3x3
from methods.deep.base import COMMON_DEFAULTS, DeepDetector
from methods.deep.recipe import Recipe
from methods.registry import register

__all__ = ["TorchBasicBlock", "BasicIRSTDACMNet", "BasicIRSTDALCNet", "ACMBasicIRSTD", "ALCNetBasicIRSTD"]


class TorchBasicBlock(nn.Module):
    """torchvision ``BasicBlock`` layout: conv1-bn1-relu-conv2-bn2 plus an optional ``downsample``."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + residual)


def _layer(cin: int, cout: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(TorchBasicBlock(cin, cout, stride), *[TorchBasicBlock(cout, cout) for _ in range(blocks - 1)])


def _stem(in_channels: int, c0: int) -> nn.Sequential:
    """BN on the input, conv s2 (-> c0), conv (-> c0), conv (-> 2*c0), each BN+ReLU, max-pool 3/2: /4."""
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        conv3x3(in_channels, c0, 2),
        nn.BatchNorm2d(c0),
        nn.ReLU(inplace=True),
        conv3x3(c0, c0),
        nn.BatchNorm2d(c0),
        nn.ReLU(inplace=True),
        conv3x3(c0, 2 * c0),
        nn.BatchNorm2d(2 * c0),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    )


class BasicIRSTDACMNet(nn.Module):
    """BasicIRSTD ``ASKCResUNet``: layers (3,3,3), channels (8,16,32,64), AsymBi fusion; logits at the
    input size (x4 bilinear upsampling of the /4 head). Inputs must be divisible by 16."""

    def __init__(self, in_channels: int = 1, blocks: int = 3, channels: tuple[int, ...] = (8, 16, 32, 64)) -> None:
        super().__init__()
        c0, c1, c2, c3 = channels
        self.stem = _stem(in_channels, c0)
        self.layer1 = _layer(c1, c1, blocks, 1)
        self.layer2 = _layer(c1, c2, blocks, 2)
        self.layer3 = _layer(c2, c3, blocks, 2)
        self.deconv2 = nn.ConvTranspose2d(c3, c2, 4, 2, 1)
        self.uplayer2 = _layer(c2, c2, blocks, 1)
        self.fuse2 = AsymBiChaFuse(c2)
        self.deconv1 = nn.ConvTranspose2d(c2, c1, 4, 2, 1)
        self.uplayer1 = _layer(c1, c1, blocks, 1)
        self.fuse1 = AsymBiChaFuse(c1)
        self.head = FCNHead(c1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1 = self.layer1(self.stem(x))
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        up2 = self.uplayer2(self.fuse2(self.deconv2(c3), c2))
        up1 = self.uplayer1(self.fuse1(self.deconv1(up2), c1))
        return F.interpolate(self.head(up1), scale_factor=4, mode="bilinear", align_corners=False)


class BasicIRSTDALCNet(nn.Module):
    """BasicIRSTD ``ASKCResNetFPN`` ("ALCNet"): layers (4,4,4), FPN with AsymBi fusion and three
    transposed convolutions; the head works at /2 and is resized to the input. The resizes BasicIRSTD
    applies to /16 and /8 are identities for inputs divisible by 32 (the preset pads to 32)."""

    def __init__(self, in_channels: int = 1, blocks: int = 4, channels: tuple[int, ...] = (8, 16, 32, 64)) -> None:
        super().__init__()
        c0, c1, c2, c3 = channels
        self.stem = _stem(in_channels, c0)
        self.head = FCNHead(c0)
        self.layer1 = _layer(c1, c1, blocks, 1)
        self.layer2 = _layer(c1, c2, blocks, 2)
        self.layer3 = _layer(c2, c3, blocks, 2)
        self.deconv2 = nn.ConvTranspose2d(c3, c2, 4, 2, 1)
        self.uplayer2 = _layer(c2, c2, blocks, 1)  # unused in forward (kept for strict loading)
        self.deconv1 = nn.ConvTranspose2d(c2, c1, 4, 2, 1)
        self.deconv0 = nn.ConvTranspose2d(c1, c0, 4, 2, 1)
        self.uplayer1 = _layer(c1, c1, blocks, 1)  # unused in forward (kept for strict loading)
        self.fuse23 = AsymBiChaFuse(c2)
        self.fuse12 = AsymBiChaFuse(c1)

    @staticmethod
    def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if x.shape[-2:] == size:
            return x
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        c1 = self.layer1(self.stem(x))
        c2 = self.layer2(c1)
        out = self._resize(self.layer3(c2), (h // 16, w // 16))
        out = self.fuse23(self.deconv2(out), c2)
        out = self._resize(out, (h // 8, w // 8))
        out = self.fuse12(self.deconv1(out), c1)
        return self._resize(self.head(self.deconv0(out)), (h, w))


# BasicIRSTD's train.py defaults, which its checkpoints were trained with: Adam 5e-4, MultiStepLR at epochs 200
# and 300 (x0.1), 400 epochs, batch 16, 256x256 patches (no rescale; half the crops hold a target pixel; flips
# and transpose), SoftIoU over the batch; BasicIRSTD keeps the last epoch, irbench selects on validation
BASICIRSTD_RECIPE = Recipe(
    "adam",
    5e-4,
    schedule="multistep",
    milestones=(200, 300),
    gamma=0.1,
    epochs=400,
    batch=16,
    crop=256,
    base=0,
    loss="iou-batch",
    augment="patch",
)
_BASIC_DEFAULTS = {**COMMON_DEFAULTS, "dataset_stats": None, "trained_on": None}
_LESPS = "checkpoints: BasicIRSTD / LESPS (XinyiYing/LESPS)"


@register(
    "acm-basicirstd",
    family="deep",
    kind="deep",
    paper="Dai et al., Asymmetric Contextual Modulation for Infrared Small Target Detection, WACV 2021 "
    f"(BasicIRSTD PyTorch re-implementation; {_LESPS})",
    year=2021,
    defaults=_BASIC_DEFAULTS,
    policy="fixed:0.5",
    display="ACM (BasicIRSTD)",
)
class ACMBasicIRSTD(DeepDetector):
    """BasicIRSTD ACM: 1 channel, per-dataset mean/std (``dataset_stats`` overrides), pad to 32."""

    preset = "basicirstd_gray"
    stride = 32
    output = "logits"
    recipe = BASICIRSTD_RECIPE

    def build(self) -> nn.Module:
        return BasicIRSTDACMNet()


@register(
    "alcnet-basicirstd",
    family="deep",
    kind="deep",
    paper="Dai et al., Attentional Local Contrast Networks for Infrared Small Target Detection, TGRS 2021 "
    f"(BasicIRSTD 'ALCNet' = ASKCResNetFPN, without the local-contrast module; {_LESPS})",
    year=2021,
    defaults=_BASIC_DEFAULTS,
    policy="fixed:0.5",
    display="ALCNet (BasicIRSTD)",
)
class ALCNetBasicIRSTD(DeepDetector):
    """BasicIRSTD "ALCNet": 1 channel, per-dataset mean/std (``dataset_stats`` overrides), pad to 32."""

    preset = "basicirstd_gray"
    stride = 32
    output = "logits"
    recipe = BASICIRSTD_RECIPE

    def build(self) -> nn.Module:
        return BasicIRSTDALCNet()
