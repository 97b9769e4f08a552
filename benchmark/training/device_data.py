"""Training batches made on the training device: the images resident there, augmented there.

On a GPU, copying and augmenting every batch on the CPU leaves the accelerator waiting; :class:`DeviceBatches`
keeps the training images and masks as tensors on the device and applies :class:`~benchmark.training.data.Augment`'s
draws (the same random choices from the same ``(seed, epoch, position)`` generators) with torch operations:
flip, bilinear resize of the image and nearest resize of the mask (OpenCV's ``INTER_LINEAR`` and
``INTER_NEAREST`` sampling), zero padding, crop, the Gaussian blur OpenCV's ``GaussianBlur`` computes for
float images (kernel side ``round(8 sigma + 1) | 1``, reflect-101 border), then the post-crop flips and
transpose.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.training.data import Augment, Draw, TrainingData

__all__ = ["DeviceBatches", "gaussian_kernel"]


def gaussian_kernel(sigma: float, device: torch.device) -> torch.Tensor:
    """OpenCV's 1-D Gaussian kernel for a float image and ``ksize = 0``: side ``round(8 sigma + 1) | 1``,
    ``exp(-x^2 / (2 sigma^2))`` normalised to sum 1."""
    side = int(math.floor(sigma * 8 + 1 + 0.5)) | 1
    x = torch.arange(side, dtype=torch.float64, device=device) - (side - 1) / 2
    k = torch.exp(-(x**2) / (2 * sigma * sigma))
    return (k / k.sum()).float()


def _blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a ``(1, 1, H, W)`` image, reflect-101 border (torch's ``reflect``)."""
    k = gaussian_kernel(sigma, img.device)
    r = len(k) // 2
    for weight, pad in ((k.view(1, 1, 1, -1), (r, r, 0, 0)), (k.view(1, 1, -1, 1), (0, 0, r, r))):
        if r >= img.shape[-1] or r >= img.shape[-2]:  # reflection needs a wider image: repeat the edge instead
            img = F.conv2d(F.pad(img, pad, mode="replicate"), weight)
        else:
            img = F.conv2d(F.pad(img, pad, mode="reflect"), weight)
    return img


class DeviceBatches:
    """The training images of ``data`` as tensors on ``device``, and their augmented batches made there.

    ``batch`` returns the batches :meth:`TrainingData.batch` returns for the same arguments (equal masks;
    images equal up to float rounding of the resize and blur), as ``(N, crop, crop)`` float32 tensors.
    """

    def __init__(self, data: TrainingData, device: torch.device) -> None:
        self.device = device
        self._images: dict[str, torch.Tensor] = {}
        self._masks: dict[str, torch.Tensor] = {}
        self._data = data  # its cached masks are what the draws read (shape, target pixels)
        for sample_id in data.train_ids:
            image, mask = data.load(sample_id)
            self._images[sample_id] = torch.from_numpy(np.ascontiguousarray(image, np.float32)).to(device)[None, None]
            self._masks[sample_id] = torch.from_numpy(mask.astype(np.float32)).to(device)[None, None]

    def _apply(self, sample_id: str, d: Draw, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
        img, msk = self._images[sample_id], self._masks[sample_id]
        if d.flip:
            img, msk = img.flip(-1), msk.flip(-1)
        if d.size != tuple(img.shape[-2:]):
            img = F.interpolate(img, size=d.size, mode="bilinear", align_corners=False)
            msk = F.interpolate(msk, size=d.size, mode="nearest")
        if d.pad != (0, 0):
            img, msk = (F.pad(t, (0, d.pad[1], 0, d.pad[0])) for t in (img, msk))
        (y, x), c = d.corner, crop
        img, msk = img[..., y : y + c, x : x + c], msk[..., y : y + c, x : x + c]
        if d.sigma:
            img = _blur(img, d.sigma)
        vflip, hflip, transpose = d.post
        for flipped, dim in ((vflip, -2), (hflip, -1)):
            if flipped:
                img, msk = img.flip(dim), msk.flip(dim)
        if transpose:
            img, msk = img.transpose(-1, -2), msk.transpose(-1, -2)
        return img[0, 0], msk[0, 0]

    def batch(
        self, ids: Sequence[str], augment: Augment, seed: int, epoch: int, start: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """An augmented batch ``(N, crop, crop)`` of images and masks on the device; sample ``k`` draws from
        ``default_rng([seed, epoch, start + k])``, as :meth:`TrainingData.batch`."""
        pairs = []
        for k, sample_id in enumerate(ids):
            draw = augment.draw(self._data.load(sample_id)[1], np.random.default_rng([seed, epoch, start + k]))
            pairs.append(self._apply(sample_id, draw, augment.crop))
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
