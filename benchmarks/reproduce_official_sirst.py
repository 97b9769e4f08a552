"""Reproduce the SIRST IoU recorded in the file names of the official ALCNet / ACM MXNet weights.

Facts of the official evaluation (open-alcnet ``train_alcnet.py`` @5f71be5, open-acm ``train_dentist.py``
@95e0aec; facts only, no code taken):

* val split = ``test`` (``idx_427/test.txt``, 86 images, ``Misc_111`` included); mode ``testval``: the RGB
  image resized to 512x512 (PIL bilinear), the mask to 512x512 (PIL nearest), ImageNet mean/std;
* the dataset **shuffles its id list once** at construction (``random.shuffle``, unseeded), and the
  validation ``DataLoader`` (no shuffle) uses ``last_batch='rollover'`` with ``--test-batch-size`` 32
  (ALCNet) or 8 (ACM): epoch ``e`` scores the stream positions ``[start_e, start_e + L_e)`` of the
  permuted list repeated (``L_e`` = whole batches available, so some images may be scored twice);
* ``SigmoidMetric`` is reset each epoch: IoU = sum(intersection) / sum(union) over that epoch's window,
  with ``logits > 0`` and the target ``int(mask / 255)``; the best epoch's weights are saved with its IoU
  in the file name (ACM: epoch 288).

Run: ``python benchmarks/reproduce_official_sirst.py --data-root ../shared/data`` (per-image counts are
cached in ``--cache``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from methods.registry import create

__all__ = [
    "official_counts",
    "rollover_epochs",
    "window_indices",
    "window_iou",
    "subset_iou_bounds",
    "witness_order",
    "MODELS",
    "RECORDED",
]

_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)
# name -> (registry method, extra parameters, weights glob, official test batch size)
MODELS: dict[str, tuple[str, dict, str, int]] = {
    "alcnet": ("alcnet", {}, "alcnet_*.params", 32),
    "alcnet-single13": ("alcnet", {"shifts": [13]}, "alcnet_*.params", 32),
    "acm": ("acm", {}, "acm_*.params", 8),
}
RECORDED = {"alcnet": 0.7614, "alcnet-single13": 0.7614, "acm": 0.7442}
ACM_BEST_EPOCH = 288  # 0.7442-ResUNet_AsymBi_DENTIST_Puma1_GPU_0-IoU-288-best.params


def official_counts(sirst: Path, ids: list[str], net: torch.nn.Module, size: int = 512) -> np.ndarray:
    """Per-image ``(intersection, union)`` of the official ``testval`` protocol.

    Parameters
    ----------
    sirst : Path
        The ``SIRST`` folder (``images/``, ``masks/<id>_pixels0.png``).
    ids : list of str
        Image ids, in any order.
    net : torch.nn.Module
        An evaluation-ready network returning logits.
    size : int
        Base size: image (bilinear) and mask (nearest) are resized to ``size`` x ``size``.

    Returns
    -------
    numpy.ndarray
        ``(len(ids), 2)`` int64.
    """
    if size < 1:
        raise ValueError(f"parameter 'size' must be positive, got {size}")
    out = np.zeros((len(ids), 2), np.int64)
    for k, i in enumerate(ids):
        img_path, mask_path = sirst / "images" / f"{i}.png", sirst / "masks" / f"{i}_pixels0.png"
        if not img_path.is_file() or not mask_path.is_file():
            raise ValueError(f"{img_path if not img_path.is_file() else mask_path}: missing file for id {i!r}")
        rgb = np.asarray(Image.open(img_path).convert("RGB").resize((size, size), Image.BILINEAR), np.float32)
        x = torch.from_numpy(((rgb / 255 - _MEAN) / _STD).transpose(2, 0, 1).copy())[None]
        with torch.inference_mode():
            pred = (net(x)[0, 0] > 0).numpy()
        mask = np.asarray(Image.open(mask_path).resize((size, size), Image.NEAREST))
        if mask.ndim != 2:
            raise ValueError(f"{mask_path}: expected a single-channel mask, got shape {mask.shape}")
        target = (mask / 255.0).astype(np.int64) == 1  # the official int cast: only 255 is target
        out[k] = (pred & target).sum(), (pred | target).sum()
    return out


def rollover_epochs(n: int, batch_size: int, epochs: int) -> list[tuple[int, int]]:
    """``(start, length)`` in the sample stream of each epoch of a ``last_batch='rollover'`` loader.

    The samples left over at the end of an epoch open the next one, so epoch ``e`` scores the stream
    positions ``start .. start + length - 1`` (position ``p`` is sample ``p mod n`` of the loader's order).
    """
    for name, v in (("n", n), ("batch_size", batch_size), ("epochs", epochs)):
        if v < 1:
            raise ValueError(f"parameter '{name}' must be positive, got {v}")
    out, start, carry = [], 0, 0
    for _ in range(epochs):
        length = (carry + n) // batch_size * batch_size
        out.append((start, length))
        start += length
        carry = (carry + n) - length
    return out


def window_indices(order: np.ndarray, start: int, length: int) -> np.ndarray:
    """Indices scored by a window of the stream ``order, order, ...`` (cyclic; repeats kept)."""
    return order[(start + np.arange(length)) % len(order)]


def window_iou(counts: np.ndarray, idx: np.ndarray) -> float:
    """Dataset-level IoU of the images ``idx`` (repeats counted again, as the official loop does)."""
    inter, union = counts[idx].sum(axis=0)
    return float(inter / union)


def subset_iou_bounds(counts: np.ndarray, length: int, include: tuple[int, ...] = ()) -> tuple[float, float]:
    """The lowest and highest IoU a window of ``length`` stream positions can have over all orders.

    A window holds every image ``length // n`` times plus a set of ``length % n`` distinct images, which
    must contain the images ``include``; the extreme sets are found exactly by Dinkelbach iteration (top /
    bottom ``k`` of ``inter - lam * union``).
    """
    n = len(counts)
    full, k = divmod(length, n)
    if length < 1 or len(set(include)) > k:
        raise ValueError(
            f"parameter 'length' must be positive and leave room for {len(include)} included "
            f"images, got {length} (of {n})"
        )
    base = counts.sum(axis=0) * full + counts[list(include)].sum(axis=0)
    rest = np.delete(counts, list(include), axis=0)
    k -= len(set(include))

    def extreme(sign: int) -> float:
        lam = float(counts[:, 0].sum() / counts[:, 1].sum())
        for _ in range(100):
            pick = np.argsort(-sign * (rest[:, 0] - lam * rest[:, 1]), kind="stable")[:k]
            inter, union = base + rest[pick].sum(axis=0)
            new = float(inter / union)
            if new == lam:
                break
            lam = new
        return lam

    return extreme(-1), extreme(1)


def witness_order(
    counts: np.ndarray, length: int, target: float, rng: np.random.Generator, trials: int = 100_000
) -> np.ndarray | None:
    """A shuffled order whose first window of ``length`` positions has IoU ``target`` to 4 decimals.

    Random search (the official order came from an unseeded ``random.shuffle``, so any order is possible);
    ``None`` when ``trials`` orders give none.
    """
    n = len(counts)
    for _ in range(trials):
        order = rng.permutation(n)
        if round(window_iou(counts, window_indices(order, 0, length)), 4) == round(target, 4):
            return order
    return None


def _load_counts(args: argparse.Namespace, name: str, split: str) -> tuple[list[str], np.ndarray]:
    sirst = args.data_root / "SIRST"
    ids = (sirst / "idx_427" / f"{split}.txt").read_text().split()
    cache = args.cache / f"{name}-{split}.npy"
    if cache.is_file():
        return ids, np.load(cache)
    method, extra, pattern, _ = MODELS[name]
    weights = sorted((args.data_root / "weights" / "mxnet-official").glob(pattern))
    if not weights:
        raise ValueError(f"{args.data_root / 'weights' / 'mxnet-official'}: no file matches {pattern}")
    det = create(method, weights=str(weights[0]), device="cpu", **extra)
    det.configure("sirst")
    counts = official_counts(sirst, ids, det.network)
    args.cache.mkdir(parents=True, exist_ok=True)
    np.save(cache, counts)
    return ids, counts


def _report(
    name: str, split: str, ids: list[str], counts: np.ndarray, batch_size: int, rng: np.random.Generator, trials: int
) -> None:
    recorded = RECORDED[name]
    n = len(ids)
    full = window_iou(counts, np.arange(n))
    print(f"\n== {name} on {split} ({n} images), recorded {recorded:.4f}, test batch {batch_size}")
    print(f"full split IoU {full:.4f}")
    for drop in ("Misc_111", "Misc_29"):
        if drop in ids:
            keep = np.array([k for k, i in enumerate(ids) if i != drop])
            print(f"  without {drop}: {window_iou(counts, keep):.4f}")
    per = counts[:, 0] / np.maximum(counts[:, 1], 1)
    worst = np.argsort(per)[:5]
    print("  lowest per-image IoU: " + ", ".join(f"{ids[k]} {per[k]:.3f} (u={counts[k, 1]})" for k in worst))
    epochs = rollover_epochs(n, batch_size, 400)
    lengths = sorted({length for _, length in epochs})
    order = np.arange(n)
    split_order = [round(window_iou(counts, window_indices(order, s, length)), 4) for s, length in epochs]
    period = next(p for p in range(1, 401) if sum(length for _, length in epochs[:p]) % n == 0)
    print(
        f"split-file order (no shuffle): period {period} epochs, window IoUs "
        f"{sorted(set(split_order[:period]))}; recorded value at epochs "
        f"{[e for e, v in enumerate(split_order[:period]) if v == recorded] or 'none'}"
    )
    k29 = ids.index("Misc_29") if "Misc_29" in ids else None
    for length in lengths:
        lo, hi = subset_iou_bounds(counts, length)
        if k29 is not None and length % n:
            print(f"window of {length} holding Misc_29: IoU at most {subset_iou_bounds(counts, length, (k29,))[1]:.4f}")
        sims = np.array([window_iou(counts, rng.permutation(n)[np.arange(length) % n]) for _ in range(trials)])
        print(
            f"window of {length}: any order gives IoU in [{lo:.4f}, {hi:.4f}]; random orders: mean "
            f"{sims.mean():.4f}, P(>= recorded) {np.mean(sims >= recorded - 5e-5):.3f}, "
            f"P(rounds to recorded) {np.mean(np.round(sims, 4) == recorded):.4f}"
        )
        order = witness_order(counts, length, recorded, rng) if lo <= recorded <= hi else None
        if order is not None:
            left = sorted(ids[k] for k in set(range(n)) - set(order[:length].tolist()))
            print(
                f"  a witness order exists (IoU {window_iou(counts, window_indices(order, 0, length)):.4f}); "
                f"left out: {left if length < n else '(none)'}"
            )
    if name == "acm":
        for bs in (batch_size, 32):
            start, length = rollover_epochs(n, bs, ACM_BEST_EPOCH + 1)[ACM_BEST_EPOCH]
            lo, hi = subset_iou_bounds(counts, length)
            print(
                f"best epoch {ACM_BEST_EPOCH} with test batch {bs}: stream positions {start % n}.."
                f"{start % n + length - 1} (mod {n}), a window of {length}: IoU in [{lo:.4f}, {hi:.4f}]"
            )


def main() -> None:
    """Print the analysis per model and split, for the whole list and without ``Misc_111``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/irbench-official-sirst"))
    parser.add_argument("--models", default="alcnet,acm", help=f"comma list of {', '.join(MODELS)}")
    parser.add_argument("--splits", default="test")
    parser.add_argument("--trials", type=int, default=20000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    for name in args.models.split(","):
        for split in args.splits.split(","):
            ids, counts = _load_counts(args, name, split)
            _report(name, split, ids, counts, MODELS[name][3], rng, args.trials)
            if "Misc_111" in ids:
                keep = [k for k, i in enumerate(ids) if i != "Misc_111"]
                _report(
                    name,
                    f"{split} without Misc_111",
                    [ids[k] for k in keep],
                    counts[keep],
                    MODELS[name][3],
                    rng,
                    args.trials,
                )


if __name__ == "__main__":
    main()
