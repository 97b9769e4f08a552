"""Max-Median, WSLCM and TLLCM on hand-built images, against per-pixel loop formulations."""

import numpy as np
import pytest

from benchmarks import bench_local_contrast as bench
from methods import create, get_spec

METHODS = ("maxmedian", "wslcm", "tllcm")


def scene(background: str, shape=(72, 80), centre=(37, 45)) -> np.ndarray:
    """A 2-pixel-sigma Gaussian target (peak 60) on a flat, gradient or cluttered 0-255 background."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    target = 60 * np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / 4.0)
    if background == "flat":
        bg = np.full(shape, 80.0)
    elif background == "gradient":
        bg = 40 + 1.2 * xx + 0.6 * yy
    else:  # smooth clutter: broad blobs and a bright vertical ridge far from the target
        rng = np.random.default_rng(1)
        bg = 70 + 15 * np.sin(xx / 9.0) * np.cos(yy / 7.0) + rng.normal(0, 1.5, shape)
        bg[:, 8:11] += 40
    return (bg + target).astype(np.float32)


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("background", ["flat", "gradient", "clutter"])
def test_peaks_at_the_target(name, background):
    score = create(name)(scene(background))
    peak = np.unravel_index(score.argmax(), score.shape)
    assert abs(peak[0] - 37) <= 1 and abs(peak[1] - 45) <= 1
    assert score.dtype == np.float32 and score.shape == (72, 80)


@pytest.mark.parametrize("name", METHODS)
def test_no_response_without_a_target(name):
    for background in ("flat", "gradient"):
        empty = scene(background, centre=(-1000, -1000))
        assert np.allclose(create(name)(empty), 0, atol=1e-3), background


@pytest.mark.parametrize("name", METHODS)
def test_finite_on_degenerate_inputs(name):
    rng = np.random.default_rng(0)
    images = (
        np.zeros((20, 20)),
        np.full((16, 24), 7.0),
        np.zeros((3, 4)),  # smaller than every window
        rng.integers(0, 65536, (40, 40)).astype(np.uint16),  # 16-bit range
        np.full((30, 30), 65535.0),
    )
    for img in images:
        score = create(name)(img)
        assert score.shape == img.shape and np.isfinite(score).all(), img.shape


def test_wslcm_black_surround_is_finite_and_detected():
    img = np.zeros((48, 48), np.float32)
    img[23:26, 23:26] = 200  # target on pure black: background estimate 0 is floored by eps
    score = create("wslcm")(img)
    assert np.isfinite(score).all() and np.unravel_index(score.argmax(), score.shape) == (24, 24)


def test_maxmedian_keeps_lines_in_the_background():
    img = np.full((40, 40), 50.0, np.float32)
    for t in range(40):  # one-pixel lines in all four directions survive one of the four medians
        img[5, t] = img[t, 5] = img[t, t] = img[t, 39 - t] = 150
    assert create("maxmedian")(img).max() == 0


@pytest.mark.parametrize("border", ["replicate", "zero"])
def test_fast_equals_loop_formulation(border):
    img = scene("clutter", shape=(30, 34), centre=(14, 17))
    for name, loop in (("wslcm", bench.loop_wslcm), ("tllcm", bench.loop_tllcm)):
        fast, ref = create(name, border=border)(img), loop(img, border=border)
        assert ref.max() > 0
        np.testing.assert_allclose(fast, ref, rtol=1e-4, atol=1e-4 * ref.max())
    np.testing.assert_allclose(create("maxmedian", size=7)(img), bench.loop_maxmedian(img, size=7), atol=1e-4)


def test_direct_formulation_equals_loop():
    img = scene("clutter", shape=(26, 28), centre=(12, 15))
    np.testing.assert_allclose(bench.direct_wslcm(img, border="zero"), bench.loop_wslcm(img, border="zero"), rtol=1e-9)
    np.testing.assert_allclose(bench.direct_tllcm(img), bench.loop_tllcm(img), rtol=1e-9)
    np.testing.assert_allclose(bench.direct_maxmedian(img, 5), bench.loop_maxmedian(img, 5))


@pytest.mark.parametrize("name", ["wslcm", "tllcm"])
def test_border_only_changes_the_border_strip(name):
    img = scene("clutter")
    rep, zero = create(name, border="replicate")(img), create(name, border="zero")(img)
    reach = 2 * max(get_spec(name).defaults["scales"])  # farthest pixel any cell reads
    np.testing.assert_array_equal(rep[reach:-reach, reach:-reach], zero[reach:-reach, reach:-reach])
    assert not np.array_equal(rep, zero)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("maxmedian", {"size": 0}, "'size' must be an integer >= 1"),
        ("maxmedian", {"size": 4}, "'size' must be odd"),
        ("wslcm", {"scales": (5, 6)}, "odd cell sizes"),
        ("wslcm", {"scales": ()}, "non-empty sequence"),
        ("wslcm", {"scales": (5,), "k": 26}, r"size\*\*2 >= k=26"),
        ("wslcm", {"xi": 0}, "'xi' must be a number > 0"),
        ("wslcm", {"border": "wrap"}, "'border' must be one of"),
        ("tllcm", {"k": 0}, "'k' must be an integer >= 1"),
        ("tllcm", {"eps": -1.0}, "'eps' must be a number > 0"),
        ("tllcm", {"scales": "9"}, "non-empty sequence"),
    ],
)
def test_parameters_validate(name, params, match):
    with pytest.raises(ValueError, match=match):
        create(name, **params)(np.zeros((16, 16)))


def test_inputs_validate_and_registration():
    with pytest.raises(ValueError, match="2-D grey image"):
        create("wslcm")(np.zeros((8, 8, 3)))
    assert {get_spec(n).family for n in METHODS} == {"filtering", "local_contrast"}
    assert get_spec("max-median").name == "maxmedian"
    assert create("tllcm", scales=[9])(scene("flat")).argmax() == np.ravel_multi_index((37, 45), (72, 80))


@pytest.mark.parametrize("name", METHODS)
def test_strided_and_integer_inputs_match_contiguous_float(name):
    img = scene("clutter")
    det = create(name)
    np.testing.assert_array_equal(det(img.T), det(np.ascontiguousarray(img.T)))
    rounded = np.round(img)
    np.testing.assert_array_equal(det(rounded.astype(np.uint8)), det(rounded.astype(np.float32)))
