"""Datasets: public layouts of IRSTD-1k, NUDT-SIRST and SIRST, the BasicIRSTD layout, and ``synth``."""

from benchmark.datasets.base import Dataset
from benchmark.datasets.errors import DatasetNotFoundError, SampleError, SplitFileError
from benchmark.datasets.imageio import (
    DEFAULT_MAX_PIXELS,
    binarise_mask,
    read_image,
    read_mask,
)
from benchmark.datasets.registry import (
    DATASETS,
    canonical_name,
    display_name,
    get_dataset,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DATASETS",
    "Dataset",
    "DatasetNotFoundError",
    "SampleError",
    "SplitFileError",
    "binarise_mask",
    "canonical_name",
    "display_name",
    "get_dataset",
    "read_image",
    "read_mask",
]
