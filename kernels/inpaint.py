"""Inpainting of donor holes: pull-push (both backends), Telea, or none."""
from __future__ import annotations

import cv2
import numpy as np

from .arrays import is_cupy
from .config import INPAINT_METHODS
from .pullpush import pullpush

TELEA_RADIUS = 0.1
"""Telea radius as a fraction of the hole's bounding-box width (the paper's choice)."""


def inpaint(images, holes, method: str = "pullpush", radius=None):
    """Fill `holes` of `images`; pixels outside the holes are returned unchanged.

    images: (B, H, W, 3) uint8. holes: (B, H, W) uint8, non-zero = fill. Same array library.
    method: "pullpush" (numpy or cupy; see `kernels.pullpush`), "telea" (`cv2.inpaint` with
    INPAINT_TELEA, one OpenCV call per image, numpy only) or "none" (a copy of `images`).
    radius: Telea only: a number or (B,) numbers; default `TELEA_RADIUS` x the width of each
    hole's bounding box (at least 1).
    Returns (B, H, W, 3) uint8 in the library of `images`.

    >>> img = np.full((1, 8, 8, 3), 200, np.uint8); hole = np.zeros((1, 8, 8), np.uint8)
    >>> hole[0, 3:5, 3:5] = 1; img[0, 3:5, 3:5] = 0
    >>> int(inpaint(img, hole)[0, 4, 4, 0])
    200
    """
    if method not in INPAINT_METHODS:
        raise ValueError(f"inpaint: method={method!r}: expected one of {list(INPAINT_METHODS)}")
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"inpaint: images must be (B, H, W, 3) uint8, "
                         f"got shape {tuple(images.shape)} dtype {images.dtype}")
    if tuple(holes.shape) != tuple(images.shape[:3]) or holes.dtype != np.uint8:
        raise ValueError(f"inpaint: holes must be {tuple(images.shape[:3])} uint8 (B, H, W of images), "
                         f"got shape {tuple(holes.shape)} dtype {holes.dtype}")
    if is_cupy(images) != is_cupy(holes):
        raise ValueError("inpaint: images and holes must both be numpy or both be cupy arrays")
    if method == "none" or images.shape[0] == 0:
        return images.copy()
    if method == "telea":
        if is_cupy(images):
            raise ValueError("inpaint: method='telea' runs on the numpy backend only (OpenCV); use 'pullpush' on cupy")
        return _telea(images, holes, radius)
    if is_cupy(images):
        from . import cupy_ops

        return cupy_ops.pullpush(images, holes)
    return pullpush(images, holes)


def _telea(images: np.ndarray, holes: np.ndarray, radius) -> np.ndarray:
    if radius is None:
        columns = holes.any(axis=1)  # (B, W)
        width = columns.shape[1] - columns.argmax(axis=1) - columns[:, ::-1].argmax(axis=1)
        radius = TELEA_RADIUS * width
    radius = np.maximum(np.broadcast_to(np.asarray(radius, np.float64), (len(images),)), 1.0)
    return np.stack([cv2.inpaint(img, hole, float(r), cv2.INPAINT_TELEA)
                     for img, hole, r in zip(images, holes, radius)])
