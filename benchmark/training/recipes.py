"""Per-model training presets (deep-models.md §4.4) and how each network is supervised.

A :class:`Recipe` holds the official optimiser, learning rate, schedule, epochs, batch, crop and loss of one
model. :func:`training_loss` runs a network in training mode and applies that model's supervision:

* ``mshnet``: Eq. 8 (the loss on the fused output and the four side outputs against max-pooled masks); in the
  warm-up epochs the network runs with ``warm_flag=False`` and only ``output_0`` is supervised, as in the
  official code. ``scales`` (Table 6) keeps the fused head's input from the dropped side outputs at zero.
* ``dnanet``: deep supervision, the mean of the loss over ``final1..final4``.
* ``isnet``: the loss on the output plus ``10 * BCE + SoftIoU`` on the edge output.
* ``acm``, ``alcnet``, ``acm-basicirstd``, ``alcnet-basicirstd``: the loss on the single output.

MDvsFA (an adversarial recipe with two generators and a discriminator) is not supported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from methods.deep.base import DeepDetector
from methods.deep.isnet import image_gradient
from methods.deep.losses import LOSSES, LossFn, deep_supervision_loss, isnet_loss, multiscale_loss
from methods.registry import create

__all__ = ["Recipe", "RECIPES", "get_recipe", "build_detector", "training_loss", "mask_dropped_scales"]


@dataclass(frozen=True)
class Recipe:
    """The official training settings of one model (deep-models.md §4.4)."""

    optimizer: str  # "adagrad" or "adam"
    lr: float
    weight_decay: float = 0.0
    schedule: str = "none"  # "none", "cosine" (T_max = epochs, eta_min 1e-5), "cosine30" (T_max = 30)
    epochs: int = 400
    batch: int = 4
    crop: int = 256
    base: int = 256
    warmup: int = 0
    loss: str = "iou"
    scales: int = 4  # MSHNet only: supervised side outputs, max(scales, 1) of them feed the fused head (Table 6)

    def __post_init__(self) -> None:
        if self.optimizer not in ("adagrad", "adam"):
            raise ValueError(f"parameter 'optimizer' must be 'adagrad' or 'adam', got {self.optimizer!r}")
        if self.schedule not in ("none", "cosine", "cosine30"):
            raise ValueError(f"parameter 'schedule' must be 'none', 'cosine' or 'cosine30', got {self.schedule!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"parameter 'loss' must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        for name in ("epochs", "batch", "crop"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"parameter '{name}' must be >= 1, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"parameter 'lr' must be > 0, got {self.lr!r}")
        if self.warmup < 0:
            raise ValueError(f"parameter 'warmup' must be >= 0, got {self.warmup!r}")
        if not 0 <= self.scales <= 4:
            raise ValueError(f"parameter 'scales' must be in 0..4, got {self.scales!r}")


RECIPES: dict[str, Recipe] = {
    "mshnet": Recipe("adagrad", 0.05, epochs=400, batch=4, crop=256, base=256, warmup=5, loss="sls"),
    "dnanet": Recipe("adagrad", 0.05, schedule="cosine", epochs=1500, batch=16, loss="iou-batch"),
    "isnet": Recipe("adagrad", 0.05, 1e-4, "cosine30", epochs=3000, batch=12, crop=480, base=512,
                    loss="iou-batch"),
    "alcnet": Recipe("adagrad", 0.1, 1e-4, epochs=300, batch=2, crop=480, base=512, loss="iou-batch"),
    "acm": Recipe("adagrad", 0.05, 1e-4, epochs=300, batch=8, crop=480, base=512, loss="iou-batch"),
    # BasicIRSTD's "Adagrad" option (metrics-and-protocols.md §4.2) for its ACM / ALCNet definitions
    "acm-basicirstd": Recipe("adagrad", 0.05, schedule="cosine", epochs=400, batch=16, loss="iou-batch"),
    "alcnet-basicirstd": Recipe("adagrad", 0.05, schedule="cosine", epochs=400, batch=16, loss="iou-batch"),
}


def get_recipe(method: str, **overrides: Any) -> Recipe:
    """The preset of ``method`` with the non-None ``overrides`` applied (validated)."""
    if method not in RECIPES:
        raise ValueError(f"no training recipe for method {method!r}; trainable: {', '.join(RECIPES)}")
    return replace(RECIPES[method], **{k: v for k, v in overrides.items() if v is not None})


def build_detector(method: str, **params: Any) -> DeepDetector:
    """The registered detector ``method`` (its preset, stride and head), validated as trainable."""
    if method not in RECIPES:
        raise ValueError(f"no training recipe for method {method!r}; trainable: {', '.join(RECIPES)}")
    det = create(method, **params)
    if not isinstance(det, DeepDetector):
        raise ValueError(f"method {method!r} is not a deep detector")
    return det


def mask_dropped_scales(net: nn.Module, scales: int) -> None:
    """MSHNet with fewer than 4 side outputs in its head (Table 6): zero the fused head's weights on the
    dropped (smallest) side outputs and keep their gradient at zero, so the trained network computes the
    reduced head and still loads as the standard MSHNet."""
    if scales >= 4:
        return
    keep = torch.zeros(1, 4, 1, 1)
    keep[:, :max(scales, 1)] = 1.0  # channel k of ``final`` is side output k (mask0 = full resolution)
    with torch.no_grad():
        net.final.weight.mul_(keep)
    net.final.weight.register_hook(lambda g: g * keep.to(g))


def _probs(det: DeepDetector, out: torch.Tensor) -> torch.Tensor:
    out = out.float()
    return torch.sigmoid(out) if det.output == "logits" else out.clamp(0.0, 1.0)


def training_loss(method: str, det: DeepDetector, net: nn.Module, x: torch.Tensor, target: torch.Tensor,
                  loss: LossFn, warm: bool, scales: int = 4) -> torch.Tensor:
    """Forward ``x`` through ``net`` in training mode and return the model's supervised loss.

    Parameters
    ----------
    warm : inside the warm-up epochs (MSHNet runs its single full-size head; ``sls-official`` uses IoU).
    scales : MSHNet side outputs supervised besides the fused output (Table 6; 0 = the fused output only).
    """
    if method == "mshnet":
        if warm:
            return loss(_probs(det, net(x, False)), target, True)
        sides, fused = net(x, True)
        return multiscale_loss([_probs(det, s) for s in sides], _probs(det, fused), target, loss, False,
                               supervised=range(scales))
    if method == "dnanet":
        return deep_supervision_loss([_probs(det, o) for o in net(x)], target, loss, warm)
    if method == "isnet":
        grad = None if getattr(net, "grad_inside", False) else image_gradient(x)
        out, edge = net(x, grad)
        return isnet_loss(_probs(det, out), edge.float(), target, loss, warm)
    return loss(_probs(det, net(x)), target, warm)

