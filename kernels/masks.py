"""ROI masks, their areas and bounding boxes, and normalized masks.

The ROI of a sample is its person mask restricted to a band of rows of the mask's bounding box,
chosen by the ROI mode (`tables.ROI_MODES`). With rows y0..y1 (h = y1 - y0 + 1) a band runs between
two of the edges `tables.BAND_EDGES`: "top" (y0), "cut" (`y0 + floor(split * h + 0.5)`) and "bottom"
(y1 + 1): "full" keeps rows [y0, y1], "upper" rows [y0, cut) and "lower" rows [cut, y1].

A normalized mask crops a ROI to its bounding box (h x w) and resizes it, nearest neighbour,
to width `Wc` keeping the aspect ratio: the crop becomes `hn = max(1, rint(h * Wc / w))` rows,
drawn into a (Hc, Wc) canvas from the top (rows >= Hc clipped, rows >= hn zero). The index
rule is OpenCV's INTER_NEAREST for `cv2.resize(crop, (Wc, hn))`: destination column u reads
column `min(floor(u * (1 / (Wc / w))), w - 1)`, row v reads `min(floor(v * (1 / (hn / h))), h - 1)`
(float64 arithmetic, so both backends and OpenCV pick the same pixels).
"""
from __future__ import annotations

import numpy as np

from .arrays import is_cupy
from .records import Rois
from .tables import CANVAS, EMPTY_BOX, ROI_MODES


def roi_masks(masks, roi: str = "full", split: float = 0.5) -> Rois:
    """ROIs of `masks` ((B, H, W) uint8, non-zero = person) for ROI mode `roi` (`ROI_MODES`).

    >>> m = np.zeros((1, 8, 4), np.uint8); m[0, 2:6, 1:3] = 1
    >>> r = roi_masks(m, "upper"); r.boxes.tolist(), r.areas.tolist()
    ([[2, 3, 1, 2]], [4])
    """
    if roi not in ROI_MODES:
        raise ValueError(f"roi_masks: roi={roi!r}: expected one of {list(ROI_MODES)}")
    if not 0.0 < split < 1.0:
        raise ValueError(f"roi_masks: split={split!r}: expected a number in (0, 1)")
    if masks.ndim != 3 or masks.dtype not in (np.uint8, np.bool_):
        raise ValueError(f"roi_masks: masks must be (B, H, W) uint8, "
                         f"got shape {tuple(masks.shape)} dtype {masks.dtype}")
    if is_cupy(masks):
        from . import cupy_ops

        return cupy_ops.roi_masks(masks.view(np.uint8), roi, split)
    b, h, w = masks.shape
    person = masks != 0
    rows = np.arange(h)
    band = ROI_MODES[roi].band
    if band != ("top", "bottom"):  # the whole box keeps every row of the mask
        y0, y1 = _first_last(person.any(axis=2))
        edges = dict(top=y0, cut=y0 + np.floor(split * (y1 - y0 + 1) + 0.5).astype(np.int64), bottom=y1 + 1)
        lo, hi = (edges[edge] for edge in band)
        person &= ((rows >= lo[:, None]) & (rows < hi[:, None]))[:, :, None]
    row_counts = np.count_nonzero(person, axis=2)  # (B, H)
    areas = row_counts.sum(axis=1).astype(np.int32)
    y0, y1 = _first_last(row_counts > 0)
    x0, x1 = _first_last(person.any(axis=1))
    boxes = np.stack([y0, y1, x0, x1], axis=1).astype(np.int32)
    boxes[areas == 0] = EMPTY_BOX
    return Rois(masks=person.view(np.uint8), boxes=boxes, areas=areas)


def _first_last(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last True index along axis 1 of (B, L) bool (0 and L - 1 when none)."""
    length = flags.shape[1]
    return flags.argmax(axis=1), length - 1 - flags[:, ::-1].argmax(axis=1)


def normalize_masks(rois: Rois, canvas: tuple[int, int] = CANVAS):
    """(B, Hc * Wc) float32 {0, 1}: each ROI cropped to its box and resized as in the module doc.

    Empty ROIs give all-zero rows.
    """
    if is_cupy(rois.masks):
        from . import cupy_ops

        return cupy_ops.normalize_masks(rois, canvas)
    ch, cw = canvas
    b = rois.masks.shape[0]
    y0, y1, x0, x1 = (rois.boxes[:, k].astype(np.int64) for k in range(4))
    h = np.maximum(y1 - y0 + 1, 1)
    w = np.maximum(x1 - x0 + 1, 1)
    hn = np.maximum(np.rint(h * cw / w), 1)
    sx = np.minimum(np.floor(np.arange(cw) * (1.0 / (cw / w))[:, None]).astype(np.int64), (w - 1)[:, None])
    sy = np.minimum(np.floor(np.arange(ch) * (1.0 / (hn / h))[:, None]).astype(np.int64), (h - 1)[:, None])
    picked = rois.masks[np.arange(b)[:, None, None], (y0[:, None] + sy)[:, :, None], (x0[:, None] + sx)[:, None, :]]
    keep = (np.arange(ch) < hn[:, None]) & (rois.areas > 0)[:, None]  # (B, Hc)
    return (picked * keep[:, :, None]).reshape(b, ch * cw).astype(np.float32)
