"""A deep model's training recipe: optimiser, learning rate and schedule, epochs, batch, crop, loss, and the
learning rate of an adversarial critic for the models that train one."""

from __future__ import annotations

from dataclasses import dataclass

from methods.deep.losses import LOSSES

__all__ = ["Recipe"]


@dataclass(frozen=True)
class Recipe:
    """The official training settings of one model, declared as class data beside its architecture."""

    optimizer: str  # "adagrad" or "adam"
    lr: float
    weight_decay: float = 0.0
    # "none", "cosine" (T_max = epochs, eta_min 1e-5), "cosine30" (T_max = 30), "step" (x gamma every step_epochs),
    # "multistep" (x gamma at each of the milestone epochs, as PyTorch's MultiStepLR)
    schedule: str = "none"
    step_epochs: int = 10
    gamma: float = 0.2
    milestones: tuple[int, ...] = ()
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's
    critic_lr: float | None = None  # Adam (same betas, constant rate) of a critic (DeepDetector.build_critic)
    epochs: int = 400
    batch: int = 4
    crop: int = 256
    base: int = 256
    warmup: int = 0
    loss: str = "iou"
    scales: int = 4  # multi-scale models: supervised side outputs, max(scales, 1) feed the fused head
    augment: str = "rescale"  # an augmentation style of benchmark.training.data.AUGMENTS: "rescale" or "patch"

    def __post_init__(self) -> None:
        if self.optimizer not in ("adagrad", "adam"):
            raise ValueError(f"parameter 'optimizer' must be 'adagrad' or 'adam', got {self.optimizer!r}")
        if self.schedule not in ("none", "cosine", "cosine30", "step", "multistep"):
            raise ValueError(
                "parameter 'schedule' must be 'none', 'cosine', 'cosine30', 'step' or 'multistep', "
                f"got {self.schedule!r}"
            )
        if self.schedule == "multistep" and (
            not self.milestones or list(self.milestones) != sorted(set(self.milestones)) or self.milestones[0] < 1
        ):
            raise ValueError(f"parameter 'milestones' must be increasing epochs >= 1, got {self.milestones!r}")
        if self.augment not in ("rescale", "patch"):
            raise ValueError(f"parameter 'augment' must be 'rescale' or 'patch', got {self.augment!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"parameter 'loss' must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        for name in ("epochs", "batch", "crop", "step_epochs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"parameter '{name}' must be >= 1, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"parameter 'lr' must be > 0, got {self.lr!r}")
        if self.critic_lr is not None and not self.critic_lr > 0:
            raise ValueError(f"parameter 'critic_lr' must be > 0, got {self.critic_lr!r}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"parameter 'gamma' must be in (0, 1], got {self.gamma!r}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"parameter 'betas' must be two numbers in [0, 1), got {self.betas!r}")
        if self.warmup < 0:
            raise ValueError(f"parameter 'warmup' must be >= 0, got {self.warmup!r}")
        if not 0 <= self.scales <= 4:
            raise ValueError(f"parameter 'scales' must be in 0..4, got {self.scales!r}")
