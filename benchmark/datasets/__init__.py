"""Datasets as specs (TOML): folder layouts (public releases, BasicIRSTD), unions of sets, and ``synth``."""

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
    builtin_specs,
    canonical_name,
    display_name,
    find_spec,
    get_dataset,
    root_specs,
)
from benchmark.datasets.spec import DatasetSpec, SpecError, load_spec

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DATASETS",
    "Dataset",
    "DatasetNotFoundError",
    "DatasetSpec",
    "SpecError",
    "builtin_specs",
    "find_spec",
    "load_spec",
    "root_specs",
    "SampleError",
    "SplitFileError",
    "binarise_mask",
    "canonical_name",
    "display_name",
    "get_dataset",
    "read_image",
    "read_mask",
]
