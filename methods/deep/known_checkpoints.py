"""Released third-party checkpoints by sha256, with their documented training set (``known_checkpoints.json``)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from methods.registry import TrainingSet

__all__ = ["known_training_set"]

_TABLE = Path(__file__).with_name("known_checkpoints.json")


@cache
def _known() -> dict[str, dict[str, str]]:
    return {c["sha256"]: c for c in json.loads(_TABLE.read_text())["checkpoints"]}


def known_training_set(sha256: str) -> TrainingSet | None:
    """The documented training set of the released checkpoint with this sha256, if irbench knows it."""
    entry = _known().get(sha256)
    if entry is None:
        return None
    return TrainingSet(
        f"{entry['name']}: {entry['dataset']} {entry['split']}", dataset=entry["dataset"], split=entry["split"]
    )
