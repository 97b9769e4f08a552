"""Dataset names and construction: ``get_dataset("irstd1k", root, split)``, from specs.

Every dataset is a :class:`~benchmark.datasets.spec.DatasetSpec`: the built-in ones are the TOML files in
``benchmark/datasets/specs/`` (package data); a user's are TOML files given by path (``--dataset
my.toml``) or placed in the data root (``<root>/*.toml``, found by name). ``--dataset DIR`` opens a folder in
one of the built-in folder layouts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from benchmark.datasets.base import Dataset
from benchmark.datasets.errors import DatasetNotFoundError
from benchmark.datasets.folder import FolderDataset
from benchmark.datasets.imageio import DEFAULT_MAX_PIXELS
from benchmark.datasets.spec import DatasetSpec, SpecError, load_spec
from benchmark.datasets.synth import SynthDataset
from benchmark.datasets.union import UnionDataset
from methods.names import Registry

__all__ = [
    "DATASETS",
    "SPEC_DIR",
    "builtin_specs",
    "canonical_name",
    "default_root",
    "display_name",
    "find_spec",
    "get_dataset",
    "root_specs",
]

SPEC_DIR = Path(__file__).with_name("specs")


@cache
def builtin_specs() -> dict[str, DatasetSpec]:
    """The shipped specs by name (``synth`` first, then alphabetical)."""
    specs = {s.name: s for s in (load_spec(p) for p in sorted(SPEC_DIR.glob("*.toml")))}
    return dict(sorted(specs.items(), key=lambda item: (item[0] != "synth", item[0])))


DATASETS: Registry[str] = Registry("dataset")  # name -> description
for _spec in builtin_specs().values():
    DATASETS.add(_spec.name, _spec.description, _spec.aliases)


def canonical_name(name: str) -> str:
    """Resolve aliases; unknown names raise :class:`~methods.names.UnknownNameError` (a ``KeyError``) listing
    the known ones."""
    return DATASETS.canonical(name)


def default_root() -> Path:
    """``$IRBENCH_DATA`` if set, else ``./data``."""
    return Path(os.environ.get("IRBENCH_DATA", "data"))


def root_specs(root: str | Path | None) -> dict[str, DatasetSpec]:
    """The specs in ``<root>/*.toml`` (a spec that cannot be read raises :class:`SpecError`)."""
    folder = Path(root if root is not None else default_root()).expanduser()
    found = {}
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        spec = load_spec(path)
        found[spec.name] = spec
    return found


def _folder_spec(folder: Path) -> DatasetSpec:
    """A spec for ``folder`` in one of the built-in folder layouts (named after the folder)."""
    for spec in builtin_specs().values():
        for layout in spec.layouts:
            split = next(iter(spec.splits.values()))
            if (folder / layout.images).is_dir() and (
                folder / layout.split_file.format(split=split, name=spec.basicirstd_name)
            ).is_file():
                resolved = folder.resolve()
                name = re.sub(r"[^a-z0-9._-]+", "-", resolved.name.lower()).strip("-") or spec.name
                absolute = str(resolved)
                return replace(
                    spec,
                    name=name,
                    display=resolved.name,
                    description=f"{absolute} in the {spec.title} layout",
                    folders=(absolute,),
                    aliases=(),
                    facts={},  # another set in the same layout: none of the layout owner's facts hold
                    source=absolute,
                )
    known = "; ".join(
        f"{s.name}: {', '.join(lay.describe() for lay in s.layouts)}" for s in builtin_specs().values() if s.layouts
    )
    raise DatasetNotFoundError(f"{folder}: no known dataset layout found here (known: {known})")


def find_spec(name: str, root: str | Path | None = None) -> DatasetSpec:
    """The spec that ``name`` means: a ``.toml`` file, a dataset folder, a built-in name or alias, or the
    name of a spec in ``<root>/*.toml``.

    Raises
    ------
    SpecError
        A spec file that cannot be used.
    KeyError
        (:class:`~methods.names.UnknownNameError`) an unknown name, listing the known ones.
    """
    path = Path(name).expanduser()
    if name.endswith(".toml"):
        return load_spec(path)
    if os.sep in name or name.startswith("."):
        if path.is_dir():
            return _folder_spec(path)
        raise DatasetNotFoundError(f"{path}: no such dataset folder")
    key = name.lower()
    if key in DATASETS:
        return builtin_specs()[canonical_name(key)]
    for spec in root_specs(root).values():
        if key == spec.name or key in spec.aliases:
            return spec
    if path.is_dir():
        return _folder_spec(path)
    raise DATASETS.unknown(name)


def get_dataset(
    name: str | DatasetSpec,
    root: str | Path | None = None,
    split: str = "test",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> Dataset:
    """Open ``split`` of dataset ``name`` (see :func:`find_spec`) under ``root`` (default :func:`default_root`).

    ``max_pixels`` caps each image and mask read from disk (``None`` or 0: no cap); ``synth`` ignores it.
    """
    spec = name if isinstance(name, DatasetSpec) else find_spec(name, root)
    if spec.generator == "synth":
        return SynthDataset(split)
    if spec.generator:
        raise SpecError(f"{spec.source}: unknown generator {spec.generator!r} (known: synth)")
    if spec.union:
        members = [get_dataset(member, root, split, max_pixels) for member in spec.union]
        return UnionDataset(spec, split, members)
    return FolderDataset(spec, root if root is not None else default_root(), split, max_pixels)


def display_name(name: str, recorded: Iterable[dict[str, Any]] = ()) -> str:
    """Name of a dataset as printed in table headers: its ``display`` among the ``recorded`` dataset facts of a
    run (:meth:`Dataset.describe`), else a built-in spec's, else the name itself."""
    for facts in recorded:
        if facts.get("name") == name and facts.get("display"):
            return str(facts["display"])
    spec = builtin_specs().get(name)
    return spec.title if spec else name
