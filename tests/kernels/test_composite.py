"""composite() (kernels/composite.py)."""
import numpy as np
import pytest

from attention_swap_reid.kernels import composite


def test_where_roi_keeps_the_image():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 12, 7, 3), dtype=np.uint8)
    backgrounds = rng.integers(0, 256, (5, 12, 7, 3), dtype=np.uint8)
    rois = (rng.random((5, 12, 7)) < 0.4).astype(np.uint8) * 3  # any non-zero value keeps the image
    out = composite(images, rois, backgrounds)
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert np.array_equal(out, np.where(rois[..., None] != 0, images, backgrounds))


def test_empty_batch_and_bad_shapes():
    zeros = np.zeros((0, 3, 3, 3), np.uint8)
    assert composite(zeros, np.zeros((0, 3, 3), np.uint8), zeros).shape == (0, 3, 3, 3)
    with pytest.raises(ValueError, match="rois"):
        composite(np.zeros((1, 3, 3, 3), np.uint8), np.zeros((1, 3, 4), np.uint8), np.zeros((1, 3, 3, 3), np.uint8))
