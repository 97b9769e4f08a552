"""Faulty dataset folders: repeated split ids, file-name case, and images above the pixel cap (built in tmp_path)."""

from __future__ import annotations

import os
import pickle
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.datasets import (
    DEFAULT_MAX_PIXELS,
    DatasetNotFoundError,
    SampleError,
    SplitFileError,
    get_dataset,
    read_image,
    read_mask,
)
from benchmark.datasets.imageio import image_shape


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def sirst_tree(root: Path, ids: tuple[str, ...] = ("Misc_1", "Misc_2"), split: str | None = None) -> Path:
    """A public-layout SIRST folder: 20x30 images of grey ``40 + i``, masks with a 3x3 target."""
    folder = root / "SIRST"
    mask = np.zeros((20, 30), np.uint8)
    mask[5:8, 5:8] = 255
    for i, sample in enumerate(ids):
        save(folder / "images" / f"{sample}.png", np.full((20, 30), 40 + i, np.uint8))
        save(folder / "masks" / f"{sample}_pixels0.png", mask)
    (folder / "idx_427").mkdir()
    (folder / "idx_427" / "test.txt").write_text(split if split is not None else "\n".join(ids) + "\n")
    return folder


def blank_png(path: Path, width: int, height: int) -> Path:
    """Write an all-black 1-bit greyscale PNG without holding its pixels in memory (a few hundred KB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row * 1000) for _ in range(height // 1000))
    idat += packer.compress(row * (height % 1000)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def case_sensitive(folder: Path) -> bool:
    probe = folder / "Case_Probe"
    probe.write_text("")
    try:
        return not (folder / "case_probe").exists()
    finally:
        probe.unlink()


# -- split files -------------------------------------------------------------------------------------------------


def test_repeated_split_id_names_file_line_id_and_first_line(tmp_path):
    folder = sirst_tree(tmp_path, ("Misc_1", "Misc_2", "Misc_3"), split="Misc_1\nMisc_2\n\nMisc_3\nMisc_2\n")
    with pytest.raises(SplitFileError) as info:
        get_dataset("sirst", tmp_path)
    assert isinstance(info.value, DatasetNotFoundError)
    split_file = folder / "idx_427" / "test.txt"
    assert str(info.value) == (
        f"{split_file}: line 5 repeats id 'Misc_2' (first on line 2); each image may be listed once"
    )


@pytest.mark.parametrize(
    "first, second", [("Misc_1.png", "Misc_1"), ("Misc_1", "Misc_1.PNG"), ("Misc_1.bmp", "Misc_1.png")]
)
def test_ids_differing_only_by_image_extension_are_repeats(tmp_path, first, second):
    sirst_tree(tmp_path, ("Misc_1", "Misc_2"), split=f"{first}\nMisc_2\n{second}\n")
    with pytest.raises(SplitFileError, match=r"idx_427/test\.txt: line 3 repeats id 'Misc_1' \(first on line 1\)"):
        get_dataset("sirst", tmp_path)


def test_split_file_with_distinct_ids_keeps_their_order(tmp_path):
    sirst_tree(tmp_path, ("Misc_2", "Misc_1"), split="Misc_2.png\n\n  Misc_1  \n")
    assert get_dataset("sirst", tmp_path).ids == ["Misc_2", "Misc_1"]


# -- file-name case ----------------------------------------------------------------------------------------------


def test_upper_case_extensions_and_mask_names_are_found_and_loaded(tmp_path):
    folder = sirst_tree(tmp_path, ("Misc_1", "Misc_2"))
    (folder / "images" / "Misc_1.png").rename(folder / "images" / "Misc_1.PNG")
    (folder / "masks" / "Misc_1_pixels0.png").rename(folder / "masks" / "Misc_1_pixels0.PNG")
    (folder / "masks" / "Misc_2_pixels0.png").rename(folder / "masks" / "Misc_2_Pixels0.png")
    ds = get_dataset("sirst", tmp_path)
    assert ds.image_path("Misc_1") == folder / "images" / "Misc_1.PNG"
    assert ds.mask_path("Misc_1") == folder / "masks" / "Misc_1_pixels0.PNG"
    assert ds.mask_path("Misc_2") == folder / "masks" / "Misc_2_Pixels0.png"
    image, gt = ds.load("Misc_1")
    assert image[0, 0] == 40 and gt.sum() == 9
    assert ds.load("Misc_2")[1].sum() == 9


def test_exact_case_match_is_preferred(tmp_path):
    folder = sirst_tree(tmp_path, ("Misc_1",))
    if not case_sensitive(folder / "images"):
        pytest.skip("file system ignores case")
    save(folder / "images" / "Misc_1.PNG", np.full((20, 30), 99, np.uint8))
    ds = get_dataset("sirst", tmp_path)
    assert ds.image_path("Misc_1") == folder / "images" / "Misc_1.png" and ds.load("Misc_1")[0][0, 0] == 40
    (folder / "images" / "Misc_1.png").unlink()
    save(folder / "images" / "Misc_1.bmp", np.full((20, 30), 77, np.uint8))
    ds = get_dataset("sirst", tmp_path)  # an exact .bmp wins over a .PNG that matches only up to case
    assert ds.image_path("Misc_1") == folder / "images" / "Misc_1.bmp" and ds.load("Misc_1")[0][0, 0] == 77


def test_missing_files_still_name_the_expected_path(tmp_path):
    folder = sirst_tree(tmp_path, ("Misc_1", "Misc_2"), split="Misc_1\nMisc_2\nMisc_9\n")
    (folder / "masks" / "Misc_2_pixels0.png").unlink()
    ds = get_dataset("sirst", tmp_path)
    with pytest.raises(SampleError, match=r"images/Misc_9\.png: image file is missing \(id 'Misc_9'"):
        ds.load("Misc_9")
    with pytest.raises(SampleError, match=r"masks/Misc_2_pixels0\.png: mask file is missing"):
        ds.load("Misc_2")


def test_each_folder_is_listed_once_and_the_dataset_pickles(tmp_path, monkeypatch):
    folder = sirst_tree(tmp_path, ("Misc_1", "Misc_2", "Misc_3"))
    (folder / "images" / "Misc_3.png").rename(folder / "images" / "Misc_3.PNG")
    listed: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path):
        listed.append(os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    ds = get_dataset("sirst", tmp_path)
    for sample in ds.ids:
        ds.load(sample)
    assert sorted(listed) == [str(folder / "images"), str(folder / "masks")]
    clone = pickle.loads(pickle.dumps(ds))
    assert clone.ids == ds.ids and clone.load("Misc_3")[0][0, 0] == 42


# -- pixel cap ---------------------------------------------------------------------------------------------------


def test_huge_png_is_rejected_from_its_header_fast(tmp_path):
    path = blank_png(tmp_path / "big.png", 20000, 20000)
    assert path.stat().st_size < 1_000_000
    start = time.perf_counter()
    with pytest.raises(SampleError) as info:
        read_image(path)
    assert time.perf_counter() - start < 2.0
    assert str(info.value) == (
        f"{path}: image is 20000x20000 (400,000,000 pixels), above the pixel cap of "
        f"{DEFAULT_MAX_PIXELS:,} (raise it with --max-pixels)"
    )
    assert "16,777,216" in str(info.value)


def test_huge_mask_in_a_dataset_is_a_sample_error(tmp_path):
    folder = sirst_tree(tmp_path, ("Misc_1", "Misc_2"))
    blank_png(folder / "masks" / "Misc_2_pixels0.png", 20000, 20000)
    ds = get_dataset("sirst", tmp_path)
    assert ds.describe()["max_pixels"] == DEFAULT_MAX_PIXELS
    start = time.perf_counter()
    with pytest.raises(SampleError, match=r"Misc_2_pixels0\.png: mask is 20000x20000 .* pixel cap of 16,777,216"):
        ds.load("Misc_2")
    assert time.perf_counter() - start < 2.0
    assert ds.load("Misc_1")[1].sum() == 9  # the other sample is unaffected


def test_cap_rejects_above_and_accepts_at_or_below(tmp_path):
    path = save(tmp_path / "x.png", np.zeros((20, 20), np.uint8))
    with pytest.raises(SampleError, match=r"x\.png: image is 20x20 \(400 pixels\), above the pixel cap of 100 "):
        read_image(path, max_pixels=100)
    with pytest.raises(SampleError, match=r"x\.png: mask is 20x20 .* cap of 399 "):
        read_mask(path, max_pixels=399)
    with pytest.raises(SampleError, match=r"x\.png: image is 20x20 .* cap of 399 "):
        image_shape(path, max_pixels=399)
    for cap in (400, 1000, None, 0):
        assert read_image(path, max_pixels=cap).shape == (20, 20) == image_shape(path, max_pixels=cap)
        assert read_mask(path, max_pixels=cap).shape == (20, 20)


def test_dataset_passes_its_cap_to_every_read(tmp_path):
    sirst_tree(tmp_path, ("Misc_1",))
    ds = get_dataset("sirst", tmp_path, max_pixels=100)
    assert ds.describe()["max_pixels"] == 100
    with pytest.raises(SampleError, match=r"Misc_1\.png: image is 30x20 \(600 pixels\), above the pixel cap of 100"):
        ds.load("Misc_1")
    assert get_dataset("sirst", tmp_path, max_pixels=600).load("Misc_1")[0].shape == (20, 30)
    assert get_dataset("sirst", tmp_path, max_pixels=0).describe()["max_pixels"] is None
    assert len(get_dataset("synth", max_pixels=1).load("test_0000")[0]) == 256  # synth ignores the cap
    with pytest.raises(ValueError, match="max_pixels must be >= 0"):
        get_dataset("sirst", tmp_path, max_pixels=-1)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_cap_above_pils_own_limit_decides(tmp_path, monkeypatch, suffix):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # PIL would refuse a 20x20 image (> 2 x 100 pixels)
    path = tmp_path / f"x{suffix}"
    Image.fromarray(np.full((20, 20), 7, np.uint8)).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning either
        assert read_image(path, max_pixels=1000)[0, 0] == 7
        assert read_mask(path, max_pixels=None).shape == (20, 20)
    with pytest.raises(SampleError, match="above the pixel cap of 399"):
        read_image(path, max_pixels=399)
    assert Image.MAX_IMAGE_PIXELS == 100  # PIL's limit is restored after each read
