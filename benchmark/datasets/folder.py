"""Datasets read from folders in their public release layout or in the BasicIRSTD layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.datasets.base import Dataset
from benchmark.datasets.errors import DatasetNotFoundError, SampleError
from benchmark.datasets.imageio import load_pair

IMAGE_EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


@dataclass(frozen=True)
class Layout:
    """Where images, masks and split files sit inside a dataset folder.

    ``split_file`` and ``mask_name`` are format strings with ``{split}``, ``{name}`` and ``{id}`` fields.
    """

    name: str
    images: str
    masks: str
    mask_name: str
    split_file: str

    def describe(self) -> str:
        return f"{self.images}/, {self.masks}/{self.mask_name}, {self.split_file}"


@dataclass(frozen=True)
class FolderSpec:
    """A dataset's folder names (tried in order), its layouts and its split names."""

    name: str
    folders: tuple[str, ...]
    layouts: tuple[Layout, ...]
    splits: dict[str, str]  # split asked for -> split name used in file names
    basicirstd_name: str


def basicirstd_layout(name: str) -> Layout:
    """The BasicIRSTD layout: ``images/``, ``masks/<id>.png``, ``img_idx/{split}_<NAME>.txt``."""
    return Layout("basicirstd", "images", "masks", "{id}.png", "img_idx/{split}_" + name + ".txt")


class FolderDataset(Dataset):
    """A split of a dataset stored on disk; see :class:`FolderSpec` for the layouts recognised."""

    def __init__(self, spec: FolderSpec, root: str | Path, split: str = "test") -> None:
        self.name = spec.name
        if split not in spec.splits:
            raise ValueError(
                f"Unknown split {split!r} for dataset {spec.name!r}. Available: {', '.join(spec.splits)}"
            )
        self.split = split
        folder, layout, split_path = self._locate(spec, Path(root).expanduser(), spec.splits[split])
        self.folder, self._layout = folder, layout
        self.layout = layout.name
        self.location = str(folder.resolve())
        self.ids = _read_split(split_path)

    @staticmethod
    def _locate(spec: FolderSpec, root: Path, split: str) -> tuple[Path, Layout, Path]:
        candidates = [root / f for f in spec.folders] + [root]
        tried: list[str] = []
        for folder in candidates:
            for layout in spec.layouts:
                split_path = folder / layout.split_file.format(split=split, name=spec.basicirstd_name)
                if split_path.is_file() and (folder / layout.images).is_dir():
                    return folder, layout, split_path
                tried.append(str(split_path))
        expected = "\n".join(f"  - {layout.name}: {layout.describe()}" for layout in spec.layouts)
        raise DatasetNotFoundError(
            f"Dataset {spec.name!r} (split {split!r}) not found under {root.resolve()}.\n"
            f"Looked in folders {', '.join(spec.folders)} (and the root itself) for one of these layouts:\n"
            f"{expected}\nSplit files tried: {', '.join(tried[:4])}{' ...' if len(tried) > 4 else ''}\n"
            f"Set --data-root or IRBENCH_DATA to the folder that holds {spec.folders[0]}/."
        )

    def image_path(self, sample_id: str) -> Path:
        """Path of the image file of ``sample_id`` (first existing extension; ``.png`` if none exists)."""
        stem = self.folder / self._layout.images / sample_id
        for ext in IMAGE_EXTENSIONS:
            if stem.with_name(stem.name + ext).is_file():
                return stem.with_name(stem.name + ext)
        return stem.with_name(stem.name + ".png")

    def mask_path(self, sample_id: str) -> Path:
        """Path of the ground-truth mask of ``sample_id``."""
        return self.folder / self._layout.masks / self._layout.mask_name.format(id=sample_id)

    def load(self, sample_id: str) -> tuple[np.ndarray, np.ndarray]:
        image_path = self.image_path(sample_id)
        if not image_path.is_file():
            raise SampleError(f"{image_path}: image file is missing (id {sample_id!r} from the split file)")
        return load_pair(image_path, self.mask_path(sample_id))


def _read_split(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetNotFoundError(f"{path}: cannot read split file ({exc})") from None
    ids: list[str] = []
    for line in lines:
        item = line.strip()
        if item:
            ids.append(Path(item).stem if Path(item).suffix.lower() in IMAGE_EXTENSIONS else item)
    if not ids:
        raise DatasetNotFoundError(f"{path}: split file lists no images")
    return ids
