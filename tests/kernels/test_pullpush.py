"""Pull-push inpainting (kernels/pullpush.py): exact cases, and quality against Telea."""
import cv2
import numpy as np
import pytest

from attention_swap_reid.kernels import dilate, inpaint
from attention_swap_reid.kernels.pullpush import _filter_half, _upsample2x, _FLOAT_WEIGHTS


def test_constant_image_fills_with_the_constant():
    images = np.full((2, 30, 17, 3), (12, 200, 77), np.uint8)
    holes = np.zeros((2, 30, 17), np.uint8)
    holes[0, 5:25, 3:15] = 1
    holes[1, :, :16] = 1  # only the last column is known
    out = inpaint(images.copy(), holes)
    assert np.array_equal(out, images)


def test_one_known_pixel_colours_everything():
    images = np.zeros((1, 9, 7, 3), np.uint8)
    images[0, 4, 3] = (50, 100, 150)
    holes = np.ones((1, 9, 7), np.uint8)
    holes[0, 4, 3] = 0
    assert (inpaint(images, holes) == (50, 100, 150)).all()


def test_no_known_pixel_gives_black():
    images = np.full((1, 8, 8, 3), 90, np.uint8)
    assert not inpaint(images, np.ones((1, 8, 8), np.uint8)).any()


@pytest.mark.parametrize("size", [(1, 1), (1, 5), (7, 1), (2, 3), (31, 17), (64, 32)])
def test_any_size(size):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3,) + size + (3,), dtype=np.uint8)
    holes = (rng.random((3,) + size) < 0.5).astype(np.uint8)
    out = inpaint(images, holes)
    assert out.shape == images.shape and np.array_equal(out[holes == 0], images[holes == 0])


def test_fill_is_a_smooth_blend_of_the_border():
    images = np.zeros((1, 32, 32, 3), np.uint8)
    images[0, :, :16] = 40
    images[0, :, 16:] = 200
    holes = np.zeros((1, 32, 32), np.uint8)
    holes[0, 8:24, 8:24] = 1
    row = inpaint(images, holes)[0, 16, 8:24, 0].astype(int)
    assert np.all(np.diff(row) >= 0) and row[0] < 100 < row[-1]  # monotone from dark to bright


def test_filter_and_upsampling_against_cv2():
    rng = np.random.default_rng(1)
    a = rng.random((1, 2, 11, 9), dtype=np.float32)
    full = cv2.filter2D(a[0, 0], -1, np.outer([1, 3, 3, 1], [1, 3, 3, 1]).astype(np.float32), anchor=(1, 1),
                        borderType=cv2.BORDER_CONSTANT)
    pulled = _filter_half(_filter_half(a, axis=3), axis=2)
    np.testing.assert_allclose(pulled[0, 0], full[::2, ::2], rtol=1e-6)
    up = _upsample2x(a, _FLOAT_WEIGHTS)
    np.testing.assert_allclose(up[0, 1], cv2.resize(a[0, 1], (18, 22), interpolation=cv2.INTER_LINEAR), atol=1e-6)


def psnr(a, b, where):
    err = (a.astype(np.float64) - b)[where != 0]
    return 10 * np.log10(255.0 ** 2 / np.mean(err ** 2))


def test_quality_close_to_telea_on_known_backgrounds(make_batch):
    """Synthetic scenes: the true background behind each person is known."""
    data = make_batch(16, 128, 64, seed=6)
    holes = dilate(data["masks"], 15)
    scores = {}
    for method in ("pullpush", "telea"):
        out = inpaint(data["images"], holes, method)
        assert np.array_equal(out[holes == 0], data["images"][holes == 0])
        scores[method] = np.mean([psnr(o, bg, h) for o, bg, h in zip(out, data["backgrounds"], holes)])
    print(f"PSNR inside holes: pullpush {scores['pullpush']:.2f} dB, telea {scores['telea']:.2f} dB")
    assert scores["pullpush"] >= scores["telea"] - 0.5
