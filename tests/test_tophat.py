"""Top-Hat against hand-built images."""

import numpy as np
import pytest

from methods import create


def gaussian_target(shape=(64, 64), centre=(30, 40), background=None):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = 50 * np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / 2.0)
    return (img + (background if background is not None else 0)).astype(np.float32)


@pytest.mark.parametrize("background", ["flat", "gradient"])
def test_peaks_at_the_target(background):
    yy, xx = np.mgrid[:64, :64]
    bg = np.full((64, 64), 80.0) if background == "flat" else 40 + 1.5 * xx + 0.5 * yy
    score = create("tophat")(gaussian_target(background=bg))
    assert np.unravel_index(score.argmax(), score.shape) == (30, 40)
    assert score.dtype == np.float32 and score.min() >= 0


def test_removes_structures_larger_than_the_element():
    img = np.zeros((40, 40), np.float32)
    img[10:30, 10:30] = 100  # a 20x20 plateau survives the opening: no response
    assert create("tophat", size=5)(img).max() == 0


def test_finite_on_degenerate_inputs_and_validates_parameters():
    for img in (np.zeros((3, 3)), np.full((8, 8), 7.0), np.full((2, 2), 65535.0, dtype=np.float64)):
        assert np.isfinite(create("tophat")(img)).all()
    with pytest.raises(ValueError, match="'size' must be an integer >= 1"):
        create("tophat", size=0)(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="shape must be 'square' or 'disk'"):
        create("tophat", shape="hexagon")(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="2-D grey image"):
        create("tophat")(np.zeros((4, 4, 3)))
