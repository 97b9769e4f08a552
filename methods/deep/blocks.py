"""Layers shared by the MSHNet and DNANet re-implementations.

Both networks are built from the same residual block with CBAM attention: conv3x3 (bias) + BN + ReLU,
conv3x3 (bias) + BN, channel attention, spatial attention, a conv1x1 + BN shortcut when the channel count
or the stride changes, then ReLU. The attribute names (``conv1``, ``bn1``, ``conv2``, ``bn2``,
``shortcut``, ``ca.fc1``, ``ca.fc2``, ``sa.conv1``) equal the reference state_dict keys.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ChannelAttention", "SpatialAttention", "ResCBAMBlock", "make_stage"]


class ChannelAttention(nn.Module):
    """CBAM channel attention: a shared 1x1 MLP (no bias) on average and max pooling, then sigmoid.

    Parameters
    ----------
    channels : int
        Feature channels.
    ratio : int
        Bottleneck reduction (hidden width ``channels // ratio``, at least 1).
    """

    def __init__(self, channels: int, ratio: int = 16) -> None:
        super().__init__()
        hidden = max(channels // ratio, 1)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True))))
        mx = self.fc2(torch.relu(self.fc1(x.amax(dim=(2, 3), keepdim=True))))
        return torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    """CBAM spatial attention: channel mean and max, a 7x7 conv (no bias), sigmoid."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv1(pooled))


class ResCBAMBlock(nn.Module):
    """Residual block with CBAM attention (MSHNet ``ResNet``, DNANet ``Res_CBAM_block``).

    Parameters
    ----------
    in_channels, out_channels : int
    stride : int
        Stride of the first conv and of the shortcut.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module | None = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride), nn.BatchNorm2d(out_channels)
            )
        else:
            self.shortcut = None
        self.ca = ChannelAttention(out_channels)
        self.sa = SpatialAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.shortcut is None else self.shortcut(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.ca(out) * out
        out = self.sa(out) * out
        return torch.relu(out + residual)


def make_stage(in_channels: int, out_channels: int, blocks: int) -> nn.Sequential:
    """``blocks`` :class:`ResCBAMBlock` in a ``Sequential`` (keys ``<stage>.<i>.…``); the first adapts channels."""
    layers = [ResCBAMBlock(in_channels, out_channels)]
    layers += [ResCBAMBlock(out_channels, out_channels) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)
