"""Pull-push inpainting in NumPy, vectorized over the batch (float32).

The algorithm (`cuda/pullpush.cu` performs the same float operations in the same order and is
compiled without FMA contraction, so the backends agree but for rare last-bit ties):

* Level 0: premultiplied colour P = I * w and weight w = 1 - hole (0 or 1).
* Pull, level l -> l + 1 (size ceil(h/2) x ceil(w/2)): filter P and w with the 4x4 kernel
  [1, 3, 3, 1] x [1, 3, 3, 1] at stride 2 (coarse x reads fine 2x-1 .. 2x+2), taps outside the
  level ignored; each 1-D pass is `3 * (a[2x] + a[2x+1]) + a[2x-1] + a[2x+2]`, columns then rows.
  With sums S_P, S_w: W' = min(1, S_w * GAIN / 64), C' = S_P / S_w (0 where S_w = 0),
  P' = C' * W'. (Level 0 sums are integers, exact in any order: they are summed here in
  uint16 lanes of uint64 words, rows then columns.)
* Push, from the 1x1 top: F = C there; F_l = P_l + (1 - W_l) * up(F_{l+1}), where `up` is
  bilinear 2x upsampling with OpenCV's `INTER_LINEAR` geometry, columns then rows:
  out[2k] = a[k-1] * 0.25 + a[k] * 0.75, out[2k+1] = a[k] * 0.75 + a[k+1] * 0.25, and the
  edge value itself where k-1 or k+1 falls outside.
* Output: known pixels unchanged; holes get up(F_1) (the level 0 weight is 0 there) computed
  in fixed point: Q = rint(16 * F_1) as integers, the same upsampling with weights 1 and 3
  (edges 4), then (sum + 128) >> 8.

Levels >= 1 are stored channel-major, (4, n, h, w): premultiplied colour, then weight.
"""
from __future__ import annotations

import cv2
import numpy as np

GAIN = 4.0
"""Weight gain of the pull: a coarse pixel counts as fully known once a quarter of its footprint is."""


def pullpush(images: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Fill `holes` ((n, H, W) uint8, non-zero = fill) of `images` ((n, H, W, 3) uint8)."""
    n, h, w, _ = images.shape
    levels, colours = [], []
    colour, level = _normalize(_level0_sums(images, holes))
    while True:
        levels.append(level)
        colours.append(colour)
        if level.shape[2:] == (1, 1):
            break
        colour, level = _normalize(_filter_half(_filter_half(level, axis=3), axis=2))
    filled = colours[-1]
    for level in reversed(levels[:-1]):
        up = _upsample2x(filled, _FLOAT_WEIGHTS)[:, :, : level.shape[2], : level.shape[3]]
        filled = level[:3] + (np.float32(1.0) - level[3:]) * up
    out = images.copy()
    cv2.copyTo(_level0_fill(filled, h, w), holes.reshape(n * h, w), out.reshape(n * h, w, 3))
    return out


def _level0_fill(filled: np.ndarray, h: int, w: int) -> np.ndarray:
    """(n * h, w, 3) uint8 fill colours: level 1 (3, n, h1, w1) upsampled in 1/16 fixed point."""
    _, n, h1, w1 = filled.shape
    fixed = np.rint(filled * np.float32(16.0)).astype(np.uint16)  # <= 16 * 255
    padded = cv2.merge([plane.reshape(n * h1, w1) for plane in fixed] + [np.zeros((n * h1, w1), np.uint16)])
    columns = _upsample_axis(padded.view(np.uint64).reshape(n, h1, w1), 2, _FIXED_WEIGHTS)  # lanes <= 64 * 255
    lanes = _upsample_axis(columns, 1, _FIXED_WEIGHTS, offset=_FIXED_HALF)[:, :h, :w]  # lanes <= 256 * 255 + 128
    fill = np.empty((n * h, w, 3), np.uint8)  # (sum + 128) >> 8 is the high byte of each 16-bit lane:
    cv2.mixChannels([np.ascontiguousarray(lanes).view(np.uint8).reshape(n * h, w, 8)], [fill], [1, 0, 3, 1, 5, 2])
    return fill


def _level0_sums(images: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """(4, n, h1, w1) float32 4x4 sums of [P, w] at level 0 (exact integers)."""
    n, h, w, _ = images.shape
    rgbw = cv2.cvtColor(images.reshape(n * h, w, 3), cv2.COLOR_RGB2RGBA).reshape(n, h, w, 4)  # alpha 255
    rgbw.view(np.uint32)[..., 0] *= holes == 0  # P = I * w, alpha = 255 * w
    rows = _filter_half(rgbw.reshape(n, h, w * 4), axis=1, dtype=np.uint16)  # lanes <= 8 * 255
    lanes = _filter_half(rows.view(np.uint64), axis=2, dtype=np.uint64)  # 4 uint16 lanes <= 64 * 255
    sums = lanes.view(np.uint16).reshape(lanes.shape + (4,)).transpose(3, 0, 1, 2).astype(np.float32)
    sums[3] /= 255.0
    return sums


def _normalize(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Filtered sums (4, n, h, w) -> colour (3, n, h, w) and the next level (4, n, h, w)."""
    weight_sum = sums[3:]
    level = np.empty(sums.shape, np.float32)
    np.minimum(weight_sum * np.float32(GAIN / 64.0), np.float32(1.0), out=level[3:])
    colour = np.zeros((3,) + sums.shape[1:], np.float32)
    np.divide(sums[:3], weight_sum, out=colour, where=weight_sum > 0)
    np.multiply(colour, level[3:], out=level[:3])
    return colour, level


def _filter_half(a: np.ndarray, axis: int, dtype=np.float32) -> np.ndarray:
    """[1, 3, 3, 1] at stride 2 along `axis`, taps outside ignored: 3 * (a[2x] + a[2x+1]) + a[2x-1] + a[2x+2]."""
    even = _slice(a, axis, 0, None, 2)
    odd = _slice(a, axis, 1, None, 2)
    m, k = even.shape[axis], odd.shape[axis]
    out = np.empty(even.shape, dtype)
    np.add(_slice(even, axis, 0, k), odd, out=_slice(out, axis, 0, k), dtype=dtype)
    _slice(out, axis, k, m)[...] = _slice(even, axis, k, m)  # the last even tap of an odd length
    out *= 3
    _slice(out, axis, 1, m)[...] += _slice(odd, axis, 0, m - 1)
    _slice(out, axis, 0, m - 1)[...] += _slice(even, axis, 1, m)
    return out


_FLOAT_WEIGHTS = (np.float32(0.25), np.float32(0.75))
_FIXED_WEIGHTS = (np.uint64(1), np.uint64(3))  # x 1/4 per axis, on 4 uint16 lanes of a uint64
_FIXED_HALF = np.uint64(0x0080008000800080)  # 128 in every lane: rounds the final >> 8


def _upsample2x(a: np.ndarray, weights) -> np.ndarray:
    """Bilinear 2x upsampling (..., h, w) -> (..., 2h, 2w), columns then rows."""
    return _upsample_axis(_upsample_axis(a, a.ndim - 1, weights), a.ndim - 2, weights)


def _upsample_axis(a: np.ndarray, axis: int, weights, offset=None) -> np.ndarray:
    """out[2k] = a[k-1] * small + a[k] * big, out[2k+1] = a[k] * big + a[k+1] * small, and
    a * (small + big) at the edges; `offset` (integers only) is added to every output."""
    small_weight, big_weight = weights
    m = a.shape[axis]
    shape = list(a.shape)
    shape[axis] = 2 * m
    out = np.empty(shape, a.dtype)
    big = a * big_weight
    small = a if small_weight == 1 else a * small_weight
    if offset is not None:
        big += offset
    even, odd = _slice(out, axis, 0, None, 2), _slice(out, axis, 1, None, 2)
    np.add(_slice(small, axis, 0, m - 1), _slice(big, axis, 1, m), out=_slice(even, axis, 1, m))
    np.add(_slice(big, axis, 0, m - 1), _slice(small, axis, 1, m), out=_slice(odd, axis, 0, m - 1))
    for target, k in ((_slice(even, axis, 0, 1), 0), (_slice(odd, axis, m - 1, m), m - 1)):
        np.multiply(_slice(a, axis, k, k + 1), small_weight + big_weight, out=target)
        if offset is not None:
            target += offset
    return out


def _slice(a: np.ndarray, axis: int, start, stop, step=None) -> np.ndarray:
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, stop, step)
    return a[tuple(index)]
