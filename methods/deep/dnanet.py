"""DNANet (Li et al., TIP 2023): dense nested attention network (UNet++ of CBAM residual blocks).

Written from the official architecture and its state_dict layout. One class covers the official model
(3 input channels, 4,696,888 parameters) and the BasicIRSTD variant (``in_channels=1``, 4,696,568); the
test-time head is ``final4`` on the feature-pyramid-fused ``conv0_4_final`` features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from methods.deep.base import COMMON_DEFAULTS, DeepDetector
from methods.deep.blocks import make_stage
from methods.deep.losses import LossFn, deep_supervision_loss
from methods.deep.recipe import Recipe
from methods.registry import register

__all__ = ["DNANetNet", "DNANet"]


def _resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=True)


class DNANetNet(nn.Module):
    """The DNANet network (ResNet-18 setting: blocks [2, 2, 2, 2], filters [16, 32, 64, 128, 256]).

    Parameters
    ----------
    in_channels : int
        3 for the official model, 1 for BasicIRSTD's.
    num_blocks : sequence of 4 int
        Blocks per node at levels 1..4 (level 0 nodes have one block).
    nb_filter : sequence of 5 int
        Channels per level.

    Notes
    -----
    ``forward`` returns the four deep-supervision logits ``[final1, final2, final3, final4]``; the last is
    the evaluated output.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_blocks: tuple[int, ...] = (2, 2, 2, 2),
        nb_filter: tuple[int, ...] = (16, 32, 64, 128, 256),
    ) -> None:
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"parameter 'in_channels' must be 1 or 3, got {in_channels!r}")
        f, b = nb_filter, num_blocks
        self.conv0_0 = make_stage(in_channels, f[0], 1)
        self.conv1_0 = make_stage(f[0], f[1], b[0])
        self.conv2_0 = make_stage(f[1], f[2], b[1])
        self.conv3_0 = make_stage(f[2], f[3], b[2])
        self.conv4_0 = make_stage(f[3], f[4], b[3])
        self.conv0_1 = make_stage(f[0] + f[1], f[0], 1)
        self.conv1_1 = make_stage(f[1] + f[2] + f[0], f[1], b[0])
        self.conv2_1 = make_stage(f[2] + f[3] + f[1], f[2], b[1])
        self.conv3_1 = make_stage(f[3] + f[4] + f[2], f[3], b[2])
        self.conv0_2 = make_stage(f[0] * 2 + f[1], f[0], 1)
        self.conv1_2 = make_stage(f[1] * 2 + f[2] + f[0], f[1], b[0])
        self.conv2_2 = make_stage(f[2] * 2 + f[3] + f[1], f[2], b[1])
        self.conv0_3 = make_stage(f[0] * 3 + f[1], f[0], 1)
        self.conv1_3 = make_stage(f[1] * 3 + f[2] + f[0], f[1], b[0])
        self.conv0_4 = make_stage(f[0] * 4 + f[1], f[0], 1)
        self.conv0_4_final = make_stage(f[0] * 5, f[0], 1)
        self.conv0_4_1x1 = nn.Conv2d(f[4], f[0], 1)
        self.conv0_3_1x1 = nn.Conv2d(f[3], f[0], 1)
        self.conv0_2_1x1 = nn.Conv2d(f[2], f[0], 1)
        self.conv0_1_1x1 = nn.Conv2d(f[1], f[0], 1)
        self.final1 = nn.Conv2d(f[0], 1, 1)
        self.final2 = nn.Conv2d(f[0], 1, 1)
        self.final3 = nn.Conv2d(f[0], 1, 1)
        self.final4 = nn.Conv2d(f[0], 1, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        def up(t: torch.Tensor) -> torch.Tensor:
            return _resize(t, 2)

        def down(t: torch.Tensor) -> torch.Tensor:
            return _resize(t, 0.5)

        x0_0 = self.conv0_0(x)
        x1_0 = self.conv1_0(F.max_pool2d(x0_0, 2))
        x0_1 = self.conv0_1(torch.cat([x0_0, up(x1_0)], 1))
        x2_0 = self.conv2_0(F.max_pool2d(x1_0, 2))
        x1_1 = self.conv1_1(torch.cat([x1_0, up(x2_0), down(x0_1)], 1))
        x0_2 = self.conv0_2(torch.cat([x0_0, x0_1, up(x1_1)], 1))
        x3_0 = self.conv3_0(F.max_pool2d(x2_0, 2))
        x2_1 = self.conv2_1(torch.cat([x2_0, up(x3_0), down(x1_1)], 1))
        x1_2 = self.conv1_2(torch.cat([x1_0, x1_1, up(x2_1), down(x0_2)], 1))
        x0_3 = self.conv0_3(torch.cat([x0_0, x0_1, x0_2, up(x1_2)], 1))
        x4_0 = self.conv4_0(F.max_pool2d(x3_0, 2))
        x3_1 = self.conv3_1(torch.cat([x3_0, up(x4_0), down(x2_1)], 1))
        x2_2 = self.conv2_2(torch.cat([x2_0, x2_1, up(x3_1), down(x1_2)], 1))
        x1_3 = self.conv1_3(torch.cat([x1_0, x1_1, x1_2, up(x2_2), down(x0_3)], 1))
        x0_4 = self.conv0_4(torch.cat([x0_0, x0_1, x0_2, x0_3, up(x1_3)], 1))
        fused = self.conv0_4_final(
            torch.cat(
                [
                    _resize(self.conv0_4_1x1(x4_0), 16),
                    _resize(self.conv0_3_1x1(x3_1), 8),
                    _resize(self.conv0_2_1x1(x2_2), 4),
                    _resize(self.conv0_1_1x1(x1_3), 2),
                    x0_4,
                ],
                1,
            )
        )
        return [self.final1(x0_1), self.final2(x0_2), self.final3(x0_3), self.final4(fused)]


@register(
    "dnanet",
    family="deep",
    kind="deep",
    paper="Li, Xiao, Wang, Wang, Lin, Li, An & Guo, Dense nested attention network for infrared small target "
    "detection, IEEE TIP 32, 2023",
    year=2023,
    defaults={**COMMON_DEFAULTS, "in_channels": 3, "dataset_stats": None, "trained_on": None},
    policy="fixed:0.5",
    display="DNANet",
)
class DNANet(DeepDetector):
    """DNANet detector, ``final4`` logits -> sigmoid.

    ``in_channels=3`` (default): the official model, ImageNet-normalised RGB input. ``in_channels=1``:
    the BasicIRSTD model (``model.``-prefixed checkpoints load as well), grey normalisation with the
    training set's statistics (``trained_on``, ``dataset_stats``), inputs padded to a multiple of 32 as
    BasicIRSTD pads them.
    """

    stride = 16
    output = "logits"
    recipe = Recipe("adagrad", 0.05, schedule="cosine", epochs=1500, batch=16, loss="iou-batch")

    def __init__(self, **params: object) -> None:
        channels = params.get("in_channels", 3)
        if channels not in (1, 3):
            raise ValueError(f"parameter 'in_channels' must be 1 or 3, got {channels!r}")
        self.preset = "imagenet_rgb" if channels == 3 else "basicirstd_gray"
        self.stride = 16 if channels == 3 else 32  # BasicIRSTD pads its inputs to a multiple of 32
        super().__init__(**params)

    def build(self) -> nn.Module:
        return DNANetNet(int(self.params.get("in_channels", 3)))

    def forward_scores(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net(x)[-1]

    def training_loss(
        self, net: nn.Module, x: torch.Tensor, target: torch.Tensor, loss: LossFn, warm: bool, recipe: Recipe
    ) -> torch.Tensor:
        """Deep supervision: the mean of ``loss`` over ``final1..final4``."""
        return deep_supervision_loss([self.probabilities(o) for o in net(x)], target, loss, warm)
