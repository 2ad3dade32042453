"""Square dilation (kernels/dilate.py): bit-exact with cv2.dilate, borders included."""
import cv2
import numpy as np
import pytest

from attention_swap_reid.kernels import dilate


def random_masks(seed=0, shape=(6, 45, 27), density=0.02):
    rng = np.random.default_rng(seed)
    masks = (rng.random(shape) < density).astype(np.uint8)
    masks[0, 0, 0] = masks[1, -1, -1] = masks[2, 0, -1] = 1  # corners
    masks[3, :, 0] = masks[4, -1, :] = 1  # whole border lines
    return masks


def test_31_equals_the_papers_7x7_five_times():
    masks = random_masks(shape=(6, 128, 64), density=0.003)
    expected = np.stack([cv2.dilate(m, np.ones((7, 7), np.uint8), iterations=5) for m in masks])
    assert np.array_equal(dilate(masks, 31), expected)


@pytest.mark.parametrize("size", [1, 3, 5, 9, 15, 17, 31, 33, 63, 101])
def test_equals_one_cv2_square(size):
    masks = random_masks(seed=size)
    expected = np.stack([cv2.dilate(m, np.ones((size, size), np.uint8)) for m in masks])
    got = dilate(masks, size)
    assert got.dtype == np.uint8 and got.shape == masks.shape
    assert np.array_equal(got, expected)


def test_grey_values_too():
    images = np.random.default_rng(1).integers(0, 256, (3, 20, 13), dtype=np.uint8)
    expected = np.stack([cv2.dilate(m, np.ones((7, 7), np.uint8)) for m in images])
    assert np.array_equal(dilate(images, 7), expected)


def test_input_unchanged_and_empty_batch():
    masks = random_masks()
    before = masks.copy()
    dilate(masks, 5)
    assert np.array_equal(masks, before)
    assert dilate(np.zeros((0, 4, 4), np.uint8), 3).shape == (0, 4, 4)


@pytest.mark.parametrize("size", [0, 2, -3, 3.0, True])
def test_bad_size(size):
    with pytest.raises(ValueError, match="odd integer >= 1"):
        dilate(random_masks(), size)


def test_bad_masks():
    with pytest.raises(ValueError, match=r"\(B, H, W\) uint8"):
        dilate(np.zeros((4, 4), np.uint8), 3)
    with pytest.raises(ValueError, match="bool"):
        dilate(np.zeros((1, 4, 4), bool), 3)
