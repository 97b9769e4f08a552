"""Input preprocessing presets of the deep detectors, as each official code normalises its input.

* ``imagenet_rgb``: grey 0-255 -> [0, 1], copied to 3 channels, ImageNet mean/std per channel (MSHNet,
  DNANet and ISNet official, ACM/ALCNet MXNet).
* ``basicirstd_gray``: 1 channel, ``(x - mean) / std`` with the dataset's constants in 0-255 units.
* ``mdvsfa``: 1 channel, ``x / 255 * 2 - 1``.
"""

from __future__ import annotations

import torch

from methods.registry import NotConfigurableError

__all__ = ["PRESETS", "BASICIRSTD_STATS", "basicirstd_stats", "preprocess", "in_channels"]

PRESETS = ("imagenet_rgb", "basicirstd_gray", "mdvsfa")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (mean, std) in 0-255 units of each training set, exactly as BasicIRSTD's get_img_norm_cfg holds them
# (float32 values printed in full; rounding them moves probabilities by up to 2e-5), keyed by irbench's
# dataset names. A checkpoint is normalised with the statistics of the set it was trained on.
BASICIRSTD_STATS: dict[str, tuple[float, float]] = {
    "sirst": (101.06385040283203, 34.619606018066406),  # NUAA-SIRST
    "nudt-sirst": (107.80905151367188, 33.02274703979492),
    "irstd1k": (87.4661865234375, 39.71953201293945),
    "nudt-sirst-sea": (43.62403869628906, 18.91838264465332),
    "sirst4": (62.10432052612305, 23.96998405456543),
    "irdst-real": (101.54053497314453, 56.49856185913086),
    "sirst3": (95.010, 41.511),  # LESPS (its *_full checkpoints): the union of three training splits
}


def basicirstd_stats(dataset: str | None, override: object = None) -> tuple[float, float]:
    """Return the BasicIRSTD ``(mean, std)`` of ``dataset`` or the explicit ``override``.

    Parameters
    ----------
    dataset : str or None
        Canonical name of the checkpoint's training set (``sirst``, ``nudt-sirst``, ``irstd1k``, ``sirst3``, ...).
    override : (mean, std) sequence, optional
        The ``dataset_stats`` parameter; wins over the table.

    Returns
    -------
    (mean, std) : tuple of float, 0-255 units.
    """
    if override is not None:
        try:
            mean, std = (float(v) for v in override)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ValueError(f"parameter 'dataset_stats' must be [mean, std], got {override!r}") from None
        if not std > 0:
            raise ValueError(f"parameter 'dataset_stats' needs std > 0, got {override!r}")
        return mean, std
    if dataset not in BASICIRSTD_STATS:
        raise NotConfigurableError(
            f"basicirstd_gray preset: no BasicIRSTD mean/std for dataset {dataset!r} "
            f"(known: {', '.join(BASICIRSTD_STATS)}); pass trained_on=NAME (the checkpoint's training set) or "
            "dataset_stats=[mean, std]"
        )
    return BASICIRSTD_STATS[dataset]


def in_channels(preset: str) -> int:
    """Number of input channels a preset produces."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    return 3 if preset == "imagenet_rgb" else 1


def preprocess(x: torch.Tensor, preset: str, stats: tuple[float, float] | None = None) -> torch.Tensor:
    """Normalise a batch of grey images.

    Parameters
    ----------
    x : (N, 1, H, W) float tensor, 0-255 scale.
    preset : one of ``PRESETS``.
    stats : (mean, std), required for ``basicirstd_gray``.

    Returns
    -------
    (N, C, H, W) float tensor with C from :func:`in_channels`.
    """
    if preset == "imagenet_rgb":
        mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return (x / 255.0 - mean) / std
    if preset == "basicirstd_gray":
        if stats is None:
            raise ValueError("basicirstd_gray preset needs the dataset (mean, std)")
        return (x - stats[0]) / stats[1]
    if preset == "mdvsfa":
        return x / 127.5 - 1.0
    raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
