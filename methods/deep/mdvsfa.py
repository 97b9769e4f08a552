"""MDvsFA (Wang et al., ICCV 2019): two dilated-conv generators balancing misses and false alarms.

Written from the PyTorch port shipped in the official repository: ``G1``
(``Generator1_CAN8``, 3,138,497 parameters) and ``G2`` (``Generator2_UCAN64``, 629,825). The detection
map is the mean of the two outputs, each clamped to [0, 1]. The discriminator (151,276 parameters) is the
training critic; detection does not use it.

Training objective (the official TensorFlow demo's), with ``S_i`` the clamped map of generator ``i``, ``S_0``
the mask and ``D`` the three-class discriminator on ``(image, 2S - 1)``:

* data terms ``MF_1 = 100 MD_1 + FA_1`` and ``MF_2 = MD_2 + 10 FA_2`` (:func:`~methods.deep.losses.md_fa_loss`);
* generator ``i``: ``100 MF_i + 10 adv_i + GC`` with ``adv_i`` the sigmoid cross-entropy of ``D(S_i)``'s
  softmax scores against the "real" class and ``GC`` the mean squared difference of ``D``'s last
  convolutional feature map on ``S_1`` and ``S_2``;
* discriminator: the sum over the three classes of the same cross-entropy against each input's own class
  (the demo applies a sigmoid cross-entropy to softmax scores; kept as written).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from methods.deep.base import COMMON_DEFAULTS, DeepDetector, sha256_file
from methods.deep.checkpoint import CheckpointError, load_checkpoint
from methods.deep.losses import LossFn, md_fa_loss
from methods.deep.recipe import Recipe
from methods.registry import MissingWeightsError, register

__all__ = ["Generator1CAN8", "Generator2UCAN64", "MDvsFANet", "Discriminator", "MDvsFA"]

REAL, FROM_G1, FROM_G2 = 0, 1, 2  # the discriminator's classes


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


class Discriminator(nn.Module):
    """The critic: two 2x2 max-pools, four 3x3 convs (24, 24, 24, 1 channels; BN, LeakyReLU 0.2) giving a
    feature map pooled to 32x32 (already that size for the official 128x128 patches), then fully connected
    layers 1024 -> 128 -> 64 -> 3 (BN; tanh between). Input ``(N, 2, H, W)``: image and ``2S - 1``.
    ``forward`` returns the softmax scores ``(N, 3)`` and the feature map ``(N, 1, 32, 32)``."""

    def __init__(self) -> None:
        super().__init__()
        for i, (cin, cout) in enumerate(((2, 24), (24, 24), (24, 24), (24, 1)), start=1):
            setattr(self, f"d_conv{i}", nn.Conv2d(cin, cout, 3, padding=1))
            setattr(self, f"d_bn{i}", nn.BatchNorm2d(cout))
        self.fc1, self.d_bn5 = nn.Linear(1024, 128), nn.BatchNorm1d(128)
        self.fc2, self.d_bn6 = nn.Linear(128, 64), nn.BatchNorm1d(64)
        self.fc3, self.d_bn7 = nn.Linear(64, 3), nn.BatchNorm1d(3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(F.max_pool2d(x, 2), 2)
        for i in range(1, 5):
            x = F.leaky_relu(getattr(self, f"d_bn{i}")(getattr(self, f"d_conv{i}")(x)), 0.2)
        feat = F.adaptive_max_pool2d(x, 32)
        h = torch.tanh(self.d_bn5(self.fc1(feat.flatten(1))))
        h = torch.tanh(self.d_bn6(self.fc2(h)))
        return torch.softmax(self.d_bn7(self.fc3(h)), dim=1), feat


def _class_loss(scores: torch.Tensor, label: int) -> torch.Tensor:
    """The demo's cross-entropy of softmax ``scores`` against the one-hot ``label`` (scores taken as logits)."""
    onehot = F.one_hot(torch.full((len(scores),), label, device=scores.device), 3).to(scores.dtype)
    return F.binary_cross_entropy_with_logits(scores, onehot)


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
    # the PyTorch port's optimisers on 128x128 patches (at each decay it multiplies G2's rate by 0.2 twice; once here)
    recipe = Recipe(
        "adam",
        1e-4,
        schedule="step",
        step_epochs=10,
        gamma=0.2,
        betas=(0.5, 0.999),
        critic_lr=1e-5,
        epochs=30,
        batch=20,
        crop=128,
        base=128,
        loss="md-fa",
    )

    def build(self) -> nn.Module:
        return MDvsFANet()

    def build_critic(self) -> nn.Module:
        return Discriminator()

    @staticmethod
    def _maps(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two generators' maps clamped to [0, 1], in float32."""
        return net.g1(x).float().clamp(0.0, 1.0), net.g2(x).float().clamp(0.0, 1.0)

    @staticmethod
    def _critic_batch(
        critic: nn.Module, x: torch.Tensor, target: torch.Tensor, s1: torch.Tensor, s2: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """The critic's scores on (mask, S1, S2) in one batch (its BatchNorm sees all three), and the GC term."""
        image = x.float()
        pairs = torch.cat([torch.cat([image, 2 * m - 1], 1) for m in (target, s1, s2)])
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        scores, feat = critic(pairs.contiguous(memory_format=layout))
        real, fake1, fake2 = scores.float().chunk(3)
        _, f1, f2 = feat.float().chunk(3)
        return real, fake1, fake2, ((f1 - f2) ** 2).mean()

    def critic_loss(self, net: nn.Module, critic: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            s1, s2 = self._maps(net, x)
        real, fake1, fake2, _ = self._critic_batch(critic, x, target, s1, s2)
        return _class_loss(real, REAL) + _class_loss(fake1, FROM_G1) + _class_loss(fake2, FROM_G2)

    def training_loss(
        self,
        net: nn.Module,
        x: torch.Tensor,
        target: torch.Tensor,
        loss: LossFn,
        warm: bool,
        recipe: Recipe,
        critic: nn.Module | None = None,
    ) -> torch.Tensor:
        """The sum of the two generators' objectives. Each generator's parameters get the gradient of its own
        objective only, as with the demo's two optimisers: the critic scores each generator's map beside the
        other's detached one (its batch statistics couple the three inputs). With ``recipe.loss == "md-fa"``
        the data terms are MDvsFA's weighted ones, else ``loss`` on each map."""
        s1, s2 = self._maps(net, x)
        if recipe.loss == "md-fa":
            data = md_fa_loss(s1, target, 100.0, 1.0) + md_fa_loss(s2, target, 1.0, 10.0)
        else:
            data = loss(s1, target, warm) + loss(s2, target, warm)
        if critic is None:
            return 100 * data
        _, fake1, _, gc1 = self._critic_batch(critic, x, target, s1, s2.detach())
        _, _, fake2, gc2 = self._critic_batch(critic, x, target, s1.detach(), s2)
        return 100 * data + 10 * (_class_loss(fake1, REAL) + _class_loss(fake2, REAL)) + gc1 + gc2

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
