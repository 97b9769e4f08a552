"""MSHNet (Liu et al., CVPR 2024): a U-Net of CBAM residual blocks with a fused multi-scale head.

Written from the official architecture and its state_dict layout (4,065,513 parameters,
340 entries). At test time the official code runs with ``warm_flag=True`` and evaluates the fused ``final``
output (logits).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from methods.deep.base import COMMON_DEFAULTS, DeepDetector
from methods.deep.blocks import make_stage
from methods.deep.losses import LossFn, multiscale_loss
from methods.deep.recipe import Recipe
from methods.registry import register

__all__ = ["MSHNetNet", "MSHNet"]


def _up(x: torch.Tensor, scale: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=True)


class MSHNetNet(nn.Module):
    """The MSHNet network.

    Parameters
    ----------
    in_channels : int
        Input channels (3 in the official model: the grey image copied to RGB).

    Notes
    -----
    ``forward(x, warm_flag=True)`` returns ``(side_masks, fused)`` as the reference does; with
    ``warm_flag=False`` only ``output_0`` is computed and returned.
    """

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        ch = [16, 32, 64, 128, 256]
        self.conv_init = nn.Conv2d(in_channels, ch[0], 1)
        self.encoder_0 = make_stage(ch[0], ch[0], 1)
        self.encoder_1 = make_stage(ch[0], ch[1], 2)
        self.encoder_2 = make_stage(ch[1], ch[2], 2)
        self.encoder_3 = make_stage(ch[2], ch[3], 2)
        self.middle_layer = make_stage(ch[3], ch[4], 2)
        self.decoder_3 = make_stage(ch[3] + ch[4], ch[3], 2)
        self.decoder_2 = make_stage(ch[2] + ch[3], ch[2], 2)
        self.decoder_1 = make_stage(ch[1] + ch[2], ch[1], 2)
        self.decoder_0 = make_stage(ch[0] + ch[1], ch[0], 1)
        self.output_0 = nn.Conv2d(ch[0], 1, 1)
        self.output_1 = nn.Conv2d(ch[1], 1, 1)
        self.output_2 = nn.Conv2d(ch[2], 1, 1)
        self.output_3 = nn.Conv2d(ch[3], 1, 1)
        self.final = nn.Conv2d(4, 1, 3, padding=1)

    def forward(
        self, x: torch.Tensor, warm_flag: bool = True
    ) -> torch.Tensor | tuple[list[torch.Tensor], torch.Tensor]:
        e0 = self.encoder_0(self.conv_init(x))
        e1 = self.encoder_1(F.max_pool2d(e0, 2))
        e2 = self.encoder_2(F.max_pool2d(e1, 2))
        e3 = self.encoder_3(F.max_pool2d(e2, 2))
        m = self.middle_layer(F.max_pool2d(e3, 2))
        d3 = self.decoder_3(torch.cat([e3, _up(m, 2)], 1))
        d2 = self.decoder_2(torch.cat([e2, _up(d3, 2)], 1))
        d1 = self.decoder_1(torch.cat([e1, _up(d2, 2)], 1))
        d0 = self.decoder_0(torch.cat([e0, _up(d1, 2)], 1))
        mask0 = self.output_0(d0)
        if not warm_flag:
            return mask0
        mask1 = self.output_1(d1)
        mask2 = self.output_2(d2)
        mask3 = self.output_3(d3)
        fused = self.final(torch.cat([mask0, _up(mask1, 2), _up(mask2, 4), _up(mask3, 8)], 1))
        return [mask0, mask1, mask2, mask3], fused


@register(
    "mshnet",
    family="deep",
    kind="deep",
    paper="Liu, Liu, Zheng, Wang & Fu, Infrared small target detection with scale and location sensitivity, CVPR 2024",
    year=2024,
    defaults={**COMMON_DEFAULTS},
    policy="fixed:0.5",
    display="MSHNet",
)
class MSHNet(DeepDetector):
    """MSHNet detector: 3-channel ImageNet-normalised input, fused ``final`` head, logits -> sigmoid."""

    preset = "imagenet_rgb"
    stride = 16
    output = "logits"
    recipe = Recipe("adagrad", 0.05, epochs=400, batch=4, crop=256, base=256, warmup=5, loss="sls")

    def build(self) -> nn.Module:
        return MSHNetNet(3)

    def prepare_training(self, net: nn.Module, recipe: Recipe) -> None:
        """With fewer than 4 side outputs in the head (Table 6): zero the fused head's weights on the dropped
        (smallest) side outputs and keep their gradient at zero, so the trained network computes the reduced
        head and still loads as the standard MSHNet."""
        if recipe.scales >= 4:
            return
        keep = torch.zeros(1, 4, 1, 1)
        keep[:, : max(recipe.scales, 1)] = 1.0  # channel k of ``final`` is side output k (mask0 = full size)
        with torch.no_grad():
            net.final.weight.mul_(keep)
        net.final.weight.register_hook(lambda g: g * keep.to(g))

    def training_loss(
        self, net: nn.Module, x: torch.Tensor, target: torch.Tensor, loss: LossFn, warm: bool, recipe: Recipe
    ) -> torch.Tensor:
        """Eq. 8: ``loss`` over the fused output and the ``recipe.scales`` supervised side outputs against
        max-pooled masks; in the warm-up epochs the net runs ``warm_flag=False`` and only ``output_0`` is
        supervised, as in the official code."""
        if warm:
            return loss(self.probabilities(net(x, False)), target, True)
        sides, fused = net(x, True)
        return multiscale_loss(
            [self.probabilities(s) for s in sides],
            self.probabilities(fused),
            target,
            loss,
            False,
            supervised=range(recipe.scales),
        )

    def forward_scores(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net(x, True)[1]
