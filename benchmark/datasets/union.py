"""A union of datasets, split by split (e.g. SIRST3 = SIRST + NUDT-SIRST + IRSTD-1k); ids are ``<member>/<id>``."""

from __future__ import annotations

import numpy as np

from benchmark.datasets.base import Dataset
from benchmark.datasets.errors import SampleError
from benchmark.datasets.spec import DatasetSpec


class UnionDataset(Dataset):
    """The same split of every member dataset, in member order; sample ``<member>/<id>`` is ``id`` of
    ``member``."""

    def __init__(self, spec: DatasetSpec, split: str, members: list[Dataset]) -> None:
        self.name, self.display, self.facts, self.spec_source = spec.name, spec.title, spec.facts, spec.source
        self.split, self.layout = split, "union"
        self.members = {m.name: m for m in members}
        self.location = "; ".join(f"{m.name}: {m.location}" for m in members)
        self.ids = [f"{m.name}/{i}" for m in members for i in m.ids]

    def _member(self, sample_id: str) -> tuple[Dataset, str]:
        member, _, inner = sample_id.partition("/")
        if member not in self.members:
            raise SampleError(f"{self.name}: sample {sample_id!r} names no member ({', '.join(self.members)})")
        return self.members[member], inner

    def load(self, sample_id: str) -> tuple[np.ndarray, np.ndarray]:
        dataset, inner = self._member(sample_id)
        return dataset.load(inner)

    def load_image(self, sample_id: str) -> np.ndarray:
        dataset, inner = self._member(sample_id)
        return dataset.load_image(inner)

    def load_mask(self, sample_id: str) -> np.ndarray:
        dataset, inner = self._member(sample_id)
        return dataset.load_mask(inner)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "members": {name: m.describe() for name, m in self.members.items()}}
