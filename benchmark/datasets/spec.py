"""Datasets described as data: a small TOML file per dataset, read into a :class:`DatasetSpec`.

A folder dataset::

    name = "sirst-v2"                    # the name used on the command line and in tables' records
    display = "SIRST-v2"                 # the table header (default: name)
    description = "..."                  # one line for `irbench list datasets`
    aliases = ["open-sirst-v2"]
    folders = ["open-sirst-v2", "SIRST-v2"]   # tried under the data root (absolute: as is), then the root
    background_without_mask = true       # an image without a mask file is background-only (default false)

    [[layouts]]                          # tried in order; the first whose split file exists is used
    name = "public"
    images = "mixed"                     # folder of the images (any of .png .bmp .jpg .jpeg .tif .tiff)
    masks = "annotations/masks"
    mask_name = "{id}_pixels0.png"       # {id}: the sample id of the split file
    split_file = "splits/{split}.txt"    # {split}: the file-name split below; {name}: basicirstd_name

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
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DatasetSpec", "Layout", "SpecError", "basicirstd_layout", "load_spec", "parse_spec"]


class SpecError(ValueError):
    """A dataset spec that cannot be used; the message names the file and the field."""


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
    "union",
    "generator",
    "facts",
}
_LAYOUT_KEYS = ("name", "images", "masks", "mask_name", "split_file")


def _strings(doc: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SpecError(f"{where}: '{key}' must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _layout(raw: Any, where: str, i: int) -> Layout:
    if raw == "basicirstd":
        return basicirstd_layout()
    if not isinstance(raw, dict):
        raise SpecError(f'{where}: layouts[{i}] must be a table or "basicirstd", got {raw!r}')
    missing = [k for k in _LAYOUT_KEYS[1:] if not isinstance(raw.get(k), str) or not raw.get(k)]
    if missing:
        raise SpecError(f"{where}: layouts[{i}] lacks {', '.join(missing)} (strings)")
    unknown = set(raw) - set(_LAYOUT_KEYS)
    if unknown:
        raise SpecError(f"{where}: layouts[{i}] has unknown keys {', '.join(sorted(unknown))}")
    if "{id}" not in raw["mask_name"]:
        raise SpecError(f"{where}: layouts[{i}].mask_name must contain {{id}}, got {raw['mask_name']!r}")
    return Layout(raw.get("name", f"layout{i}"), raw["images"], raw["masks"], raw["mask_name"], raw["split_file"])


def parse_spec(doc: dict[str, Any], where: str) -> DatasetSpec:
    """A :class:`DatasetSpec` from a parsed TOML document; ``where`` names it in errors."""
    unknown = set(doc) - _KEYS
    if unknown:
        raise SpecError(f"{where}: unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(_KEYS))})")
    name = doc.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise SpecError(f"{where}: 'name' must be a non-empty string without '/', got {name!r}")
    union = _strings(doc, "union", where)
    generator = doc.get("generator", "")
    layouts = tuple(_layout(raw, where, i) for i, raw in enumerate(doc.get("layouts", [])))
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
    background = doc.get("background_without_mask", False)
    if not isinstance(background, bool):
        raise SpecError(f"{where}: 'background_without_mask' must be true or false, got {background!r}")
    return DatasetSpec(
        name=name,
        display=str(doc.get("display", "")),
        description=str(doc.get("description", "")),
        aliases=_strings(doc, "aliases", where),
        folders=_strings(doc, "folders", where),
        layouts=layouts,
        splits=dict(splits),
        basicirstd_name=str(doc.get("basicirstd_name", "")),
        background_without_mask=background,
        union=union,
        generator=str(generator),
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
