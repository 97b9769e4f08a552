"""Dataset names, aliases and construction: ``get_dataset("irstd1k", root, split)``."""

from __future__ import annotations

import os
from pathlib import Path

from benchmark.datasets.base import Dataset
from benchmark.datasets.folder import (
    FolderDataset,
    FolderSpec,
    Layout,
    basicirstd_layout,
)
from benchmark.datasets.imageio import DEFAULT_MAX_PIXELS
from benchmark.datasets.synth import SynthDataset
from methods.names import Registry

FOLDER_SPECS: dict[str, FolderSpec] = {
    "irstd1k": FolderSpec(
        name="irstd1k",
        folders=("IRSTD-1k", "IRSTD-1K", "IRSTD1k", "irstd1k"),
        layouts=(
            Layout("public", "IRSTD1k_Img", "IRSTD1k_Label", "{id}.png", "{split}.txt"),
            basicirstd_layout("IRSTD-1K"),
        ),
        splits={"test": "test", "train": "trainval", "trainval": "trainval"},
        basicirstd_name="IRSTD-1K",
    ),
    "nudt-sirst": FolderSpec(
        name="nudt-sirst",
        folders=("NUDT-SIRST", "nudt-sirst", "NUDT_SIRST"),
        layouts=(
            Layout("public", "images", "masks", "{id}.png", "50_50/{split}.txt"),
            basicirstd_layout("NUDT-SIRST"),
        ),
        splits={"test": "test", "train": "train"},
        basicirstd_name="NUDT-SIRST",
    ),
    "sirst": FolderSpec(
        name="sirst",
        folders=("SIRST", "sirst", "NUAA-SIRST", "nuaa-sirst"),
        layouts=(
            Layout("public", "images", "masks", "{id}_pixels0.png", "idx_427/{split}.txt"),
            basicirstd_layout("NUAA-SIRST"),
        ),
        splits={"test": "test", "train": "train", "val": "val", "trainval": "trainval", "trainvaltest": "trainvaltest"},
        basicirstd_name="NUAA-SIRST",
    ),
}
DATASETS: Registry[str] = Registry("dataset")  # name -> description
for _name, _text, _aliases in (
    ("synth", "deterministic synthetic IRSTD (embedded default, no download): 200 train / 50 test, 256x256", ()),
    ("irstd1k", "IRSTD-1k (ISNet, CVPR 2022): 1001 images 512x512, trainval 800 / test 201", ("irstd-1k",)),
    (
        "nudt-sirst",
        "NUDT-SIRST (DNANet, TIP 2022): 1327 images 256x256, 50_50 split train 663 / test 664",
        ("nudt", "nudtsirst"),
    ),
    ("sirst", "SIRST / NUAA-SIRST (ACM, WACV 2021): 427 images, idx_427 train 256 / val 85 / test 86", ("nuaa-sirst",)),
):
    DATASETS.add(_name, _text, _aliases)
DISPLAY = {"synth": "Synth", "irstd1k": "IRSTD-1k", "nudt-sirst": "NUDT-SIRST", "sirst": "SIRST"}


def canonical_name(name: str) -> str:
    """Resolve aliases; unknown names raise :class:`~methods.names.UnknownNameError` (a ``KeyError``) listing
    the known ones."""
    return DATASETS.canonical(name)


def default_root() -> Path:
    """``$IRBENCH_DATA`` if set, else ``./data``."""
    return Path(os.environ.get("IRBENCH_DATA", "data"))


def get_dataset(
    name: str, root: str | Path | None = None, split: str = "test", max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> Dataset:
    """Open ``split`` of dataset ``name`` under ``root`` (default :func:`default_root`).

    ``max_pixels`` caps each image and mask read from disk (``None`` or 0: no cap); ``synth`` ignores it.
    """
    key = canonical_name(name)
    if key == "synth":
        return SynthDataset(split)
    return FolderDataset(FOLDER_SPECS[key], root if root is not None else default_root(), split, max_pixels)


def display_name(name: str) -> str:
    """Name of a dataset as printed in table headers."""
    return DISPLAY.get(name, name)
