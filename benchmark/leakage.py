"""Train/test overlap: which evaluated images a checkpoint was trained on, matched by image content.

Images match when their decoded pixels are equal (:func:`benchmark.store.image_hash`, compared on its first
:data:`~methods.registry.HASH_DIGITS` hex digits): renamed files and lossless re-encodings (PNG <-> BMP,
another bit depth of the same grey values) are caught; resized, cropped or re-compressed (JPEG) copies are not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.datasets import Dataset, DatasetNotFoundError, SampleError, get_dataset
from benchmark.datasets.imageio import DEFAULT_MAX_PIXELS
from benchmark.store import image_hash
from methods.registry import HASH_DIGITS, TrainingSet

__all__ = ["HASH_NOTE", "Overlap", "TrainingHashes", "dataset_hashes", "short_hash"]

HASH_NOTE = f"sha256 of the decoded image (shape, dtype, pixels), first {HASH_DIGITS} hex digits"


def short_hash(full: str) -> str:
    """The prefix of an image hash that training sets record."""
    return full[:HASH_DIGITS]


def dataset_hashes(dataset: Dataset) -> dict[str, str]:
    """``{id: short hash}`` of every readable image of ``dataset`` (unreadable images are left out)."""
    hashes = {}
    for sample_id in dataset.ids:
        try:
            hashes[sample_id] = short_hash(image_hash(dataset.load_image(sample_id)))
        except SampleError:
            continue
    return hashes


@dataclass
class TrainingHashes:
    """Resolves :class:`TrainingSet` descriptions to hash sets, reading each (dataset, split) once."""

    data_root: str | Path | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    _memo: dict[tuple[str, str], frozenset[str] | str] = field(default_factory=dict)

    def resolve(self, training: TrainingSet) -> frozenset[str] | str:
        """The training set's hashes, or why they cannot be known (a dataset that is not present)."""
        if training.hashes is not None:
            return frozenset(training.hashes)
        key = (str(training.dataset), str(training.split))
        if key not in self._memo:
            try:
                source = get_dataset(key[0], self.data_root, key[1], self.max_pixels)
                self._memo[key] = frozenset(dataset_hashes(source).values())
            except (DatasetNotFoundError, KeyError, ValueError, OSError) as exc:
                message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
                self._memo[key] = f"{key[0]} {key[1]} cannot be read here ({str(message).splitlines()[0]})"
        return self._memo[key]


@dataclass(frozen=True)
class Overlap:
    """How many evaluated images a checkpoint has seen."""

    training_set: str
    n_images: int
    seen: tuple[str, ...] = ()  # ids of the evaluated images found in the training set
    unresolved: str = ""  # why the training set could not be checked

    @classmethod
    def of(cls, training: TrainingSet, hashes: frozenset[str] | str, evaluated: Iterable[tuple[str, str]]) -> Overlap:
        """The overlap of ``evaluated`` ``(id, full image hash)`` pairs with resolved training ``hashes``."""
        pairs = list(evaluated)
        if isinstance(hashes, str):
            return cls(training.description, len(pairs), unresolved=hashes)
        seen = tuple(i for i, h in pairs if short_hash(h) in hashes)
        return cls(training.description, len(pairs), seen)

    def record(self, excluded: bool) -> dict[str, Any]:
        """The ``leakage`` field of a cell."""
        doc: dict[str, Any] = {"training_set": self.training_set, "n_images": self.n_images}
        if self.unresolved:
            doc |= {"unresolved": self.unresolved, "excluded": False}
            if excluded:
                doc["exclude_seen"] = "not applied: the training set cannot be read, every image was scored"
        else:
            doc |= {"n_seen": len(self.seen), "seen": list(self.seen), "excluded": excluded and bool(self.seen)}
        return doc
