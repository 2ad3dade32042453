"""Square dilation of any odd size, separable: a row max, then a column max.

Pixels outside the image are ignored (OpenCV's default border for dilation), so
`dilate(m, 31)` equals `cv2.dilate(m, np.ones((7, 7)), iterations=5)` and, for any odd k,
`cv2.dilate(m, np.ones((k, k)))`, bit for bit, for any uint8 values.
"""
from __future__ import annotations

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
    return _window_max(_window_max(masks, size, axis=2), size, axis=1)


def _window_max(a: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Max over a centred window of `size` along `axis`, outside ignored (log-step doubling)."""
    if size == 1:
        return a.copy()
    r = size // 2
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r, r)
    run = np.pad(a, pad)  # zeros are neutral for a max of uint8
    span = 1  # run[t] = max of the padded input over [t, t + span)
    while 2 * span <= size:
        run = np.maximum(_take(run, 0, -span, axis), _take(run, span, None, axis))
        span *= 2
    n = a.shape[axis]
    return np.maximum(_take(run, 0, n, axis), _take(run, size - span, size - span + n, axis))


def _take(a: np.ndarray, start, stop, axis: int) -> np.ndarray:
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, stop)
    return a[tuple(index)]
