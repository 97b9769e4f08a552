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
from benchmark.datasets.spec import DatasetSpec, Layout, SpecError, basicirstd_layout, load_spec
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
    """A spec for a dataset folder of any name, named after it (the first that fits):

    * a built-in dataset's folder layout (a copy of IRSTD-1k, say);
    * the BasicIRSTD layout under the folder's own name (``images/``, ``masks/<id>.png``,
      ``img_idx/<split>_<FOLDER>.txt``), or with exactly one ``img_idx/*test*.txt``, that one as ``test``;
    * a plain layout: ``images/``, ``masks/`` holding a mask of the same stem, ``<split>.txt`` or
      ``splits/<split>.txt``;
    * ``images/`` and ``masks/`` alone: every image that has a mask, as the ``test`` split.

    Its masks' encoding is detected (a layout owner's facts do not hold for another set).
    """
    resolved = folder.resolve()
    name = re.sub(r"[^a-z0-9._-]+", "-", resolved.name.lower()).strip("-") or "dataset"
    own = DatasetSpec(
        name=name,
        display=resolved.name,
        folders=(str(resolved),),
        source=str(resolved),
    )
    for spec in builtin_specs().values():
        for layout in spec.layouts:
            split = next(iter(spec.splits.values()))
            if (resolved / layout.images).is_dir() and (
                resolved / layout.split_file.format(split=split, name=spec.basicirstd_name)
            ).is_file():
                return replace(
                    spec,
                    name=own.name,
                    display=own.display,
                    description=f"{resolved} in the {spec.title} layout",
                    folders=own.folders,
                    aliases=(),
                    mask_encoding="",
                    facts={},
                    source=own.source,
                )
    spec = _basicirstd_spec(own, resolved) or _plain_spec(own, resolved)
    if spec is not None:
        return spec
    raise DatasetNotFoundError(
        f"{resolved}: no dataset layout found in this folder. Looked for:\n"
        f"  - BasicIRSTD: images/, masks/<id>.png and img_idx/test_{resolved.name}.txt (or one img_idx/*test*.txt)\n"
        "  - plain: images/ and masks/ (same stems), with test.txt or splits/test.txt, or no split file\n"
        + "".join(
            f"  - {s.title}: {', '.join(lay.describe() for lay in s.layouts)}\n"
            for s in builtin_specs().values()
            if s.layouts
        )
        + f"Found here: {_contents(resolved)}"
    )


def _contents(folder: Path, shown: int = 20) -> str:
    """The first ``shown`` entries of ``folder`` (folders with a trailing ``/``)."""
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    more = f" and {len(entries) - shown} more" if len(entries) > shown else ""
    return (", ".join(entries[:shown]) + more) or "nothing"


def _basicirstd_spec(own: DatasetSpec, folder: Path) -> DatasetSpec | None:
    """The BasicIRSTD layout under ``folder``'s own name, or with its single ``img_idx/*test*.txt``."""
    lists = sorted((folder / "img_idx").glob("*.txt")) if (folder / "images").is_dir() else []
    suffix = f"_{folder.name}.txt"
    splits = {p.name.removesuffix(suffix): p.name.removesuffix(suffix) for p in lists if p.name.endswith(suffix)}
    if "test" in splits:
        return replace(
            own,
            layouts=(basicirstd_layout(),),
            splits=splits,
            basicirstd_name=folder.name,
            description=f"{folder} in the BasicIRSTD layout",
        )
    tests = [p for p in lists if "test" in p.stem.lower()]
    if len(tests) > 1:
        raise DatasetNotFoundError(
            f"{folder}: BasicIRSTD layout, but no img_idx/test_{folder.name}.txt and several test lists "
            f"({', '.join(p.name for p in tests)}): rename the one to score, or describe the set in a TOML spec"
        )
    if not tests:
        return None
    layout = Layout("basicirstd", "images", "masks", "{id}.png", f"img_idx/{tests[0].name}")
    return replace(
        own,
        layouts=(layout,),
        splits={"test": "test"},
        description=f"{folder} in the BasicIRSTD layout ({tests[0].name})",
    )


def _plain_spec(own: DatasetSpec, folder: Path) -> DatasetSpec | None:
    """``images/`` and ``masks/`` with ``<split>.txt`` or ``splits/<split>.txt``, or with no split file."""
    if not ((folder / "images").is_dir() and (folder / "masks").is_dir()):
        return None
    for pattern in ("{split}.txt", "splits/{split}.txt"):
        found = sorted(folder.glob(pattern.format(split="*")))
        splits = {p.stem: p.stem for p in found if p.is_file()}
        if "test" in splits:
            layout = Layout("plain", "images", "masks", "{id}.*", pattern)
            return replace(own, layouts=(layout,), splits=splits, description=f"{folder} in the plain layout")
    layout = Layout("plain, no split file", "images", "masks", "{id}.*", "")
    return replace(
        own,
        layouts=(layout,),
        splits={"test": "all"},
        description=f"{folder}: every image that has a mask (no split file)",
    )


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
    return _open(name if isinstance(name, DatasetSpec) else find_spec(name, root), root, split, max_pixels, ())


def _open(
    spec: DatasetSpec, root: str | Path | None, split: str, max_pixels: int | None, chain: tuple[DatasetSpec, ...]
) -> Dataset:
    """:func:`get_dataset` for ``spec``, a member of the unions in ``chain`` (a cycle is a :class:`SpecError`)."""
    if any(s.name == spec.name for s in chain):
        cycle = [*chain[[s.name for s in chain].index(spec.name) :], spec]
        raise SpecError(
            "dataset unions form a cycle: " + " -> ".join(f"{s.name} ({s.source or 'built-in'})" for s in cycle)
        )
    if spec.generator == "synth":
        return SynthDataset(split)
    if spec.generator:
        raise SpecError(f"{spec.source}: unknown generator {spec.generator!r} (known: synth)")
    if spec.union:
        members = [_open(find_spec(m, root), root, split, max_pixels, (*chain, spec)) for m in spec.union]
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
