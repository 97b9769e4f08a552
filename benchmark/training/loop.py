"""The training loop: seeded, checkpointed every epoch, resumable bit-for-bit (CPU), model selection on val.

``train(config)`` writes into ``config.out``:

* ``last.pth``: the resume state (model, optimiser, a critic and its optimiser, AMP scaler, completed epochs,
  best-so-far, history, the python/numpy/torch RNG states and the data-order generator), rewritten atomically
  after every epoch; it holds only tensors, plain containers and scalars, and ``--resume`` reads it with
  ``torch.load(weights_only=True)``, so a planted pickle cannot run code;
* ``best.pth``: ``{"state_dict", "method", "epoch", "val_iou", ...}`` of the epoch with the best IoU on the
  validation split carved from the training split; it loads with ``irbench run --weights METHOD=best.pth``;
* ``history.json``: per-epoch loss, validation IoU (``null`` on the epochs ``val_every`` skips), learning rate,
  throughput and wall time.

The learning-rate schedule is a closed form of the epoch index (so it needs no state of its own), and each
sample's augmentation is drawn from ``(seed, epoch, position)``; with the saved generators, 1 epoch + resume
+ 1 epoch equals 2 epochs straight, bit for bit, on CPU. Resuming with a larger ``epochs`` extends a run (a
``cosine`` schedule then follows the new length); other settings must match the checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from benchmark.backends import free_cores
from benchmark.environment import git_commit
from benchmark.leakage import HASH_NOTE
from benchmark.training.data import AUGMENTS, TrainingData, prefetched
from benchmark.training.device_data import DeviceBatches
from benchmark.training.recipes import Recipe, build_detector, get_recipe
from methods.deep.base import DeepDetector, resolve_device
from methods.deep.checkpoint import error_summary
from methods.deep.losses import LossFn, get_loss
from methods.deep.precision import autocast, autocast_dtype
from methods.deep.presets import BASICIRSTD_STATS

__all__ = ["TrainConfig", "TrainResult", "Trainer", "TrainingDiverged", "learning_rate", "train"]


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the message names the epoch and what was kept."""


# fields that must agree between a run and its resumption
_RESUME_FIELDS = (
    "method",
    "dataset",
    "split",
    "loss",
    "batch",
    "crop",
    "base",
    "lr",
    "seed",
    "val_fraction",
    "limit",
    "warmup",
    "scales",
    "method_params",
)
# the values of identity fields that runs written before the field existed had
_RESUME_DEFAULTS = {"split": "train"}
# what last.pth holds: tensors, plain containers and scalars only (it is read with weights_only=True)
_RESUME_KEYS = (
    "state_dict",
    "optimizer",
    "scaler",
    "epoch",
    "best_iou",
    "best_epoch",
    "history",
    "order",
    "rng",
    "identity",
)


@dataclass
class TrainConfig:
    """What ``irbench train`` runs; ``None`` fields take the method's recipe value (:mod:`recipes`)."""

    method: str
    dataset: str = "synth"
    split: str = "train"
    data_root: str | None = None
    out: Path = Path("results/train")
    loss: str | None = None
    epochs: int | None = None
    batch: int | None = None
    crop: int | None = None
    base: int | None = None
    lr: float | None = None
    warmup: int | None = None
    scales: int | None = None
    resume: bool = False
    seed: int = 0
    val_fraction: float = 0.1
    val_every: int = 1  # validate (and select) every N epochs and after the last one
    limit: int | None = None
    device: str = "auto"
    amp: bool = True
    threads: int | None = None
    channels_last: bool = True
    data_on_device: bool | None = None  # None: on for CUDA (:class:`~benchmark.training.device_data.DeviceBatches`)
    method_params: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    command: str = ""  # the command line that started this run, recorded in config.json

    def recipe(self) -> Recipe:
        """The method's preset with this config's overrides."""
        return get_recipe(
            self.method,
            loss=self.loss,
            epochs=self.epochs,
            batch=self.batch,
            crop=self.crop,
            base=self.base,
            lr=self.lr,
            warmup=self.warmup,
            scales=self.scales,
        )

    def identity(self) -> dict[str, Any]:
        """The resolved settings that a resumed run must share."""
        r = self.recipe()
        values = {
            **asdict(r),
            "method": self.method,
            "dataset": self.dataset,
            "split": self.split,
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "limit": self.limit,
            "method_params": self.method_params,
        }
        return {k: values[k] for k in _RESUME_FIELDS}


@dataclass
class TrainResult:
    """Where the weights are and what happened."""

    out: Path
    best: Path
    last: Path
    best_epoch: int
    best_val_iou: float
    history: list[dict[str, Any]]


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    """The python/numpy/torch(/cuda) RNG states as plain types (``torch.load(weights_only=True)`` reads them)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss},
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states :func:`_rng_state` returned."""
    py, npy = state["python"], state["numpy"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    np.random.set_state(
        (npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _float32_loss(loss: LossFn) -> LossFn:
    """``loss`` computed in float32 outside autocast, whatever precision the network ran in."""

    def fn(prob: torch.Tensor, target: torch.Tensor, warm: bool) -> torch.Tensor:
        with torch.autocast(prob.device.type, enabled=False):
            return loss(prob.float(), target.float(), warm)

    return fn


def learning_rate(recipe: Recipe, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (0-based): constant, ``lr * gamma ** (epoch // step_epochs)``
    (``step``), ``lr * gamma ** #{m in milestones: m <= epoch}`` (``multistep``), or cosine annealing to 1e-5
    over the run (``cosine``) or with period 30 epochs (``cosine30``, a cyclic ``T_max=30``)."""
    if recipe.schedule == "none":
        return recipe.lr
    if recipe.schedule == "step":
        return recipe.lr * recipe.gamma ** (epoch // recipe.step_epochs)
    if recipe.schedule == "multistep":
        return recipe.lr * recipe.gamma ** sum(m <= epoch for m in recipe.milestones)
    period = recipe.epochs if recipe.schedule == "cosine" else 30
    eta_min = 1e-5
    # CosineAnnealingLR's closed form; beyond T_max it keeps cycling like the PyTorch scheduler
    return eta_min + (recipe.lr - eta_min) * (1 + math.cos(math.pi * epoch / period)) / 2


class Trainer:
    """One model, its optimiser and the training/validation steps (used by :func:`train` and the benchmark).

    Parameters
    ----------
    method : a method whose detector declares a recipe (:func:`benchmark.training.recipes.trainable`).
    recipe : the resolved training settings.
    dataset : dataset name, for the per-dataset normalisation of ``basicirstd_gray`` models.
    device : ``auto``, ``cpu``, ``cuda``...
    amp : mixed precision (:func:`autocast_dtype`): bfloat16 autocast on GPUs and CPUs with native bfloat16,
        float16 with gradient scaling on older GPUs, else off. The loss and the optimiser step stay float32.
    channels_last : run the network and its inputs in channels-last memory format.
    method_params : detector parameters (e.g. ``{"in_channels": 1}`` for a grey-input variant).
    """

    def __init__(
        self,
        method: str,
        recipe: Recipe,
        dataset: str,
        device: str = "auto",
        amp: bool = True,
        channels_last: bool = True,
        method_params: dict[str, Any] | None = None,
    ) -> None:
        self.method, self.recipe = method, recipe
        self.det: DeepDetector = build_detector(method, **(method_params or {}))
        self.det.dataset = dataset
        self.device = resolve_device(device)
        self.amp_dtype = autocast_dtype(self.device) if amp else None
        self.amp = self.amp_dtype is not None
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net: nn.Module = self.det.build().to(self.device, memory_format=self.memory_format)
        self.det.prepare_training(self.net, recipe)
        self.loss_fn: LossFn = _float32_loss(get_loss(recipe.loss))
        params = self.net.parameters()
        if recipe.optimizer == "adagrad":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adagrad(
                params, lr=recipe.lr, weight_decay=recipe.weight_decay
            )
        else:
            self.optimizer = torch.optim.Adam(
                params, lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay
            )
        self.critic = self.det.build_critic()
        self.critic_optimizer: torch.optim.Optimizer | None = None
        if self.critic is not None:
            if recipe.critic_lr is None:
                raise ValueError(f"Method '{method}' trains a critic, but its recipe sets no critic_lr")
            self.critic = self.critic.to(self.device, memory_format=self.memory_format)
            self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=recipe.critic_lr, betas=recipe.betas)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

    def inputs(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """A ``(N, H, W)`` 0-255 batch as the model's normalised input (its inference preset)."""
        x = torch.as_tensor(images).to(self.device).unsqueeze(1)
        return self.det.preprocess(x).contiguous(memory_format=self.memory_format)

    def set_epoch_lr(self, epoch: int) -> float:
        """Set and return the learning rate of ``epoch``."""
        lr = learning_rate(self.recipe, epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def step(self, images: np.ndarray | torch.Tensor, masks: np.ndarray | torch.Tensor, warm: bool) -> float:
        """One optimisation step on a batch (first the critic's, for a model that has one); returns the
        network's loss."""
        self.net.train()
        x = self.inputs(images)
        y = torch.as_tensor(masks).to(self.device).unsqueeze(1)
        extra: dict[str, nn.Module] = {}
        if self.critic is not None and self.critic_optimizer is not None:
            self.critic.train().requires_grad_(True)
            self.critic_optimizer.zero_grad(set_to_none=True)
            with autocast(self.device, self.amp_dtype):
                critic_loss = self.det.critic_loss(self.net, self.critic, x, y)
            self._check_finite(critic_loss, "critic loss")
            self.scaler.scale(critic_loss).backward()
            self.scaler.step(self.critic_optimizer)
            self.critic.requires_grad_(False)  # the network's step below reaches it only as a function
            extra["critic"] = self.critic
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.amp_dtype):
            loss = self.det.training_loss(self.net, x, y, self.loss_fn, warm, self.recipe, **extra)
        self._check_finite(loss, "training loss")
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return float(loss.detach())

    def _check_finite(self, loss: torch.Tensor, what: str) -> None:
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"{what} is {loss.item()} (method {self.method}, loss {self.recipe.loss}); lower --lr or check the data"
            )

    @torch.no_grad()
    def validate(self, data: TrainingData) -> float:
        """Dataset IoU (sum of intersections / sum of unions) at probability > 0.5 on ``data.val_ids``, at
        native resolution through the detector's inference forward (:meth:`DeepDetector.forward_batch`)."""
        self.net.eval()
        inter = union = 0
        for sample_id in data.val_ids:
            image, gt = data.load(sample_id)
            x = torch.from_numpy(image[None, None].astype(np.float32, copy=False)).to(self.device)
            with autocast(self.device, self.amp_dtype):
                prob = self.det.forward_batch(self.net, x)
            pred = (prob[0, 0].float() > 0.5).cpu().numpy()
            inter += int(np.logical_and(pred, gt).sum())
            union += int(np.logical_or(pred, gt).sum())
        return inter / union if union else 1.0

    def weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}


def _check_resume(state: dict[str, Any], config: TrainConfig, path: Path) -> None:
    saved, now = state["identity"], config.identity()
    diff = [
        f"{k}: {saved.get(k, _RESUME_DEFAULTS.get(k))!r} in the checkpoint, {now[k]!r} now"
        for k in _RESUME_FIELDS
        if saved.get(k, _RESUME_DEFAULTS.get(k)) != now[k]
    ]
    if diff:
        raise ValueError(f"{path}: cannot resume a different run ({'; '.join(diff)})")


def _invalid_resume(path: Path, reason: str) -> ValueError:
    """The error for a ``last.pth`` that is not a resume state this module wrote."""
    return ValueError(f"{path} is not a valid irbench resume state ({reason}); delete it or train without --resume")


def _load_resume_state(path: Path) -> dict[str, Any]:
    """Read ``last.pth`` with ``weights_only=True`` (no pickled code runs) and check it holds a resume state.

    Raises
    ------
    ValueError
        Naming ``path`` when it cannot be read as plain tensors and containers, or lacks resume fields.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - UnpicklingError for foreign objects, many types for corrupt files
        raise _invalid_resume(path, f"weights-only load failed: {error_summary(exc)}") from None
    if not isinstance(state, dict):
        raise _invalid_resume(path, f"it holds a {type(state).__name__}, not a dict")
    missing = [k for k in _RESUME_KEYS if k not in state]
    if missing:
        raise _invalid_resume(path, f"missing {', '.join(missing)}")
    if not isinstance(state["identity"], dict):
        raise _invalid_resume(path, "its 'identity' is not a dict")
    return state


def _restore(trainer: Trainer, order: torch.Generator, state: dict[str, Any], path: Path) -> None:
    """Load the model, optimiser, critic, scaler and RNG states of a resume state into ``trainer``/``order``."""
    try:
        trainer.net.load_state_dict(state["state_dict"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        if trainer.critic is not None and trainer.critic_optimizer is not None:
            if state.get("critic") is None:
                raise ValueError("it holds no critic state")
            trainer.critic.load_state_dict(state["critic"]["state_dict"])
            trainer.critic_optimizer.load_state_dict(state["critic"]["optimizer"])
        trainer.scaler.load_state_dict(state["scaler"])
        order.set_state(state["order"])
        _set_rng_state(state["rng"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise _invalid_resume(path, error_summary(exc)) from None


def _needs_statistics(method: str, params: dict[str, Any], dataset: str) -> bool:
    """Whether a ``basicirstd_gray`` model is trained on a set whose statistics are not tabulated (they are
    then measured on its training images, as BasicIRSTD does for a new set)."""
    if params.get("dataset_stats") or params.get("trained_on") or dataset in BASICIRSTD_STATS:
        return False
    return build_detector(method, **params).preset == "basicirstd_gray"


def train(config: TrainConfig, log: Callable[[str], None] = print) -> TrainResult:
    """Train ``config.method`` on ``config.dataset``'s training split; see the module docstring."""
    recipe = config.recipe()
    resolve_device(config.device)  # a device this machine lacks fails before any data is read
    if config.threads is not None and config.threads < 1:
        raise ValueError(f"parameter 'threads' must be >= 1, got {config.threads!r}")
    if config.val_every < 1:
        raise ValueError(f"parameter 'val_every' must be >= 1, got {config.val_every!r}")
    threads = config.threads or free_cores()
    torch.set_num_threads(threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    last, best = out / "last.pth", out / "best.pth"
    data = TrainingData(config.dataset, config.data_root, config.val_fraction, config.limit, config.seed, config.split)
    augment = replace(AUGMENTS[recipe.augment], crop=recipe.crop, base=recipe.base)

    _seed_everything(config.seed)
    params = dict(config.method_params)
    if _needs_statistics(config.method, params, config.dataset):
        params["dataset_stats"] = list(data.statistics())
    trainer = Trainer(config.method, recipe, config.dataset, config.device, config.amp, config.channels_last, params)
    order = torch.Generator().manual_seed(config.seed)
    on_device = trainer.device.type == "cuda" if config.data_on_device is None else config.data_on_device
    source: TrainingData | DeviceBatches = DeviceBatches(data, trainer.device) if on_device else data
    start_epoch, best_iou, best_epoch, history = 0, -1.0, 0, []
    if config.resume and last.is_file():
        state = _load_resume_state(last)
        _check_resume(state, config, last)
        _restore(trainer, order, state, last)
        start_epoch, best_iou, best_epoch, history = (
            state["epoch"],
            state["best_iou"],
            state["best_epoch"],
            state["history"],
        )
        log(f"resuming {last} after epoch {start_epoch}")
    elif config.resume:
        log(f"no {last} to resume; starting a new run")
    (out / "config.json").write_text(
        json.dumps(
            {
                **config.identity(),
                **asdict(recipe),
                "epochs": recipe.epochs,
                "dataset": config.dataset,
                "device": trainer.device.type,
                "amp": str(trainer.amp_dtype).removeprefix("torch.") if trainer.amp else None,
                "channels_last": config.channels_last,
                "data_on_device": on_device,
                "threads": threads,
                "command": config.command,
                "commit": git_commit(),
                "normalisation": {"preset": trainer.det.preset, **trainer.det.provenance().get("normalisation", {})},
                "train_images": {
                    "hash": HASH_NOTE,
                    "hashes": data.image_hashes(),
                },
                "n_train": len(data.train_ids),
                "n_val": len(data.val_ids),
            },
            indent=1,
            default=str,
        )
    )
    for epoch in range(start_epoch, recipe.epochs):
        lr = trainer.set_epoch_lr(epoch)
        warm = epoch < recipe.warmup
        perm = torch.randperm(len(data.train_ids), generator=order).tolist()
        ids = [data.train_ids[i] for i in perm]
        n_batches = max(1, len(ids) // recipe.batch)  # drop the last incomplete batch (BatchNorm)
        started, losses, seen = time.perf_counter(), [], 0
        bar = tqdm(
            total=n_batches,
            desc=f"epoch {epoch + 1}/{recipe.epochs}",
            unit="batch",
            disable=None if config.progress else True,  # None: no bar where stderr is not a terminal
            leave=False,
        )

        def make_batch(b: int, ids: list[str] = ids, epoch: int = epoch) -> tuple[Any, Any]:
            start = b * recipe.batch
            return source.batch(ids[start : start + recipe.batch], augment, config.seed, epoch, start)

        batches = (make_batch(b) for b in range(n_batches)) if on_device else prefetched(make_batch, n_batches)
        for images, masks in batches:
            try:
                losses.append(trainer.step(images, masks, warm))
            except FloatingPointError as exc:
                kept = f"{last} and {best} hold epoch {epoch}" if epoch else "nothing was saved"
                raise TrainingDiverged(f"training diverged in epoch {epoch + 1}: {exc}; {kept}") from None
            seen += len(images)
            bar.update()
            bar.set_postfix(loss=f"{losses[-1]:.4f}", img_s=f"{seen / (time.perf_counter() - started):.2f}")
            bar.set_postfix(loss=f"{losses[-1]:.4f}", img_s=f"{seen / (time.perf_counter() - started):.2f}")
        bar.close()
        train_seconds = time.perf_counter() - started
        validated = (epoch + 1) % config.val_every == 0 or epoch + 1 == recipe.epochs
        val_iou = trainer.validate(data) if validated else None
        entry = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "val_iou": val_iou,
            "lr": lr,
            "warm": warm,
            "images_per_s": seen / train_seconds,
            "seconds": time.perf_counter() - started,
        }
        history.append(entry)
        if val_iou is not None and val_iou > best_iou:
            best_iou, best_epoch = val_iou, epoch + 1
            _atomic_save(
                {
                    "state_dict": trainer.weights(),
                    "method": config.method,
                    "epoch": epoch + 1,
                    "val_iou": val_iou,
                    "loss": recipe.loss,
                    "dataset": config.dataset,
                    "split": config.split,
                    "method_params": config.method_params,
                },
                best,
            )
        _atomic_save(
            {
                "state_dict": trainer.weights(),
                "optimizer": trainer.optimizer.state_dict(),
                "critic": None
                if trainer.critic is None or trainer.critic_optimizer is None
                else {
                    "state_dict": trainer.critic.state_dict(),
                    "optimizer": trainer.critic_optimizer.state_dict(),
                },
                "scaler": trainer.scaler.state_dict(),
                "epoch": epoch + 1,
                "best_iou": best_iou,
                "best_epoch": best_epoch,
                "history": history,
                "order": order.get_state(),
                "rng": _rng_state(),
                "identity": config.identity(),
            },
            last,
        )
        (out / "history.json").write_text(json.dumps(history, indent=1))
        log(
            f"epoch {epoch + 1}/{recipe.epochs}: loss {entry['loss']:.4f}, "
            f"val IoU {'-' if val_iou is None else f'{val_iou:.4f}'}, "
            f"{entry['images_per_s']:.2f} img/s, {entry['seconds']:.1f} s{' (warm-up)' if warm else ''}"
        )
    return TrainResult(out, best, last, best_epoch, best_iou, history)
