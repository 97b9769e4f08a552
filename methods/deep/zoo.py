"""irbench's model zoo: weights that irbench itself trained, described by a manifest shipped as package data.

The folder ``methods/deep/zoo_weights/`` holds ``manifest.json`` and one weight file of at most
``MAX_SHIPPED_BYTES`` per entry (git keeps no larger file): the fp16 state_dict (``.pth``), or, when that is
larger, the same packed with xz (``.pth.xz``, :mod:`methods.deep.packed_weights`), losslessly when that fits,
else with its weights quantised to ``bits``. The manifest is a list of entries::

    {"method", "dataset", "file", "sha256", "bytes", "bits", "command", "commit", "epochs", "best_epoch",
     "device", "wall_s", "normalisation", "method_params", "test": {"protocol", "policy", "split",
     "n_images", "iou", "pd", "fa", ...}, "fp16": {"sha256", "bytes", "test"}}

``test`` holds the figures of the shipped file; ``fp16`` (quantised entries only) those of the fp16 weights
it was quantised from.

``command`` is the exact ``irbench train`` command that produced the weights; ``normalisation`` the input
statistics the weights expect (``{"preset"}``, plus ``"mean"``/``"std"`` for the ``basicirstd_gray`` preset:
those of the training set). Third-party checkpoints are never part of the zoo.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "ZOO_DIR",
    "MAX_SHIPPED_BYTES",
    "ZooEntry",
    "zoo_entries",
    "find_zoo_entry",
    "read_manifest",
    "weights_root",
]

ZOO_DIR = Path(__file__).with_name("zoo_weights")
MAX_SHIPPED_BYTES = 2_000_000  # git keeps no larger file
MANIFEST = "manifest.json"
_REQUIRED = ("method", "dataset", "file", "sha256", "command", "epochs", "device", "normalisation", "test")


def weights_root() -> Path:
    """``$IRBENCH_WEIGHTS`` or ``~/.cache/irbench/weights``: the root of the per-method default weights."""
    env = os.environ.get("IRBENCH_WEIGHTS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "irbench" / "weights"


@dataclass(frozen=True)
class ZooEntry:
    """One zoo checkpoint and how it was made (see the module docstring)."""

    method: str
    dataset: str
    file: str
    sha256: str
    command: str
    epochs: int
    device: str
    normalisation: dict[str, Any]
    test: dict[str, Any]
    extra: dict[str, Any]  # the manifest's other fields (commit, best_epoch, wall_s, bytes, method_params)

    @property
    def path(self) -> Path:
        return ZOO_DIR / self.file

    @property
    def bits(self) -> int | None:
        """The bit width its weights were quantised to, None for exact fp16 weights."""
        return self.extra.get("bits")

    @property
    def label(self) -> str:
        """The row label suffix of a table cell scored with these weights."""
        device = "CPU" if self.device == "cpu" else "GPU" if self.device == "cuda" else self.device
        bits = f", {self.bits}-bit weights" if self.bits else ""
        return f"irbench zoo: {self.epochs} epoch{'s' * (self.epochs != 1)}, {device}{bits}"

    def stats(self) -> tuple[float, float] | None:
        """The ``(mean, std)`` input statistics these weights expect (``basicirstd_gray`` preset), else None."""
        norm = self.normalisation
        return (float(norm["mean"]), float(norm["std"])) if "mean" in norm else None

    def record(self) -> dict[str, Any]:
        """What a run records of these weights."""
        return {
            "method": self.method,
            "dataset": self.dataset,
            "file": self.file,
            "command": self.command,
            "epochs": self.epochs,
            "device": self.device,
            "commit": self.extra.get("commit"),
            "label": self.label,
            "bits": self.bits,
            "test": self.test,
            **({"fp16": self.extra["fp16"]} if self.bits else {}),
        }


def read_manifest(path: Path) -> list[ZooEntry]:
    """The entries of a manifest file.

    Raises
    ------
    ValueError
        Naming the file (and irbench's package, whose data it is) when it is not valid JSON of the manifest's
        shape, and the entry when an entry lacks a required field.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path}: the zoo manifest of the irbench package cannot be read ({exc}); reinstall irbench"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries", []), list):
        raise ValueError(f"{path}: the zoo manifest of the irbench package is not an object with an 'entries' list")
    entries = []
    for i, raw in enumerate(doc.get("entries", [])):
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: entry {i} is not a JSON object")
        missing = [k for k in _REQUIRED if k not in raw]
        if missing:
            raise ValueError(f"{path}: entry {i} lacks {', '.join(missing)}")
        extra = {k: v for k, v in raw.items() if k not in _REQUIRED}
        entries.append(ZooEntry(**{k: raw[k] for k in _REQUIRED}, extra=extra))
    return entries


@cache
def zoo_entries() -> tuple[ZooEntry, ...]:
    """The shipped zoo (empty when the manifest is absent)."""
    path = ZOO_DIR / MANIFEST
    return tuple(read_manifest(path)) if path.is_file() else ()


def find_zoo_entry(method: str, dataset: str) -> ZooEntry | None:
    """The zoo weights of ``method`` trained on ``dataset``, if any."""
    return next((e for e in zoo_entries() if e.method == method and e.dataset == dataset), None)
