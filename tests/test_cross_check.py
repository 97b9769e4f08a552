"""``basicirstd`` Pd/Fa/IoU/nIoU against the independent ``pyirstdmetrics`` package, on perturbed masks.

``pyirstdmetrics`` pins numpy < 2, so it runs in its own environment (``.venv-crosscheck``, made by
``.ci/run``, or ``$IRBENCH_CROSSCHECK_PYTHON``) and the tests here run on the numpy users get."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from benchmark.datasets import read_mask
from benchmark.metrics import detection_metrics

CROSSCHECK = Path(__file__).resolve().parents[1] / ".venv-crosscheck" / "bin" / "python"
PYTHON = Path(os.environ.get("IRBENCH_CROSSCHECK_PYTHON", CROSSCHECK))
pytestmark = pytest.mark.skipif(
    not PYTHON.is_file(),
    reason=f"no pyirstdmetrics environment at {PYTHON} (python3.11 -m venv .venv-crosscheck && "
    ".venv-crosscheck/bin/pip install pyirstdmetrics==1.0.2; it pins numpy < 2, so it stays out of .venv)",
)


def perturb(gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible prediction: dilate/erode/shift the truth, drop some targets, add random blobs."""
    pred = gt.copy()
    op = rng.integers(0, 4)
    if op == 0:
        pred = ndimage.binary_dilation(pred, iterations=int(rng.integers(1, 3)))
    elif op == 1:
        pred = ndimage.binary_erosion(pred)
    elif op == 2:
        pred = np.roll(pred, tuple(rng.integers(-3, 4, size=2)), axis=(0, 1))
    labels, n = ndimage.label(pred, structure=np.ones((3, 3)))
    for k in range(1, n + 1):
        if rng.random() < 0.25:
            pred[labels == k] = False
    h, w = gt.shape
    for _ in range(int(rng.integers(0, 6))):
        r, c, s = rng.integers(0, h - 4), rng.integers(0, w - 4), int(rng.integers(1, 4))
        pred[r : r + s, c : c + s] = True
    return pred


def reference(preds, gts, tmp_path: Path) -> dict[str, float]:
    """The metrics by ``pyirstdmetrics``, computed in its own environment (tests/pyirstd_reference.py)."""
    masks = tmp_path / "masks.npz"
    np.savez(masks, **{f"pred_{i}": p for i, p in enumerate(preds)}, **{f"gt_{i}": g for i, g in enumerate(gts)})
    script = Path(__file__).with_name("pyirstd_reference.py")
    done = subprocess.run([str(PYTHON), str(script), str(masks)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def check(gts, seed, tmp_path):
    rng = np.random.default_rng(seed)
    preds = [perturb(g, rng) for g in gts]
    ours = detection_metrics(preds, gts, "basicirstd")
    ref = reference(preds, gts, tmp_path)
    for key in ("pd", "fa", "iou", "niou"):
        assert ours[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12), key


def test_agrees_on_synthetic_masks(tmp_path):
    rng = np.random.default_rng(0)
    gts = []
    for _ in range(25):
        gt = np.zeros((96, 128), bool)
        for _ in range(rng.integers(1, 5)):
            r, c, s = rng.integers(2, 88), rng.integers(2, 120), int(rng.integers(1, 7))
            gt[r : r + s, c : c + s] = True
        gts.append(gt)
    check(gts, 1, tmp_path)


def test_agrees_on_real_irstd1k_masks(shared_data, tmp_path):
    root = shared_data / "IRSTD-1k"
    ids = (root / "test.txt").read_text().split()[:30]
    gts = [read_mask(root / "IRSTD1k_Label" / f"{i}.png") for i in ids]
    check(gts, 2, tmp_path)
