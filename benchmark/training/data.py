"""Training data: the engine's datasets, a validation split carved from ``train``, and augmentation.

Images and masks come from :func:`benchmark.datasets.get_dataset` (no file reading here). Model selection uses
a validation subset carved deterministically from the **training** split; the test split is never seen
during training.

Augmentation, two named styles (:data:`AUGMENTS`). ``rescale`` (the official recipe of the multi-scale U-Net
family): random horizontal flip; random rescale of the long side to ``U(0.5, 2) * base``; zero padding up to
``crop``; a random ``crop x crop`` window; Gaussian blur with probability 0.5 and sigma ``U(0, 1)``.
``patch`` (BasicIRSTD's ``train.py``): zero padding up to ``crop``; a random window that, with probability
0.5 and when the mask has a target, contains a randomly chosen target pixel; then vertical flip, horizontal
flip and transpose, each with probability 0.5. Masks are resized nearest-neighbour and never blurred.
Every random draw comes from a generator seeded by ``(seed, epoch, sample position)``, so a batch is a pure
function of those numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

from benchmark.datasets import Dataset, get_dataset
from benchmark.leakage import short_hash
from benchmark.store import image_hash

__all__ = ["AUGMENTS", "Augment", "Draw", "TrainingData", "prefetched", "split_train_val"]

T = TypeVar("T")


def prefetched(make: Callable[[int], T], n: int) -> Iterator[T]:
    """``make(0), ..., make(n - 1)`` in order, each computed in a background thread while the consumer works
    on the previous one (OpenCV and numpy release the GIL), so loading and augmentation leave the critical
    path. ``make`` must be a pure function of its index."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(make, 0) if n else None
        for i in range(n):
            current = pending.result()
            pending = pool.submit(make, i + 1) if i + 1 < n else None
            yield current


def split_train_val(ids: Sequence[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split training ids into ``(train, val)``: a seeded permutation, ``round(n * val_fraction)`` (>= 1)
    ids to validation; both lists keep the dataset's order."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"parameter 'val_fraction' must be in (0, 1), got {val_fraction!r}")
    if len(ids) < 2:
        raise ValueError(f"need at least 2 training images to carve a validation split, got {len(ids)}")
    n_val = min(len(ids) - 1, max(1, round(len(ids) * val_fraction)))
    chosen = set(np.random.default_rng(seed).permutation(len(ids))[:n_val].tolist())
    return ([i for k, i in enumerate(ids) if k not in chosen], [i for k, i in enumerate(ids) if k in chosen])


@dataclass(frozen=True)
class Augment:
    """The random geometric and photometric augmentation of one training sample.

    Parameters
    ----------
    crop : side of the square training crop.
    base : the rescale reference (long side drawn from ``[0.5, 2] * base``); 0 disables rescaling.
    flip, blur : enable the horizontal flip before the crop / the Gaussian blur (each with probability 0.5).
    dihedral : after the crop, flip vertically, flip horizontally and transpose, each with probability 0.5.
    target_crop : probability that the window contains a target pixel drawn uniformly from the mask's (its
        position after the flip and rescale).
    """

    crop: int = 256
    base: int = 256
    flip: bool = True
    blur: bool = True
    dihedral: bool = False
    target_crop: float = 0.0

    def __post_init__(self) -> None:
        if self.crop < 8:
            raise ValueError(f"parameter 'crop' must be >= 8, got {self.crop!r}")
        if self.base < 0:
            raise ValueError(f"parameter 'base' must be >= 0, got {self.base!r}")
        if not 0.0 <= self.target_crop <= 1.0:
            raise ValueError(f"parameter 'target_crop' must be in [0, 1], got {self.target_crop!r}")

    def draw(self, mask: np.ndarray, rng: np.random.Generator) -> Draw:
        """The random choices for one sample of HxW ``mask``, in the order they are drawn from ``rng``."""
        flip = self.flip and rng.random() < 0.5
        h, w = mask.shape
        if self.base:
            long_side = int(rng.integers(self.base // 2, self.base * 2 + 1))
            scale = long_side / max(h, w)
            h, w = max(1, round(h * scale)), max(1, round(w * scale))
        ph, pw = max(0, self.crop - h), max(0, self.crop - w)
        h, w = h + ph, w + pw
        if self.target_crop and rng.random() < self.target_crop and mask.any():
            ys, xs = np.nonzero(mask[:, ::-1] if flip else mask)
            k = int(rng.integers(0, len(ys)))
            ty = min(h - ph - 1, int((ys[k] + 0.5) * (h - ph) / mask.shape[0]))
            tx = min(w - pw - 1, int((xs[k] + 0.5) * (w - pw) / mask.shape[1]))
            y = int(rng.integers(max(0, ty - self.crop + 1), min(ty, h - self.crop) + 1))
            x = int(rng.integers(max(0, tx - self.crop + 1), min(tx, w - self.crop) + 1))
        else:
            y, x = int(rng.integers(0, h - self.crop + 1)), int(rng.integers(0, w - self.crop + 1))
        sigma = float(rng.random()) if self.blur and rng.random() < 0.5 else 0.0
        post = (bool(rng.random() < 0.5), bool(rng.random() < 0.5), bool(rng.random() < 0.5)) if self.dihedral else None
        return Draw(flip, (h - ph, w - pw), (ph, pw), (y, x), sigma if sigma > 0.05 else 0.0, post or (False,) * 3)

    def __call__(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Augment a float32 HxW image (0-255) and its bool mask into ``crop x crop`` float32 arrays."""
        d = self.draw(mask, rng)
        img, msk = image, mask.astype(np.uint8)
        if d.flip:
            img, msk = img[:, ::-1], msk[:, ::-1]
        if d.size != image.shape:
            size = (d.size[1], d.size[0])
            img = cv2.resize(np.ascontiguousarray(img), size, interpolation=cv2.INTER_LINEAR)
            msk = cv2.resize(np.ascontiguousarray(msk), size, interpolation=cv2.INTER_NEAREST)
        if d.pad != (0, 0):
            img = np.pad(img, ((0, d.pad[0]), (0, d.pad[1])))
            msk = np.pad(msk, ((0, d.pad[0]), (0, d.pad[1])))
        (y, x), c = d.corner, self.crop
        img, msk = img[y : y + c, x : x + c], msk[y : y + c, x : x + c]
        if d.sigma:
            img = cv2.GaussianBlur(np.ascontiguousarray(img), (0, 0), d.sigma)
        vflip, hflip, transpose = d.post
        if vflip:
            img, msk = img[::-1], msk[::-1]
        if hflip:
            img, msk = img[:, ::-1], msk[:, ::-1]
        if transpose:
            img, msk = img.T, msk.T
        return np.ascontiguousarray(img, dtype=np.float32), np.ascontiguousarray(msk, dtype=np.float32)


# the augmentation styles a recipe names (``Recipe.augment``); the recipe sets their crop and base
AUGMENTS: dict[str, Augment] = {
    "rescale": Augment(flip=True, blur=True),
    "patch": Augment(base=0, flip=False, blur=False, dihedral=True, target_crop=0.5),
}


@dataclass(frozen=True)
class Draw:
    """One sample's augmentation: flip, resized ``size`` (H, W), bottom/right ``pad``, crop ``corner``
    (y, x), blur ``sigma`` (0: none) and the ``post``-crop (vertical flip, horizontal flip, transpose)."""

    flip: bool
    size: tuple[int, int]
    pad: tuple[int, int]
    corner: tuple[int, int]
    sigma: float
    post: tuple[bool, bool, bool] = (False, False, False)


class TrainingData:
    """The training and validation images of one dataset, loaded once and kept in memory.

    Parameters
    ----------
    dataset : dataset name (``synth``, ``nudt-sirst``, ...).
    data_root : dataset root (see :func:`benchmark.datasets.get_dataset`).
    val_fraction : share of the training split held out for model selection.
    limit : use only the first ``limit`` training ids (before the split), for short runs.
    seed : seed of the validation carve.
    split : the split trained on (default ``train``; e.g. ``basicirstd-train`` for BasicIRSTD's own SIRST list).
    """

    def __init__(
        self,
        dataset: str,
        data_root: str | None = None,
        val_fraction: float = 0.1,
        limit: int | None = None,
        seed: int = 0,
        split: str = "train",
    ) -> None:
        if limit is not None and limit < 2:
            raise ValueError(f"parameter 'limit' must be >= 2, got {limit!r}")
        self.source: Dataset = get_dataset(dataset, data_root, split)
        ids = self.source.ids[:limit] if limit else list(self.source.ids)
        self.train_ids, self.val_ids = split_train_val(ids, val_fraction, seed)
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def load(self, sample_id: str) -> tuple[np.ndarray, np.ndarray]:
        """``(float32 HxW image 0-255, bool HxW mask)`` of a training-split id (cached)."""
        if sample_id not in self._cache:
            self._cache[sample_id] = self.source.load(sample_id)
        return self._cache[sample_id]

    def statistics(self) -> tuple[float, float]:
        """``(mean, std)`` of the training images in 0-255 units, BasicIRSTD's way: the averages of the
        per-image means and standard deviations."""
        stats = np.array([(img.mean(), img.std()) for img, _ in map(self.load, self.train_ids)], dtype=np.float64)
        return float(stats[:, 0].mean()), float(stats[:, 1].mean())

    def image_hashes(self) -> list[str]:
        """The sorted content hashes (:func:`benchmark.leakage.short_hash`) of every image the model sees:
        the training ids and the validation ids (they select the weights)."""
        return sorted({short_hash(image_hash(self.load(i)[0])) for i in [*self.train_ids, *self.val_ids]})

    def batch(
        self, ids: Sequence[str], augment: Augment, seed: int, epoch: int, start: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """An augmented batch ``(N, crop, crop)`` images and masks; sample ``k`` draws from
        ``default_rng([seed, epoch, start + k])``."""
        images, masks = [], []
        for k, sample_id in enumerate(ids):
            rng = np.random.default_rng([seed, epoch, start + k])
            img, msk = augment(*self.load(sample_id), rng)
            images.append(img)
            masks.append(msk)
        return np.stack(images), np.stack(masks)
