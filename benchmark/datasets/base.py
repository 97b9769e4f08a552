"""The dataset interface the runner uses: ids of one split and loaders for each id (image, mask, or both)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Dataset(ABC):
    """One split of one dataset.

    Attributes
    ----------
    name : canonical dataset name (``irstd1k``).
    split : split name (``test``).
    ids : sample ids in split-file order.
    location : where the data lives (a folder, or ``synthetic:...`` for generated data).
    layout : which on-disk layout was recognised (``public``, ``basicirstd``, ``generated``).
    """

    name: str
    split: str
    ids: list[str]
    location: str
    layout: str

    @abstractmethod
    def load(self, sample_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(image float32 HxW on a 0-255 scale, ground truth bool HxW)`` or raise ``SampleError``
        (unreadable or missing file, image and mask of different sizes)."""

    @abstractmethod
    def load_image(self, sample_id: str) -> np.ndarray:
        """The image of :meth:`load`, or ``SampleError`` (a folder dataset reads no mask file for it)."""

    @abstractmethod
    def load_mask(self, sample_id: str) -> np.ndarray:
        """The ground truth of :meth:`load` without decoding an image file; ``SampleError`` where :meth:`load`
        raises one, except for an image file whose header reads but whose pixels do not."""

    def limit(self, n: int) -> None:
        """Keep only the first ``n`` ids (a smoke run); :meth:`describe` then records how many the split
        lists."""
        if n < len(self.ids):
            self.n_listed = len(self.ids)
            self.ids = self.ids[:n]

    def describe(self) -> dict[str, object]:
        """Facts recorded in a run's metadata (``limited_from``: the split's size when :meth:`limit` cut it)."""
        facts: dict[str, object] = {
            "name": self.name,
            "display": getattr(self, "display", self.name),
            "split": self.split,
            "n_images": len(self.ids),
            "location": self.location,
            "layout": self.layout,
        }
        if getattr(self, "facts", None):
            facts["facts"] = self.facts
        if getattr(self, "spec_source", None):
            facts["spec"] = self.spec_source  # what get_dataset() reopens it from
        if getattr(self, "n_listed", None) is not None:
            facts["limited_from"] = self.n_listed
        return facts

    def __len__(self) -> int:
        return len(self.ids)
