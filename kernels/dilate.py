"""Square dilation of any odd size: the max over a k x k square around each pixel.

Pixels outside the image are ignored (OpenCV's default border for dilation), so
`dilate(m, 31)` equals `cv2.dilate(m, np.ones((7, 7)), iterations=5)` and, for any odd k,
`cv2.dilate(m, np.ones((k, k)))`, bit for bit, for any uint8 values. The numpy backend is
OpenCV's dilation over the whole batch at once; the CUDA kernel is separable (a row max, then
a column max).
"""
from __future__ import annotations

import cv2
import numpy as np

from .arrays import is_cupy


def dilate(masks, size: int):
    """(B, H, W) uint8 -> (B, H, W) uint8: the max over a `size` x `size` square around each pixel.

    size: odd integer >= 1. Same array library as `masks`.

    >>> m = np.zeros((1, 5, 5), np.uint8); m[0, 2, 2] = 1
    >>> int(dilate(m, 3).sum())
    9
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1 or size % 2 == 0:
        raise ValueError(f"dilate: size={size!r}: expected an odd integer >= 1")
    if masks.ndim != 3 or masks.dtype != np.uint8:
        raise ValueError(f"dilate: masks must be (B, H, W) uint8, got shape {tuple(masks.shape)} dtype {masks.dtype}")
    if is_cupy(masks):
        from . import cupy_ops

        return cupy_ops.dilate(masks, int(size))
    return _dilate_host(masks, size) if masks.size else masks.copy()


def _dilate_host(masks: np.ndarray, size: int) -> np.ndarray:
    """`cv2.dilate` with a `size` x `size` square over the whole batch in one call: the images
    are stacked vertically with `size // 2` zero rows between them (zeros are neutral for a max,
    so nothing crosses from one image to the next)."""
    b, h, w = masks.shape
    r = size // 2
    tall = np.zeros((b, h + r, w), np.uint8)
    tall[:, :h] = masks
    out = cv2.dilate(tall.reshape(b * (h + r), w), np.ones((size, size), np.uint8))
    return np.ascontiguousarray(out.reshape(b, h + r, w)[:, :h])
