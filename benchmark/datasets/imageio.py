"""Reading images and ground-truth masks from disk into the engine's conventions.

* Images become float32 grey on a 0-255 scale: RGB/RGBA/LA/P are converted with ITU-R 601 luma
  (0.299 R + 0.587 G + 0.114 B, alpha dropped, palettes expanded), 16-bit and 32-bit integer images are
  scaled by 255 / 65535, float images are kept as they are.
* Masks are binarised by the dataset's encoding (:func:`binarise_mask`): ``half-scale``, target where the grey
  level exceeds half of the mask's full scale (> 127 for 8-bit, > 32767 for 16-bit, >= 0.5 for float masks
  in [0, 1]), so IRSTD-1k's 85 masks with anti-aliased grey edges keep only their > 127 core; ``nonzero``
  (0/1 masks) and ``labels`` (value k marks target k), target where > 0. :func:`detect_encoding` chooses one
  for a whole split from its masks' largest value. Colour masks use the maximum over the colour channels.
* An image or mask with more than ``max_pixels`` pixels (default :data:`DEFAULT_MAX_PIXELS`; ``None`` or 0:
  no cap) is a :class:`SampleError`, found from the file header before any pixel is decoded. PIL's own
  decompression-bomb limit is lifted while irbench reads, so this cap alone decides.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.datasets.errors import SampleError

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
DEFAULT_MAX_PIXELS = 4096 * 4096


@contextmanager
def _pil_limit_lifted() -> Iterator[None]:
    """Disable PIL's decompression-bomb error and warning for the block (irbench applies its own cap)."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _check_pixels(path: Path, what: str, size: tuple[int, int], max_pixels: int | None) -> None:
    """Raise :class:`SampleError` when a ``size`` (W, H) image has more than ``max_pixels`` pixels."""
    width, height = size
    if max_pixels and width * height > max_pixels:
        raise SampleError(
            f"{path}: {what} is {width}x{height} ({width * height:,} pixels), above the pixel cap of "
            f"{max_pixels:,} (raise it with --max-pixels)"
        )


@contextmanager
def _opened(path: Path, what: str, max_pixels: int | None) -> Iterator[Image.Image]:
    """``path`` opened with its pixel count checked from the header (nothing decoded yet); a read error in the
    block is a :class:`SampleError` naming the file."""
    try:
        with _pil_limit_lifted(), Image.open(path) as im:
            _check_pixels(path, what, im.size, max_pixels)
            yield im
    except SampleError:
        raise
    except FileNotFoundError:
        raise SampleError(f"{path}: {what} file is missing") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise SampleError(f"{path}: cannot read {what} ({type(exc).__name__}: {exc})") from None


def _open_array(path: Path, what: str, max_pixels: int | None) -> np.ndarray:
    with _opened(path, what, max_pixels) as im:
        im.load()
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif im.mode == "1":
            im = im.convert("L")
        return np.asarray(im)


def image_shape(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """``(H, W)`` of an image file from its header alone (no pixel decoded); errors as :func:`read_image`."""
    with _opened(Path(path), "image", max_pixels) as im:
        return im.size[1], im.size[0]


def _full_scale(arr: np.ndarray) -> float:
    if arr.dtype == np.uint8 or arr.dtype == bool:
        return 255.0
    if np.issubdtype(arr.dtype, np.integer):
        return 65535.0 if arr.max(initial=0) > 255 else 255.0
    return 1.0 if arr.max(initial=0) <= 1.0 else 255.0


def to_grey(arr: np.ndarray) -> np.ndarray:
    """Collapse HxWxC colour data to HxW float32 luma (alpha dropped); HxW passes through as float32."""
    if arr.ndim == 3:
        channels = arr.shape[2]
        if channels in (2, 4):  # LA / RGBA: drop alpha
            arr = arr[..., : channels - 1]
        if arr.shape[2] == 1:
            arr = arr[..., 0]
        else:
            return (arr[..., :3].astype(np.float32) @ _LUMA).astype(np.float32)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D or colour image, got shape {arr.shape}")
    return arr.astype(np.float32)


def read_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image as a float32 HxW grey array on a 0-255 scale (see the module docstring)."""
    path = Path(path)
    arr = _open_array(path, "image", max_pixels)
    scale = 255.0 / _full_scale(arr) if np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.uint8 else 1.0
    grey = to_grey(arr)
    if scale != 1.0:
        grey *= np.float32(scale)
    if grey.size == 0:
        raise SampleError(f"{path}: image is empty (shape {arr.shape})")
    if not np.isfinite(grey).all():
        raise SampleError(f"{path}: image holds NaN or infinite values")
    return grey


def _mask_grey(arr: np.ndarray) -> np.ndarray:
    """A raw mask array as HxW: colour masks by the maximum over their colour channels."""
    return arr[..., : 3 if arr.shape[2] >= 3 else 1].max(axis=2) if arr.ndim == 3 else arr


def detect_encoding(largest: float, integer: bool) -> str:
    """The encoding of a split whose masks' largest value is ``largest``: ``nonzero`` for integer masks no
    larger than 1, ``labels`` for integer masks that never reach half of the 8-bit (or, above 255, the 16-bit)
    scale, else ``half-scale``."""
    if integer and largest <= 1:
        return "nonzero"
    if integer and largest <= (127 if largest <= 255 else 32767):
        return "labels"
    return "half-scale"


def mask_summary(arr: np.ndarray) -> tuple[float, bool]:
    """``(largest value, integer-valued)`` of a raw mask array, what :func:`detect_encoding` reads."""
    grey = _mask_grey(arr)
    integer = grey.dtype == bool or np.issubdtype(grey.dtype, np.integer) or bool(np.all(grey == np.round(grey)))
    return float(grey.max(initial=0)), integer


def binarise_mask(arr: np.ndarray, encoding: str | None = None) -> np.ndarray:
    """A raw mask array (HxW or HxWxC) as a bool HxW ground truth under ``encoding`` (``None``: the one
    :func:`detect_encoding` gives for this mask alone)."""
    grey = _mask_grey(arr)
    if grey.dtype == bool:
        return grey.copy()
    if encoding is None:
        encoding = detect_encoding(*mask_summary(grey))
    if encoding in ("nonzero", "labels"):
        return grey > 0
    if not np.issubdtype(grey.dtype, np.integer) and grey.max(initial=0) <= 1:
        return grey >= 0.5
    return grey > _full_scale(grey) / 2


def read_raw_mask(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A mask file's pixel values as stored (palettes expanded), for :func:`binarise_mask`."""
    return _open_array(Path(path), "mask", max_pixels)


def read_mask(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS, encoding: str | None = None) -> np.ndarray:
    """Read a ground-truth mask file as a bool HxW array under ``encoding`` (see :func:`binarise_mask`)."""
    return binarise_mask(read_raw_mask(path, max_pixels), encoding)


def check_pair(image_path: Path, image_shape: tuple[int, ...], mask_path: Path, mask_shape: tuple[int, ...]) -> None:
    """Raise :class:`SampleError` naming both files and sizes when an image and its mask differ in size."""
    if image_shape != mask_shape:
        raise SampleError(
            f"size mismatch: image {image_path} is {image_shape[1]}x{image_shape[0]} (WxH) but mask "
            f"{mask_path} is {mask_shape[1]}x{mask_shape[0]}"
        )
