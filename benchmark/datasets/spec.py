"""Datasets described as data: a small TOML file per dataset, read into a :class:`DatasetSpec`.

A folder dataset::

    name = "sirst-v2"                    # the name used on the command line and in tables' records
    display = "SIRST-v2"                 # the table header (default: name)
    description = "..."                  # one line for `irbench list datasets`
    aliases = ["open-sirst-v2"]
    folders = ["open-sirst-v2", "SIRST-v2"]   # tried under the data root (absolute: as is), then the root
    background_without_mask = true       # an image without a mask file is background-only (default false)

    mask_encoding = "half-scale"         # how mask pixel values mean target (default: detected over the split)

    [[layouts]]                          # tried in order; the first whose split file exists is used
    name = "public"
    images = "mixed"                     # folder of the images (any of .png .bmp .jpg .jpeg .tif .tiff)
    masks = "annotations/masks"
    mask_name = "{id}_pixels0.png"       # {id}: the sample id of the split file; "{id}.*": any image extension
    split_file = "splits/{split}.txt"    # {split}: the file-name split below; {name}: basicirstd_name;
                                         # "": no split file, every image that has a mask
    splits = ["test", "train"]           # the splits this layout serves (default: all)

    [splits]                             # the split asked for -> the split name in the file names
    test = "test_full"
    train = "trainval_full"

    [facts]                              # optional, recorded with every run
    native_size = [512, 512]
    mean = 111.89                        # normalisation statistics (0-255), e.g. for BasicIRSTD models
    std = 27.62

A union of other datasets (ids become ``<member>/<id>``)::

    name = "sirst3"
    union = ["sirst", "nudt-sirst", "irstd1k"]

``layouts`` may instead be ``layouts = ["basicirstd"]`` for the BasicIRSTD layout (``images/``,
``masks/<id>.png``, ``img_idx/{split}_<basicirstd_name>.txt``).

Mask encodings (:data:`MASK_ENCODINGS`): ``half-scale`` (target where the value exceeds half the mask's full
scale: > 127 for 8-bit, > 32767 for 16-bit, >= 0.5 for float masks in [0, 1]), ``nonzero`` (0/1 masks:
target where > 0) and ``labels`` (pixel value k marks target k: every labelled pixel is target).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MASK_ENCODINGS", "DatasetSpec", "Layout", "SpecError", "basicirstd_layout", "load_spec", "parse_spec"]

MASK_ENCODINGS = ("half-scale", "nonzero", "labels")


class SpecError(ValueError):
    """A dataset spec that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Layout:
    """Where images, masks and split files sit inside a dataset folder.

    ``split_file`` and ``mask_name`` are format strings with ``{split}``, ``{name}`` and ``{id}`` fields; an
    empty ``split_file`` lists every image that has a mask; ``splits`` are the splits it serves (empty: all).
    """

    name: str
    images: str
    masks: str
    mask_name: str
    split_file: str
    splits: tuple[str, ...] = ()

    def serves(self, split: str) -> bool:
        return not self.splits or split in self.splits

    def describe(self) -> str:
        lists = self.split_file or "no split file (every image that has a mask)"
        served = f" (splits {', '.join(self.splits)})" if self.splits else ""
        return f"{self.images}/, {self.masks}/{self.mask_name}, {lists}{served}"


def basicirstd_layout() -> Layout:
    """The BasicIRSTD layout: ``images/``, ``masks/<id>.png``, ``img_idx/{split}_<NAME>.txt``."""
    return Layout("basicirstd", "images", "masks", "{id}.png", "img_idx/{split}_{name}.txt")


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: its names, where its files are (folder datasets), or its members (unions)."""

    name: str
    display: str = ""
    description: str = ""
    aliases: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    layouts: tuple[Layout, ...] = ()
    splits: dict[str, str] = field(default_factory=dict)
    basicirstd_name: str = ""
    background_without_mask: bool = False
    mask_encoding: str = ""  # one of MASK_ENCODINGS; "": detected over the split
    union: tuple[str, ...] = ()
    generator: str = ""  # "synth": generated, no files
    facts: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the spec file

    @property
    def title(self) -> str:
        """The display name (the name when none is given)."""
        return self.display or self.name


_KEYS = {
    "name",
    "display",
    "description",
    "aliases",
    "folders",
    "layouts",
    "splits",
    "basicirstd_name",
    "background_without_mask",
    "mask_encoding",
    "union",
    "generator",
    "facts",
}
_LAYOUT_KEYS = ("name", "images", "masks", "mask_name", "split_file", "splits")


def _strings(doc: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SpecError(f"{where}: '{key}' must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _string(doc: dict[str, Any], key: str, where: str) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str):
        raise SpecError(f"{where}: '{key}' must be a string, got {value!r}")
    return value


def _layout(raw: Any, where: str, i: int) -> Layout:
    if raw == "basicirstd":
        return basicirstd_layout()
    if not isinstance(raw, dict):
        raise SpecError(f'{where}: layouts[{i}] must be a table or "basicirstd", got {raw!r}')
    missing = [k for k in ("images", "masks", "mask_name") if not isinstance(raw.get(k), str) or not raw.get(k)]
    if not isinstance(raw.get("split_file"), str):
        missing.append("split_file")
    if missing:
        raise SpecError(f"{where}: layouts[{i}] lacks {', '.join(missing)} (strings)")
    unknown = set(raw) - set(_LAYOUT_KEYS)
    if unknown:
        raise SpecError(f"{where}: layouts[{i}] has unknown keys {', '.join(sorted(unknown))}")
    if "{id}" not in raw["mask_name"]:
        raise SpecError(f"{where}: layouts[{i}].mask_name must contain {{id}}, got {raw['mask_name']!r}")
    name = raw.get("name", f"layout{i}")
    if not isinstance(name, str):
        raise SpecError(f"{where}: layouts[{i}].name must be a string, got {name!r}")
    served = _strings(raw, "splits", f"{where}: layouts[{i}]")
    return Layout(name, raw["images"], raw["masks"], raw["mask_name"], raw["split_file"], served)


def parse_spec(doc: dict[str, Any], where: str) -> DatasetSpec:
    """A :class:`DatasetSpec` from a parsed TOML document; ``where`` names it in errors."""
    unknown = set(doc) - _KEYS
    if unknown:
        raise SpecError(f"{where}: unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(_KEYS))})")
    name = doc.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise SpecError(f"{where}: 'name' must be a non-empty string without '/', got {name!r}")
    union = _strings(doc, "union", where)
    generator = _string(doc, "generator", where)
    raw_layouts = doc.get("layouts", [])
    if not isinstance(raw_layouts, list):
        raise SpecError(f"{where}: 'layouts' must be a list of tables or \"basicirstd\", got {raw_layouts!r}")
    layouts = tuple(_layout(raw, where, i) for i, raw in enumerate(raw_layouts))
    splits = doc.get("splits", {})
    if not isinstance(splits, dict) or not all(isinstance(v, str) and v for v in splits.values()):
        raise SpecError(f"{where}: 'splits' must map split names to file-name split names, got {splits!r}")
    if not union and not generator:
        if not layouts:
            raise SpecError(f"{where}: a folder dataset needs 'layouts' (or 'union' of other datasets)")
        if not splits:
            raise SpecError(f"{where}: a folder dataset needs 'splits' (e.g. test = \"test\")")
    if union and layouts:
        raise SpecError(f"{where}: a union dataset has no layouts of its own")
    facts = doc.get("facts", {})
    if not isinstance(facts, dict):
        raise SpecError(f"{where}: 'facts' must be a table, got {facts!r}")
    for key in ("mean", "std"):
        if key in facts and not (isinstance(facts[key], int | float) and facts[key] >= 0):
            raise SpecError(f"{where}: facts.{key} must be a number >= 0, got {facts[key]!r}")
    for layout in layouts:
        unknown_splits = [s for s in layout.splits if s not in splits]
        if unknown_splits:
            raise SpecError(f"{where}: layout {layout.name!r} serves splits not in 'splits': {unknown_splits}")
    background = doc.get("background_without_mask", False)
    if not isinstance(background, bool):
        raise SpecError(f"{where}: 'background_without_mask' must be true or false, got {background!r}")
    encoding = _string(doc, "mask_encoding", where)
    if encoding and encoding not in MASK_ENCODINGS:
        raise SpecError(f"{where}: 'mask_encoding' must be one of {', '.join(MASK_ENCODINGS)}, got {encoding!r}")
    return DatasetSpec(
        name=name,
        display=_string(doc, "display", where),
        description=_string(doc, "description", where),
        aliases=_strings(doc, "aliases", where),
        folders=_strings(doc, "folders", where),
        layouts=layouts,
        splits=dict(splits),
        basicirstd_name=_string(doc, "basicirstd_name", where),
        background_without_mask=background,
        mask_encoding=encoding,
        union=union,
        generator=generator,
        facts=dict(facts),
        source=where,
    )


def load_spec(path: str | Path) -> DatasetSpec:
    """Read a dataset spec file.

    Raises
    ------
    SpecError
        Naming the file: unreadable, not TOML, or a field that is missing or wrong.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"{path}: cannot read dataset spec ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not a valid TOML dataset spec ({exc})") from None
    return parse_spec(doc, str(path))
