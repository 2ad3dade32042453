"""dali_pipes.draws: the BoT parameters of a batch, drawn as arrays, against BoT's rules."""
import numpy as np
import pytest

from attention_swap_reid.dali_pipes.draws import draw_bot_params


def draw(batch=4096, size=(256, 128), flip=0.5, pad=10, erasing=0.5, step=0):
    return draw_bot_params(batch, size, flip=flip, pad=pad, erasing=erasing, seed=3, epoch=1, shard=0, step=step)


def test_shapes_and_dtypes():
    p = draw(batch=7)
    assert p.flip.shape == (7,) and p.flip.dtype == np.int32
    for a in (p.crop_anchor, p.erase_anchor, p.erase_shape):
        assert a.shape == (7, 2) and a.dtype == np.float32


def test_flip_and_crop_follow_their_probability_and_range():
    p = draw(pad=10)
    assert set(np.unique(p.flip)) == {0, 1} and abs(p.flip.mean() - 0.5) < 0.03
    crop = p.crop_anchor
    assert np.array_equal(crop, np.round(crop)) and crop.min() == -10 and crop.max() == 10
    assert set(np.unique(draw(flip=0.0).flip)) == {0} and set(np.unique(draw(flip=1.0).flip)) == {1}
    assert not draw(pad=0).crop_anchor.any()


def test_erased_rectangles_follow_bot_rules():
    height, width = 256, 128
    p = draw(size=(height, width))
    erased = p.erase_shape[:, 0] > 0
    assert abs(erased.mean() - 0.5) < 0.03
    h, w = p.erase_shape[erased, 0], p.erase_shape[erased, 1]
    y, x = p.erase_anchor[erased, 0], p.erase_anchor[erased, 1]
    assert (h > 0).all() and (h < height).all() and (w > 0).all() and (w < width).all()
    assert (y >= 0).all() and (y + h <= height).all() and (x >= 0).all() and (x + w <= width).all()
    area = h * w / (height * width)
    assert area.min() > 0.02 * 0.9 and area.max() < 0.4 * 1.1  # 2-40 % of the image, up to rounding
    aspect = h / w
    assert aspect.min() > 0.3 * 0.9 and aspect.max() < (1 / 0.3) * 1.1
    # anchors spread over every place the rectangle fits
    assert y.min() == 0 and x.min() == 0 and (y + h).max() == height and (x + w).max() == width
    assert not p.erase_anchor[~erased].any() and not p.erase_shape[~erased].any()


def test_no_erasing_at_zero_and_none_where_nothing_fits():
    assert not draw(erasing=0.0).erase_shape.any()
    assert not draw(size=(1, 1), erasing=1.0).erase_shape.any()  # no rectangle of 0 < h < 1


@pytest.mark.parametrize("change", [dict(step=1), dict(erasing=0.4)])
def test_same_key_same_draw_other_key_other_draw(change):
    a, b = draw(batch=64), draw(batch=64)
    for name in ("flip", "crop_anchor", "erase_anchor", "erase_shape"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    c = draw(batch=64, **change)
    assert not np.array_equal(a.erase_shape, c.erase_shape)
