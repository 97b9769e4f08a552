"""``irbench evaluate``: score saved prediction maps (PNG, 8-bit read as /255) against ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.datasets import SampleError, get_dataset, read_mask
from benchmark.datasets.folder import IMAGE_EXTENSIONS
from benchmark.datasets.imageio import to_grey
from benchmark.metrics import DetectionMetrics, get_protocol
from benchmark.policies import parse_policy


def read_prediction(path: Path) -> np.ndarray:
    """A saved map as float32 in [0, 1]: 8-bit / 255, 16-bit / 65535, float as is; colour via luma."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L") if im.mode in ("P", "1") else im)
    except (UnidentifiedImageError, OSError) as exc:
        raise SampleError(f"{path}: cannot read prediction ({exc})") from None
    scale = 255.0 if arr.dtype == np.uint8 else 65535.0 if np.issubdtype(arr.dtype, np.integer) else 1.0
    return to_grey(arr) / np.float32(scale)


def _find(folder: Path, stem: str) -> Path | None:
    for ext in IMAGE_EXTENSIONS:
        if (folder / f"{stem}{ext}").is_file():
            return folder / f"{stem}{ext}"
    return None


def _ground_truth(dataset: str | None, data_root: str | None, split: str,
                  gt_dir: str | None) -> list[tuple[str, Any]]:
    """``(id, loader)`` pairs, where ``loader()`` returns the bool mask."""
    if dataset:
        ds = get_dataset(dataset, data_root, split)
        return [(i, lambda i=i: ds.load(i)[1]) for i in ds.ids]
    folder = Path(gt_dir or "")
    if not folder.is_dir():
        raise FileNotFoundError(f"--gt-dir {folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise FileNotFoundError(f"--gt-dir {folder}: holds no mask images")
    return [(p.stem.removesuffix("_pixels0"), lambda p=p: read_mask(p)) for p in files]


def evaluate_predictions(pred_dir: str, dataset: str | None = None, data_root: str | None = None,
                         split: str = "test", gt_dir: str | None = None, protocol: str = "irbench",
                         policy: str = "fixed:0.5") -> dict[str, Any]:
    """Evaluate every ground-truth id against ``pred_dir/<id>.png``; return metrics as raw fractions.

    Missing, unreadable or wrongly sized predictions are listed under ``skipped`` with the reason.
    """
    folder = Path(pred_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"--pred-dir {folder}: not a folder")
    proto, pol = get_protocol(protocol), parse_policy(policy)
    if pol.needs_fit:
        raise ValueError("the sweep policy is not available for saved predictions; use fixed:T or minmax:T")
    acc = DetectionMetrics(proto)
    skipped = []
    for sample_id, load_gt in _ground_truth(dataset, data_root, split, gt_dir):
        path = _find(folder, sample_id)
        try:
            if path is None:
                raise SampleError(f"{folder}/{sample_id}.png: prediction is missing")
            pred, gt = read_prediction(path), load_gt()
            if pred.shape != gt.shape:
                raise SampleError(f"size mismatch: prediction {path} is {pred.shape[1]}x{pred.shape[0]} but "
                                  f"the ground truth of {sample_id} is {gt.shape[1]}x{gt.shape[0]} (WxH)")
        except SampleError as exc:
            skipped.append({"id": sample_id, "error": str(exc)})
            continue
        score, gt = proto.prepare(pred, gt)
        acc.update(pol.binarise(score), gt)
    return {**acc.compute(), "policy": pol.name, "skipped": skipped}
