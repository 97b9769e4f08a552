"""Datasets read from folders in their public release layout or in the BasicIRSTD layout."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from benchmark.datasets.base import Dataset
from benchmark.datasets.errors import DatasetNotFoundError, SampleError, SplitFileError
from benchmark.datasets.imageio import (
    DEFAULT_MAX_PIXELS,
    binarise_mask,
    check_pair,
    detect_encoding,
    image_shape,
    mask_summary,
    read_image,
    read_raw_mask,
)
from benchmark.datasets.spec import DatasetSpec, Layout

IMAGE_EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


@dataclass(frozen=True)
class _Listing:
    """The plain files of one folder: their real names, and lower-case name -> real name."""

    names: frozenset[str]
    folded: dict[str, str]

    @classmethod
    def of(cls, folder: Path) -> _Listing:
        """List ``folder`` once (empty when it cannot be listed); on a case clash the first sorted name wins."""
        try:
            with os.scandir(folder) as entries:
                names = sorted(e.name for e in entries if e.is_file())
        except OSError:
            names = []
        folded: dict[str, str] = {}
        for name in names:
            folded.setdefault(name.lower(), name)
        return cls(frozenset(names), folded)

    def find(self, name: str, exact: bool) -> str | None:
        """The real name of file ``name``: exactly as given, or (``exact=False``) differing only in case."""
        if name in self.names:
            return name
        return None if exact else self.folded.get(name.lower())


class FolderDataset(Dataset):
    """A split of a dataset stored on disk, as its :class:`~benchmark.datasets.spec.DatasetSpec` describes it.

    Image and mask files are found by exact name first, then by a name that differs only in case
    (``ID.PNG`` for id ``ID``); each folder is listed once per dataset object, on first use.
    ``max_pixels`` caps the pixels of every image and mask read (``None`` or 0: no cap). With the spec's
    ``background_without_mask``, an image whose mask file is missing is background-only (an empty mask).
    Masks are read under the spec's ``mask_encoding``, or one detected once over the split's masks
    (:func:`~benchmark.datasets.imageio.detect_encoding`); masks that disagree with it are named in a warning
    on stderr and in :meth:`describe`.
    """

    def __init__(
        self, spec: DatasetSpec, root: str | Path, split: str = "test", max_pixels: int | None = DEFAULT_MAX_PIXELS
    ) -> None:
        self.name, self.display, self.facts, self.spec_source = spec.name, spec.title, spec.facts, spec.source
        self.background_without_mask = spec.background_without_mask
        if split not in spec.splits:
            raise ValueError(f"Unknown split {split!r} for dataset {spec.name!r}. Available: {', '.join(spec.splits)}")
        if max_pixels is not None and max_pixels < 0:
            raise ValueError(f"max_pixels must be >= 0 (0 or None: no cap), got {max_pixels!r}")
        self.split = split
        self.max_pixels = max_pixels or None
        self._listings: dict[Path, _Listing] = {}
        folder, layout, split_path = self._locate(spec, Path(root).expanduser(), split)
        self.folder, self._layout = folder, layout
        self.layout = layout.name
        self.location = str(folder.resolve())
        self.ids = _read_split(split_path) if split_path else self._ids_with_masks()
        self.unsplit = split_path is None
        self.mask_encoding, self.encoding_source, self.encoding_mismatches = spec.mask_encoding, "spec", []
        if not self.mask_encoding:
            self.encoding_source = "detected"
            self.mask_encoding, self.encoding_mismatches = _detect(self, self.ids)
        if self.encoding_mismatches:
            print(
                f"irbench: warning: {self.name} {split}: {len(self.encoding_mismatches)} masks disagree with the "
                f"split's mask encoding {self.mask_encoding!r} ({_MISMATCH[self.mask_encoding]}): "
                f"{', '.join(self.encoding_mismatches[:10])}{' ...' if len(self.encoding_mismatches) > 10 else ''}",
                file=sys.stderr,
            )

    def _ids_with_masks(self) -> list[str]:
        """Without a split file: the stems of the images that have a mask, sorted."""
        listing = _Listing.of(self.folder / self._layout.images)
        stems = sorted({Path(n).stem for n in listing.names if Path(n).suffix.lower() in IMAGE_EXTENSIONS})
        return [i for i in stems if self.mask_path(i).is_file()]

    @staticmethod
    def _locate(spec: DatasetSpec, root: Path, split: str) -> tuple[Path, Layout, Path | None]:
        candidates = [root / f for f in spec.folders] + [root]
        tried: list[str] = []
        for folder in candidates:
            for layout in spec.layouts:
                if not layout.serves(split):
                    continue
                if not layout.split_file:
                    if (folder / layout.images).is_dir() and (folder / layout.masks).is_dir():
                        return folder, layout, None
                    tried.append(f"{folder / layout.images}/ and {folder / layout.masks}/")
                    continue
                split_path = folder / layout.split_file.format(split=spec.splits[split], name=spec.basicirstd_name)
                if split_path.is_file() and (folder / layout.images).is_dir():
                    return folder, layout, split_path
                tried.append(str(split_path))
        expected = "\n".join(f"  - {layout.name}: {layout.describe()}" for layout in spec.layouts)
        raise DatasetNotFoundError(
            f"Dataset {spec.name!r} (split {split!r}) not found under {root.resolve()}.\n"
            f"Looked in folders {', '.join(spec.folders)} (and the root itself) for one of these layouts:\n"
            f"{expected}\nSplit files tried: {', '.join(tried[:4])}{' ...' if len(tried) > 4 else ''}\n"
            f"Set --data-root or IRBENCH_DATA to the folder that holds {spec.folders[0] if spec.folders else 'it'}/."
        )

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_listings"] = {}  # rebuilt lazily where the object is unpickled
        return state

    def describe(self) -> dict[str, object]:
        facts: dict[str, object] = {
            **super().describe(),
            "max_pixels": self.max_pixels,
            "mask_encoding": self.mask_encoding,
            "mask_encoding_source": self.encoding_source,
        }
        if self.encoding_mismatches:
            facts["mask_encoding_mismatches"] = self.encoding_mismatches
        if self.unsplit:
            facts["unsplit"] = True
        return facts

    def _find(self, path: Path, exact: bool) -> Path | None:
        """``path`` itself, or its case variant when ``exact`` is false, if that file exists (cached listing)."""
        listing = self._listings.get(path.parent)
        if listing is None:
            listing = self._listings[path.parent] = _Listing.of(path.parent)
        name = listing.find(path.name, exact)
        return None if name is None else path.with_name(name)

    def _any_extension(self, stem: Path) -> Path:
        """``stem`` with the first image extension found by exact name, else up to case; ``.png`` if none."""
        candidates = [stem.with_name(stem.name + ext) for ext in IMAGE_EXTENSIONS]
        for exact in (True, False):
            for candidate in candidates:
                if (found := self._find(candidate, exact)) is not None:
                    return found
        return candidates[0]

    def image_path(self, sample_id: str) -> Path:
        """Image of ``sample_id``: first extension found by exact name, else up to case; ``<id>.png`` if none."""
        return self._any_extension(self.folder / self._layout.images / sample_id)

    def mask_path(self, sample_id: str) -> Path:
        """Path of the ground-truth mask of ``sample_id`` (matched up to case; the expected path if none exists);
        a ``mask_name`` ending in ``.*`` takes the first image extension found."""
        name = self._layout.mask_name.format(id=sample_id)
        if name.endswith(".*"):
            return self._any_extension(self.folder / self._layout.masks / name[:-2])
        expected = self.folder / self._layout.masks / name
        return self._find(expected, exact=False) or expected

    def _image_file(self, sample_id: str) -> Path:
        path = self.image_path(sample_id)
        if not path.is_file():
            raise SampleError(f"{path}: image file is missing (id {sample_id!r} from the split file)")
        return path

    def _mask_of(self, sample_id: str, image_path: Path, shape: tuple[int, ...]) -> np.ndarray:
        mask_path = self.mask_path(sample_id)
        if self.background_without_mask and not mask_path.is_file():
            return np.zeros(shape[:2], dtype=bool)
        raw = read_raw_mask(mask_path, self.max_pixels)
        if self.encoding_source == "spec" and _disagrees(self.mask_encoding, *mask_summary(raw)):
            print(
                f"irbench: warning: {mask_path}: mask disagrees with the dataset's mask encoding "
                f"{self.mask_encoding!r} ({_MISMATCH[self.mask_encoding]})",
                file=sys.stderr,
            )
        mask = binarise_mask(raw, self.mask_encoding)
        check_pair(image_path, shape, mask_path, mask.shape)
        return mask

    def load_image(self, sample_id: str) -> np.ndarray:
        return read_image(self._image_file(sample_id), self.max_pixels)

    def load_mask(self, sample_id: str) -> np.ndarray:
        """The mask; the image's size is read from its file header only (no pixel decoded)."""
        path = self._image_file(sample_id)
        return self._mask_of(sample_id, path, image_shape(path, self.max_pixels))

    def load(self, sample_id: str) -> tuple[np.ndarray, np.ndarray]:
        path = self._image_file(sample_id)
        image = read_image(path, self.max_pixels)
        return image, self._mask_of(sample_id, path, image.shape)


# what a mask that disagrees with each encoding looks like
_MISMATCH = {
    "half-scale": "targets but no value above half the scale: they would be lost",
    "nonzero": "values above 1",
    "labels": "values above half the scale",
}


def _detect(dataset: FolderDataset, ids: list[str]) -> tuple[str, list[str]]:
    """The encoding :func:`detect_encoding` gives for the masks of ``ids`` (unreadable ones skipped: they fail
    later as samples), and the ids whose mask disagrees with it."""
    summaries = {}
    for sample_id in ids:
        path = dataset.mask_path(sample_id)
        if dataset.background_without_mask and not path.is_file():
            continue
        try:
            summaries[sample_id] = mask_summary(read_raw_mask(path, dataset.max_pixels))
        except SampleError:
            continue
    largest = max((v for v, _ in summaries.values()), default=255.0)
    encoding = detect_encoding(largest, all(integer for _, integer in summaries.values()))
    return encoding, [i for i, (v, integer) in summaries.items() if _disagrees(encoding, v, integer)]


def _disagrees(encoding: str, largest: float, integer: bool) -> bool:
    """Whether a mask whose largest value is ``largest`` is read wrongly under the split's ``encoding``."""
    if largest <= 0:
        return False
    own = detect_encoding(largest, integer)
    return own != encoding and (encoding == "half-scale" or own == "half-scale")


def _split_id(item: str) -> str:
    """The sample id a split-file entry names: the entry without an image extension."""
    return Path(item).stem if Path(item).suffix.lower() in IMAGE_EXTENSIONS else item


def _read_split(path: Path) -> list[str]:
    """Ids listed in a split file, in order; an unreadable or empty file, or a repeated id, is a SplitFileError."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SplitFileError(f"{path}: cannot read split file ({exc})") from None
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        item = line.strip()
        if not item:
            continue
        sample_id = _split_id(item)
        if (
            PurePosixPath(sample_id).is_absolute()
            or PureWindowsPath(sample_id).is_absolute()
            or ".." in (PurePosixPath(sample_id.replace("\\", "/")).parts)
        ):
            raise SplitFileError(
                f"{path}: line {number} names {sample_id!r}, a path outside the dataset folder; split files list "
                "sample ids (file names without extension)"
            )
        if sample_id in first_line:
            raise SplitFileError(
                f"{path}: line {number} repeats id {sample_id!r} (first on line "
                f"{first_line[sample_id]}); each image may be listed once"
            )
        first_line[sample_id] = number
    if not first_line:
        raise SplitFileError(f"{path}: split file lists no images")
    return list(first_line)
