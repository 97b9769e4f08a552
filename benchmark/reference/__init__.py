"""Published numbers shipped as package data, and the paper's units they are stated in.

* ``mshnet_cvpr2024``: Tables 1 and 2 of Liu et al., "Infrared Small Target Detection with Scale and
  Location Sensitivity", CVPR 2024 (MSHNet): ``table1[method][dataset]`` and
  ``table2[bucket][method][dataset]``, each ``{"iou", "pd", "fa"}``.
* ``mshnet_cvpr2024_training``: its Tables 3-6 (losses and ablations, on IRSTD-1k):
  ``table<N>["rows"][row][method]`` and the trained configurations ``table<N>["cells"]``.

Paper units: IoU, Pd, nIoU, precision and F1 in percent (x100), Fa in 1e-6 (x1e6). Engine results are raw
fractions; :func:`paper_units` converts them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any

from methods.names import Registry

__all__ = ["PAPERS", "PAPER_SCALE", "load_paper", "paper_units"]

PAPERS: Registry[str] = Registry("reference")  # name -> package data file
for _name in ("mshnet_cvpr2024", "mshnet_cvpr2024_training"):
    PAPERS.add(_name, f"{_name}.json")
PAPER_SCALE: dict[str, float] = {"iou": 100.0, "pd": 100.0, "fa": 1e6, "niou": 100.0, "precision": 100.0, "f1": 100.0}


@cache
def _read(filename: str) -> str:
    return (files(__package__) / filename).read_text(encoding="utf-8")


def load_paper(name: str = "mshnet_cvpr2024") -> dict[str, Any]:
    """The published values of ``name`` (one of :data:`PAPERS`), in paper units; a fresh copy each call."""
    return json.loads(_read(PAPERS[name]))


def paper_units(metrics: Mapping[str, Any], keys: tuple[str, ...] = ("iou", "pd", "fa")) -> dict[str, float]:
    """``metrics[k] * PAPER_SCALE[k]`` for each of ``keys`` (raw fractions -> percent / 1e-6)."""
    return {k: metrics[k] * PAPER_SCALE[k] for k in keys}
