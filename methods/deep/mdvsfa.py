"""MDvsFA (Wang et al., ICCV 2019): two dilated-conv generators balancing misses and false alarms.

Written from the PyTorch port shipped in the official repository: ``G1``
(``Generator1_CAN8``, 3,138,497 parameters) and ``G2`` (``Generator2_UCAN64``, 629,825). The detection
map is the mean of the two outputs, each clamped to [0, 1]. The discriminator is not needed at test time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from methods.deep.base import COMMON_DEFAULTS, DeepDetector, sha256_file
from methods.deep.checkpoint import CheckpointError, load_checkpoint
from methods.registry import MissingWeightsError, register

__all__ = ["Generator1CAN8", "Generator2UCAN64", "MDvsFANet", "MDvsFA"]


class Generator1CAN8(nn.Module):
    """G1: eight dilated 3x3 conv + BN + LeakyReLU(0.2) layers (``g1_conv1..8``), then ``g1_conv9`` 1x1."""

    CHANNELS = (64, 64, 128, 256, 512, 256, 128, 64)
    DILATIONS = (1, 1, 2, 4, 8, 4, 2, 1)

    def __init__(self) -> None:
        super().__init__()
        cin = 1
        for i, (cout, dil) in enumerate(zip(self.CHANNELS, self.DILATIONS), start=1):
            setattr(self, f"g1_conv{i}", nn.Conv2d(cin, cout, 3, padding=dil, dilation=dil))
            cin = cout
        self.g1_conv9 = nn.Conv2d(cin, 1, 1)
        for i, cout in enumerate(self.CHANNELS, start=1):
            setattr(self, f"g1_bn{i}", nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, 9):
            x = F.leaky_relu(getattr(self, f"g1_bn{i}")(getattr(self, f"g1_conv{i}")(x)), 0.2)
        return self.g1_conv9(x)


class Generator2UCAN64(nn.Module):
    """G2: thirteen 64-channel dilated convs with U-shaped skips (``g2_conv1..13``), then ``g2_conv14`` 1x1.

    Dilations 1, 2, 4, ..., 64, ..., 2, 1; layers 9..13 take the concatenation of the matching encoder
    output (layers 6, 5, 4, 3, 2) and the previous layer.
    """

    DILATIONS = (1, 2, 4, 8, 16, 32, 64, 32, 16, 8, 4, 2, 1)

    def __init__(self) -> None:
        super().__init__()
        for i, dil in enumerate(self.DILATIONS, start=1):
            cin = 1 if i == 1 else (128 if i >= 9 else 64)
            setattr(self, f"g2_conv{i}", nn.Conv2d(cin, 64, 3, padding=dil, dilation=dil))
        self.g2_conv14 = nn.Conv2d(64, 1, 1)
        for i in range(1, 14):
            setattr(self, f"g2_bn{i}", nn.BatchNorm2d(64))

    def _layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(getattr(self, f"g2_bn{i}")(getattr(self, f"g2_conv{i}")(x)), 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i in range(1, 9):
            feats.append(self._layer(i, feats[-1]))
        y = feats[8]
        for i, skip in zip(range(9, 14), (6, 5, 4, 3, 2)):
            y = self._layer(i, torch.cat([feats[skip], y], 1))
        return self.g2_conv14(y)


class MDvsFANet(nn.Module):
    """Both generators; ``forward`` returns ``(clamp(G1, 0, 1) + clamp(G2, 0, 1)) / 2``."""

    def __init__(self) -> None:
        super().__init__()
        self.g1 = Generator1CAN8()
        self.g2 = Generator2UCAN64()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.g1(x).clamp(0.0, 1.0) + self.g2(x).clamp(0.0, 1.0)) / 2


@register(
    "mdvsfa",
    family="deep",
    kind="deep",
    paper="Wang, Zhou & Wang, Miss detection vs. false alarm: adversarial learning for small object "
    "segmentation in infrared images, ICCV 2019",
    year=2019,
    defaults={**COMMON_DEFAULTS, "weights_g2": None},
    policy="fixed:0.5",
    display="MDvsFA",
)
class MDvsFA(DeepDetector):
    """MDvsFA detector: grey input scaled to [-1, 1], mean of the two clamped generator maps.

    Weights: the official training saves one file per generator. ``weights`` is either a file holding
    both (keys ``g1.*`` and ``g2.*``, e.g. as written by ``torch.save(MDvsFANet().state_dict())``) or the
    G1 file, with ``weights_g2`` naming the G2 file.
    """

    preset = "mdvsfa"
    stride = 1
    output = "probs"

    def build(self) -> nn.Module:
        return MDvsFANet()

    def configure(self, dataset: str) -> None:
        """Resolve the weights as the base does; a ``weights_g2`` file that does not exist is missing weights."""
        g2_path = self.params.get("weights_g2")
        if g2_path is not None and not Path(g2_path).expanduser().is_file():
            raise MissingWeightsError(f"mdvsfa: the G2 weights file {g2_path} does not exist (--set mdvsfa.weights_g2)")
        super().configure(dataset)

    def load_weights(self, net: nn.Module, path: Path) -> None:
        g2_path = self.params.get("weights_g2")
        if g2_path is None:
            load_checkpoint(net, path, strict=True)
            return
        if not isinstance(net, MDvsFANet):
            raise TypeError(f"MDvsFA.load_weights expects an MDvsFANet, got {type(net).__name__}")
        g2_file = Path(g2_path).expanduser()
        if not g2_file.is_file():
            raise CheckpointError(f"mdvsfa: parameter 'weights_g2' names a missing file: {g2_file}")
        load_checkpoint(net.g1, path, strict=True)
        load_checkpoint(net.g2, g2_file, strict=True)

    def provenance(self) -> dict[str, Any]:
        """The base record plus the G2 file and its sha256 when ``weights_g2`` is given."""
        prov = super().provenance()
        g2_path = self.params.get("weights_g2")
        if g2_path is not None and Path(g2_path).expanduser().is_file():
            prov["weights_g2"] = str(Path(g2_path).expanduser())
            prov["weights_g2_sha256"] = sha256_file(Path(g2_path).expanduser())
        return prov
