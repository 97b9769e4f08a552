"""``irbench evaluate``: score saved prediction maps (PNG, 8-bit read as /255) against ground truth.

A prediction that is missing, unreadable or of another size than its ground truth counts as an empty
prediction (every target missed, no false alarm), as a detector failure does in ``irbench run``, so a
method cannot gain by leaving images out; such ids are listed under ``missing_predictions``. Ids whose
ground truth is unusable are left out and listed under ``skipped``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.datasets import SampleError, get_dataset, read_mask
from benchmark.datasets.folder import IMAGE_EXTENSIONS
from benchmark.datasets.imageio import to_grey
from benchmark.evaluation import Sample, score_maps
from benchmark.policies import parse_policy


class MissingPredictionsError(ValueError):
    """``strict=True`` and some predictions are missing, unreadable or wrongly sized."""


_READ_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError)


def _open_prediction(path: Path) -> np.ndarray:
    """A saved map as float32 in [0, 1]: 8-bit / 255, 16-bit / 65535, float as is; colour via luma. Raises
    one of ``_READ_ERRORS`` for a file that is not a readable image."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("L") if im.mode in ("P", "1") else im)
    scale = 255.0 if arr.dtype == np.uint8 else 65535.0 if np.issubdtype(arr.dtype, np.integer) else 1.0
    return to_grey(arr) / np.float32(scale)


def _listing(folder: Path) -> dict[str, Path]:
    """Image files of ``folder`` keyed by stem + lower-case extension (``ID.PNG`` -> ``ID.png``), one scan."""
    names = sorted((e.name for e in os.scandir(folder) if e.is_file()), key=lambda n: (n != n.lower(), n))
    files: dict[str, Path] = {}
    for name in names:
        stem, ext = os.path.splitext(name)
        if ext.lower() in IMAGE_EXTENSIONS:
            files.setdefault(stem + ext.lower(), folder / name)
    return files


def _find(files: dict[str, Path], stem: str) -> Path | None:
    return next((files[stem + ext] for ext in IMAGE_EXTENSIONS if stem + ext in files), None)


def _usable(path: Path, shape: tuple[int, ...]) -> tuple[np.ndarray | None, str | None]:
    """``(prediction, None)`` if ``path`` holds a map of ``shape``, else ``(None, problem)``."""
    try:
        pred = _open_prediction(path)
    except _READ_ERRORS as exc:
        return None, f"unreadable ({type(exc).__name__}: {exc})"
    if pred.shape != shape:
        return None, (f"size mismatch ({pred.shape[1]}x{pred.shape[0]}, ground truth {shape[1]}x{shape[0]}, WxH)")
    return pred, None


def _ground_truth(
    dataset: str | None, data_root: str | None, split: str, gt_dir: str | None
) -> list[tuple[str, Callable[[], np.ndarray]]]:
    """``(id, loader)`` pairs, where ``loader()`` returns the bool mask."""
    if dataset:
        ds = get_dataset(dataset, data_root, split)
        return [(i, lambda i=i: ds.load_mask(i)) for i in ds.ids]
    folder = Path(gt_dir or "")
    if not folder.is_dir():
        raise FileNotFoundError(f"--gt-dir {folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise FileNotFoundError(f"--gt-dir {folder}: holds no mask images")
    return [(p.stem.removesuffix("_pixels0"), lambda p=p: read_mask(p)) for p in files]


def format_missing(entries: list[dict[str, Any]], limit: int = 10) -> str:
    """``id (problem: path), ...`` for the first ``limit`` entries, then ``... and N more``."""
    text = ", ".join(f"{e['id']} ({e['error']}: {e['path']})" for e in entries[:limit])
    return text + (f", ... and {len(entries) - limit} more" if len(entries) > limit else "")


def evaluate_predictions(
    pred_dir: str,
    dataset: str | None = None,
    data_root: str | None = None,
    split: str = "test",
    gt_dir: str | None = None,
    protocol: str = "irbench",
    policy: str = "fixed:0.5",
    strict: bool = False,
) -> dict[str, Any]:
    """Evaluate every ground-truth id against ``pred_dir/<id>.png``; return metrics as raw fractions.

    Missing, unreadable or wrongly sized predictions are scored as empty and listed under
    ``missing_predictions``; with ``strict`` they raise :class:`MissingPredictionsError` instead. Ids whose
    ground truth cannot be read are left out and listed under ``skipped``.
    """
    folder = Path(pred_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"--pred-dir {folder}: not a folder")
    pol = parse_policy(policy)
    if pol.needs_fit:
        raise ValueError("the sweep policy is not available for saved predictions; use fixed:T or minmax:T")
    files = _listing(folder)
    skipped: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []

    def samples() -> Iterator[Sample]:
        for sample_id, load_gt in _ground_truth(dataset, data_root, split, gt_dir):
            try:
                gt = load_gt()
            except SampleError as exc:
                skipped.append({"id": sample_id, "error": str(exc)})
                continue
            path = _find(files, sample_id)
            pred, problem = _usable(path, gt.shape) if path is not None else (None, "missing")
            if problem is not None:
                missing.append({"id": sample_id, "path": str(path or folder / f"{sample_id}.png"), "error": problem})
            yield sample_id, pred, gt

    metrics = score_maps(samples(), protocol, pol).metrics
    if strict and missing:
        raise MissingPredictionsError(
            f"{len(missing)} of {metrics['n_images']} predictions missing, unreadable or "
            f"wrongly sized (--strict, nothing scored): {format_missing(missing, 5)}"
        )
    return {
        **metrics,
        "policy": pol.name,
        "skipped": skipped,
        "missing_predictions": missing,
        "n_missing_predictions": len(missing),
    }
