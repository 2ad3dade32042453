"""inpaint() (kernels/inpaint.py): every method of INPAINTERS, Telea's radius, argument checks."""
import re

import cv2
import numpy as np
import pytest

from attention_swap_reid.kernels import INPAINTERS, inpaint, inpainter_problem
from attention_swap_reid.kernels.inpaint import FILLS


@pytest.fixture
def scene(make_batch):
    data = make_batch(4, 64, 32, seed=7)
    holes = data["masks"].copy()
    holes[3] = 0  # nothing to fill
    return data["images"], holes


@pytest.mark.parametrize("method", list(INPAINTERS))
def test_known_pixels_unchanged_and_shapes(scene, method):
    images, holes = scene
    before = images.copy()
    out = inpaint(images, holes, method)
    assert out.shape == images.shape and out.dtype == np.uint8 and out is not images
    assert np.array_equal(images, before)
    assert np.array_equal(out[holes == 0], images[holes == 0])
    assert np.array_equal(out[3], images[3])


@pytest.mark.parametrize("method", [name for name, inpainter in INPAINTERS.items() if inpainter.fills])
def test_holes_are_filled_from_the_surroundings(scene, method):
    images, holes = scene
    out = inpaint(images, holes, method)
    changed = (out != images).any(axis=3)
    assert changed[holes == 0].sum() == 0 and changed[holes != 0].mean() > 0.9


def test_none_returns_a_copy(scene):
    images, holes = scene
    assert np.array_equal(inpaint(images, holes, "none"), images)


def test_telea_default_radius_is_a_tenth_of_the_hole_width(scene):
    images, holes = scene
    out = inpaint(images, holes, "telea")
    for img, hole, got in zip(images[:3], holes[:3], out[:3]):
        xs = np.nonzero(hole.any(axis=0))[0]
        radius = max(1.0, 0.1 * (xs[-1] - xs[0] + 1))
        assert np.array_equal(got, cv2.inpaint(img, hole, radius, cv2.INPAINT_TELEA))
    radius = np.array([2.0, 5.0, 9.0, 1.0])
    got = inpaint(images, holes, "telea", radius=radius)
    assert np.array_equal(got[2], cv2.inpaint(images[2], holes[2], 9.0, cv2.INPAINT_TELEA))


def test_bad_arguments(scene):
    images, holes = scene
    with pytest.raises(ValueError, match=re.escape(f"method='navier': expected one of {list(INPAINTERS)}")):
        inpaint(images, holes, "navier")
    with pytest.raises(ValueError, match=r"images must be \(B, H, W, 3\) uint8"):
        inpaint(images[..., :2], holes)
    with pytest.raises(ValueError, match=r"holes must be \(4, 64, 32\) uint8"):
        inpaint(images, holes[:, :10])
    with pytest.raises(ValueError, match="holes must be"):
        inpaint(images, holes.astype(bool))


def test_empty_batch():
    assert inpaint(np.zeros((0, 4, 4, 3), np.uint8), np.zeros((0, 4, 4), np.uint8)).shape == (0, 4, 4, 3)


def test_inpainter_problem_names_the_backends():
    assert inpainter_problem("pullpush", "cupy") is None and inpainter_problem("telea", "numpy") is None
    problem = inpainter_problem("telea", "cupy")
    assert problem.startswith("'telea' runs on the numpy backend only; on cupy use ")
    assert all(repr(name) in problem for name, inpainter in INPAINTERS.items() if "cupy" in inpainter.backends)


def test_every_method_that_fills_has_a_fill_function():
    assert set(FILLS) == {name for name, inpainter in INPAINTERS.items() if inpainter.fills}
