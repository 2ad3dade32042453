"""ROI masks, boxes, areas and normalized masks (kernels/masks.py) against hand-made cases and OpenCV."""
import numpy as np
import pytest

from attention_swap_reid.kernels import CANVAS, ROI_MODES, normalize_masks, roi_masks
from attention_swap_reid.kernels.tables import EMPTY_BOX


def block_mask(h=16, w=8, rows=(2, 10), cols=(1, 5)):
    m = np.zeros((1, h, w), np.uint8)
    m[0, rows[0]:rows[1], cols[0]:cols[1]] = 1
    return m


@pytest.mark.parametrize("roi, split, box, area", [
    ("full", 0.5, [2, 9, 1, 4], 32),
    ("upper", 0.5, [2, 5, 1, 4], 16),   # cut = 2 + floor(0.5 * 8 + 0.5) = 6
    ("lower", 0.5, [6, 9, 1, 4], 16),
    ("upper", 0.3, [2, 3, 1, 4], 8),    # cut = 2 + floor(0.3 * 8 + 0.5) = 4
    ("lower", 0.3, [4, 9, 1, 4], 24),
])
def test_known_boxes_and_areas(roi, split, box, area):
    r = roi_masks(block_mask(), roi, split)
    assert r.masks.dtype == np.uint8 and r.boxes.dtype == np.int32 and r.areas.dtype == np.int32
    assert r.boxes.tolist() == [box] and r.areas.tolist() == [area]
    y0, y1, x0, x1 = box
    expected = np.zeros((16, 8), np.uint8)
    expected[y0:y1 + 1, x0:x1 + 1] = 1
    assert np.array_equal(r.masks[0], expected)


def test_boxes_areas_match_nonzero_on_random_masks(make_batch):
    masks = make_batch(12, 48, 24, seed=1)["masks"] * 255  # any non-zero value is person
    r = roi_masks(masks)
    for m, box, area in zip(masks, r.boxes, r.areas):
        ys, xs = np.nonzero(m)
        assert box.tolist() == [ys.min(), ys.max(), xs.min(), xs.max()] and area == len(ys)
    assert set(np.unique(r.masks)) <= {0, 1}


@pytest.mark.parametrize("split", [0.3, 0.5, 0.71])
def test_upper_and_lower_split_the_mask(make_batch, split):
    masks = make_batch(10, 40, 20, seed=2)["masks"]
    upper, lower, full = (roi_masks(masks, roi, split) for roi in ("upper", "lower", "full"))
    assert np.array_equal(upper.masks | lower.masks, full.masks)
    assert not np.any(upper.masks & lower.masks)
    assert np.array_equal(upper.areas + lower.areas, full.areas)
    assert np.all(upper.boxes[:, 1] < lower.boxes[:, 0])


def test_empty_masks_have_no_roi():
    masks = np.zeros((3, 10, 6), np.uint8)
    masks[1, 4, 2] = 1  # one pixel: upper gets it, lower is empty
    for roi in ROI_MODES:
        r = roi_masks(masks, roi)
        assert r.areas[0] == 0 and r.boxes[0].tolist() == list(EMPTY_BOX)
        assert not normalize_masks(r)[0].any()
    assert roi_masks(masks, "lower").areas[1] == 0 and roi_masks(masks, "upper").areas[1] == 1


@pytest.mark.parametrize("canvas", [CANVAS, (16, 8), (9, 5)])
def test_normalized_masks_match_cv2_resize(canvas, cv2_normalized):
    rng = np.random.default_rng(3)
    masks = np.zeros((40, 64, 48), np.uint8)
    for m in masks:  # random boxes of any aspect, random content inside, touching borders too
        y0, x0 = rng.integers(0, 64), rng.integers(0, 48)
        y1, x1 = rng.integers(y0, 64), rng.integers(x0, 48)
        m[y0:y1 + 1, x0:x1 + 1] = rng.random((y1 - y0 + 1, x1 - x0 + 1)) < 0.6
    normalized = normalize_masks(roi_masks(masks), canvas)
    assert normalized.shape == (40, canvas[0] * canvas[1]) and normalized.dtype == np.float32
    for m, n in zip(masks, normalized):
        assert np.array_equal(n, cv2_normalized(m, canvas))


def test_normalized_mask_is_width_aligned_and_top_aligned():
    tall = normalize_masks(roi_masks(block_mask(40, 10, rows=(0, 40), cols=(3, 7))), (16, 4)).reshape(16, 4)
    assert tall.all()  # 40 x 4 box -> 160 rows, clipped to 16
    wide = normalize_masks(roi_masks(block_mask(10, 20, rows=(5, 7), cols=(0, 20))), (16, 4)).reshape(16, 4)
    assert wide[:1].all() and not wide[1:].any()  # 2 x 20 box -> rint(0.4) = 0 -> 1 row


@pytest.mark.parametrize("kwargs, message", [
    (dict(roi="head"), "roi='head'"), (dict(split=1.0), "split=1.0"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        roi_masks(block_mask(), **kwargs)


def test_bad_masks():
    with pytest.raises(ValueError, match=r"\(B, H, W\) uint8"):
        roi_masks(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="float32"):
        roi_masks(np.zeros((1, 4, 4), np.float32))
