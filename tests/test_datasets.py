"""Dataset layouts, image and mask conventions, and bad inputs (fixtures built in code)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.datasets import DatasetNotFoundError, SampleError, get_dataset, read_image, read_mask
from benchmark.datasets.synth import SynthDataset


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def make_public_sirst(root: Path, ids=("Misc_1", "Misc_2")) -> Path:
    folder = root / "SIRST"
    for i, sample in enumerate(ids):
        save(folder / "images" / f"{sample}.png", np.full((20, 30, 3), 40 + i, np.uint8))
        mask = np.zeros((20, 30), np.uint8)
        mask[5:8, 5:8] = 255
        save(folder / "masks" / f"{sample}_pixels0.png", mask)
    (folder / "idx_427").mkdir()
    (folder / "idx_427" / "test.txt").write_text("\n".join(ids) + "\n")
    return folder


def test_public_and_basicirstd_layouts_and_alias(tmp_path):
    make_public_sirst(tmp_path)
    ds = get_dataset("nuaa-sirst", tmp_path)
    assert ds.name == "sirst" and ds.layout == "public" and ds.ids == ["Misc_1", "Misc_2"]
    image, gt = ds.load("Misc_2")
    assert image.dtype == np.float32 and image[0, 0] == pytest.approx(41) and gt.sum() == 9

    folder = tmp_path / "b" / "NUDT-SIRST"
    save(folder / "images" / "000001.png", np.zeros((16, 16), np.uint8))
    save(folder / "masks" / "000001.png", np.eye(16, dtype=np.uint8))  # a 0/1 mask
    (folder / "img_idx").mkdir()
    (folder / "img_idx" / "test_NUDT-SIRST.txt").write_text("000001\n")
    ds = get_dataset("nudt-sirst", tmp_path / "b")
    assert ds.layout == "basicirstd" and ds.load("000001")[1].sum() == 16


def test_missing_dataset_message_says_where_and_what(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        get_dataset("irstd1k", tmp_path)
    text = str(info.value)
    assert str(tmp_path) in text and "IRSTD1k_Img" in text and "img_idx/test_IRSTD-1K.txt" in text
    with pytest.raises(KeyError, match="Available: synth"):
        get_dataset("nope")
    with pytest.raises(ValueError, match="Unknown split"):
        get_dataset("synth", split="val")


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "I;16"])
def test_image_modes_become_float32_grey_0_255(tmp_path, mode):
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    if mode == "I;16":
        path = save(tmp_path / "x.png", grey.astype(np.uint16) * 257)  # 16-bit PNG
    else:
        path = tmp_path / "x.png"
        Image.fromarray(grey, "L").convert(mode).save(path)
    image = read_image(path)
    assert image.dtype == np.float32 and image.shape == (8, 8)
    np.testing.assert_allclose(image, grey, atol=1.0)


def test_mask_rule_for_0_255_0_1_rgb_and_grey_edges(tmp_path):
    m = np.zeros((4, 4), np.uint8)
    m[0, 0], m[0, 1], m[0, 2] = 255, 128, 127  # grey anti-aliased edges: > 127 is target
    assert read_mask(save(tmp_path / "a.png", m)).sum() == 2
    assert read_mask(save(tmp_path / "b.png", (m > 0).astype(np.uint8))).sum() == 3  # 0/1 mask
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[1, 1] = (255, 255, 255)
    assert read_mask(save(tmp_path / "c.png", rgb)).sum() == 1
    assert read_mask(save(tmp_path / "d.png", np.zeros((4, 4), np.uint8))).sum() == 0  # empty mask


def test_bad_inputs_name_the_file(tmp_path):
    folder = make_public_sirst(tmp_path, ids=("Misc_1", "Misc_2", "Misc_3"))
    (folder / "images" / "Misc_1.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")  # corrupt PNG
    (folder / "masks" / "Misc_2_pixels0.png").unlink()  # missing mask
    save(folder / "masks" / "Misc_3_pixels0.png", np.zeros((40, 60), np.uint8))  # size mismatch
    ds = get_dataset("sirst", tmp_path)
    with pytest.raises(SampleError, match=r"Misc_1\.png: cannot read image"):
        ds.load("Misc_1")
    with pytest.raises(SampleError, match=r"Misc_2_pixels0\.png: mask file is missing"):
        ds.load("Misc_2")
    with pytest.raises(SampleError, match=r"image .*Misc_3\.png is 30x20 .* mask .*Misc_3_pixels0\.png is 60x40"):
        ds.load("Misc_3")


def test_real_layouts_and_the_sirst_size_mismatch(shared_data):
    assert len(get_dataset("irstd1k", shared_data)) == 201
    assert len(get_dataset("nudt-sirst", shared_data)) == 664
    sirst = get_dataset("sirst", shared_data, "trainvaltest")
    assert len(sirst) == 427
    for load in (sirst.load, sirst.load_mask):  # the mask alone is refused too: its image has another size
        with pytest.raises(SampleError, match="Misc_111.png is 325x220.*592x400"):
            load("Misc_111")
    assert sirst.load_mask("Misc_110").shape == sirst.load_image("Misc_110").shape


def test_synth_is_deterministic_and_covers_every_scale_bucket():
    from scipy import ndimage

    a, b = SynthDataset("test"), SynthDataset("test")
    assert len(a) == 24 and len(SynthDataset("train")) == 200
    img1, gt1 = a.load(a.ids[3])
    img2, gt2 = b.load(b.ids[3])
    assert np.array_equal(img1, img2) and np.array_equal(gt1, gt2)
    assert img1.dtype == np.float32 and img1.min() >= 0 and img1.max() <= 255
    areas = []
    for i in a.ids[:12]:
        labels, n = ndimage.label(a.load(i)[1], structure=np.ones((3, 3)))
        areas += list(np.bincount(labels.ravel())[1:])
    counts = np.histogram(areas, [0, 10.5, 40.5, 1e9])[0]
    assert (counts > 0).all()


def test_broken_input_corpus_gives_specific_messages(tmp_path):
    folder = make_public_sirst(tmp_path, ids=("Misc_1", "Misc_2", "Misc_3", "Misc_4"))
    (folder / "images" / "Misc_1.png").write_bytes(b"")  # zero-byte file
    (folder / "images" / "Misc_2.png").write_text("not an image at all\n")  # non-image file
    (folder / "images" / "Misc_3.png").unlink()
    nan = np.full((20, 30), np.nan, np.float32)
    Image.fromarray(nan).save(folder / "images" / "Misc_3.tif")  # float image with NaN
    (folder / "idx_427" / "test.txt").write_text("Misc_1\nMisc_2\nMisc_3\nMisc_4\nMisc_404\n")
    ds = get_dataset("sirst", tmp_path)
    expected = {
        "Misc_1": r"Misc_1\.png: cannot read image",
        "Misc_2": r"Misc_2\.png: cannot read image",
        "Misc_3": r"Misc_3\.tif: image holds NaN",
        "Misc_404": r"Misc_404\.png: image file is missing",
    }
    for sample, message in expected.items():
        with pytest.raises(SampleError, match=message):
            ds.load(sample)
    assert ds.load("Misc_4")[1].sum() == 9  # the good image still loads
    (folder / "idx_427" / "test.txt").write_text("\n\n")
    with pytest.raises(DatasetNotFoundError, match="test.txt: split file lists no images"):
        get_dataset("sirst", tmp_path)
