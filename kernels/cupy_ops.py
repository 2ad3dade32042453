"""CuPy backend: the steps of `kernels` as CUDA kernels (`cuda/*.cu`), and what the fused
augmentation (`cupy_fused`) shares with them: launching, scratch memory, the pull-push pyramid.

Imported only when a step meets a CuPy array. The sources form one compilation unit
(`cuda_sources.program()`), compiled once per device by `cupy.RawModule` (NVRTC,
`--fmad=false` so float results round as NumPy's do) and cached. Every kernel runs on the
current CuPy stream, and every array comes from the current CuPy allocator; nothing here waits
for the GPU or copies data between host and device (host scalars travel as kernel arguments).
Inputs must be C-contiguous (the public functions make them so).
"""
from __future__ import annotations

import functools
import math

import cupy
import numpy as np

from .cuda_sources import NVRTC_OPTIONS, program
from .pullpush import GAIN
from .records import DonorDraw, DonorKeys, Rois
from .tables import LAUNCH_LIMITS, OUT_TYPES, ROI_MODES

_BLOCK = 256
_MAX_GRID = 65535
_ROW_LANES = LAUNCH_LIMITS["ROW_LANES"]  # threads of `roi_rows` per mask row
_CHOOSE_BLOCK = 128  # threads per sample of `choose_donors` (at most LAUNCH_LIMITS["CHOOSE_MAX_BLOCK"])
_PYRAMID_CAPACITY = LAUNCH_LIMITS["PYRAMID_CAPACITY"]  # pixels per channel of `pyramid_top`'s levels
_GAIN_64 = np.float32(GAIN / 64.0)
_ALIGN = 256  # bytes: where `Scratch` starts each array (CUDA's allocation alignment)


@cupy.memoize(for_each_device=True)
def _module() -> cupy.RawModule:
    return cupy.RawModule(code=program(), options=NVRTC_OPTIONS)


@cupy.memoize(for_each_device=True)
def _function(name: str):
    return _module().get_function(name)


def _launch(kernel: str, work: int, args: tuple) -> None:
    """Run a grid-stride kernel over `work` items."""
    if work > 0:
        _function(kernel)((min(-(-work // _BLOCK), _MAX_GRID),), (_BLOCK,), args)


def _launch_blocks(kernel: str, blocks: int, threads: int, args: tuple) -> None:
    """Run a block-stride kernel (one block per item, `blocks` items) with `threads` per block."""
    if blocks > 0:
        _function(kernel)((min(blocks, _MAX_GRID),), (threads,), args)


def _i32(*values) -> tuple:
    return tuple(map(np.int32, values))


class Scratch:
    """The device arrays a call needs, carved from one allocation: one trip to the allocator
    (CuPy's pool, or torch's) instead of one per array. Sized by what the last call with the same
    `key` used (`done()` records it); the first call with a key allocates each array by itself.
    Every array starts at a multiple of 256 bytes; all of them share the allocation's life (none
    may be returned)."""

    _sizes: dict = {}
    _itemsizes = {t: np.dtype(t).itemsize for t in (np.uint8, np.int32, np.int64, np.float32, np.bool_)}

    def __init__(self, key):
        self._key, self._used = key, 0
        self._size = self._sizes.get(key, 0)
        self._buffer = cupy.empty(self._size, cupy.uint8) if self._size else None

    def empty(self, shape: tuple, dtype):
        """An uninitialized C-contiguous array of `shape` and `dtype` (`cupy.empty`)."""
        start = self._used
        nbytes = math.prod(shape) * self._itemsizes[dtype]
        self._used = start + -(-nbytes // _ALIGN) * _ALIGN
        if self._used > self._size:
            return cupy.empty(shape, dtype)
        return self._buffer[start: start + nbytes].view(dtype).reshape(shape)

    def done(self) -> None:
        """Record what this call used, for the next call with the same key."""
        if self._used > self._size:
            self._sizes[self._key] = self._used


# ---- the steps -------------------------------------------------------------------------------

def roi_rows(masks, empty=cupy.empty) -> tuple:
    """(count, first, last) (B, H) int32: the non-zero pixels, first and last non-zero column of
    every row of masks (B, H, W), by `roi_rows` (one launch over all rows, `_ROW_LANES`
    threads per row)."""
    b, h, w = masks.shape
    rows = tuple(empty((b, h), cupy.int32) for _ in range(3))
    blocks = -(-b * h // (_BLOCK // _ROW_LANES))
    _launch_blocks("roi_rows", blocks, _BLOCK, (masks, np.int64(b * h), np.int32(w), *rows))
    return rows


def roi_boxes(b: int, empty=cupy.empty) -> tuple:
    """band (B, 2), boxes (B, 4), areas (B,) int32, to be filled."""
    return empty((b, 2), cupy.int32), empty((b, 4), cupy.int32), empty((b,), cupy.int32)


def roi_masks(masks, roi: str, split: float) -> Rois:
    masks = cupy.ascontiguousarray(masks)
    b, h, w = masks.shape
    band, boxes, areas = roi_boxes(b)
    _launch_blocks("roi_boxes", b, _BLOCK, (*roi_rows(masks), *_i32(b, h, w, ROI_MODES[roi].code), np.float64(split),
                                            band, boxes, areas))
    rois = cupy.empty((b, h, w), cupy.uint8)
    _launch("roi_masks", b * h * w, (masks, band, *_i32(b, h, w), rois))
    return Rois(masks=rois, boxes=boxes, areas=areas)


def normalize_masks(rois: Rois, canvas: tuple[int, int]):
    b, h, w = rois.masks.shape
    ch, cw = canvas
    out = cupy.empty((b, ch * cw), cupy.float32)
    _launch("normalize_masks", b * ch * cw,
            (cupy.ascontiguousarray(rois.masks), cupy.ascontiguousarray(rois.boxes), cupy.ascontiguousarray(rois.areas),
             *_i32(b, h, w, ch, cw), out))
    return out


def compatibility(batch: DonorKeys, pool: DonorKeys, min_area_ratio: float, min_iou: float, same_viewpoint: bool):
    inter = cupy.matmul(batch.normalized, pool.normalized.T)  # (B, N) float32, exact counts
    b, n = inter.shape
    out = cupy.empty((b, n), cupy.bool_)
    arrays = (inter, batch.normalized.sum(axis=1), pool.normalized.sum(axis=1), batch.areas, pool.areas,
              batch.pids, pool.pids, batch.viewpoints, pool.viewpoints)
    _launch("compatibility", b * n,
            (*(cupy.ascontiguousarray(a) for a in arrays), *_i32(b, n), np.float64(min_area_ratio),
             np.float64(min_iou), np.int32(same_viewpoint), out))
    return out


def draw_donors(compat, index, key: int, p: float) -> DonorDraw:
    b, n = compat.shape
    donor = cupy.empty((b,), cupy.int64)
    wanted = cupy.empty((b,), cupy.bool_)
    candidates = cupy.empty((b,), cupy.int32)
    _launch("draw_donors", b, (cupy.ascontiguousarray(compat), cupy.ascontiguousarray(index), *_i32(b, n),
                               np.uint64(key), np.float64(p), donor, wanted, candidates))
    return DonorDraw(donor=donor, wanted=wanted, candidates=candidates)


def dilate(masks, size: int):
    masks = cupy.ascontiguousarray(masks)
    b, h, w = masks.shape
    rows, out = cupy.empty_like(masks), cupy.empty_like(masks)
    _launch("max_rows", masks.size, (masks, rows, *_i32(b, h, w, size // 2)))
    _launch("max_cols", masks.size, (rows, out, *_i32(b, h, w, size // 2)))
    return out


@functools.lru_cache(maxsize=64)
def _pyramid_sizes(h1: int, w1: int, capacity: int) -> tuple[tuple, int]:
    """The sizes of the levels from level 1 (h1, w1) up to the 1x1 top, and the first of them
    whose coarser levels fit `pyramid_top`'s shared memory, `capacity` pixels (the levels before
    it take a `pull` and a `push` launch each)."""
    sizes = [(h1, w1)]
    while sizes[-1] != (1, 1):
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
    above = [sum(h * w for h, w in sizes[k + 1:]) for k in range(len(sizes))]
    return tuple(sizes), next(k for k in range(len(sizes)) if above[k] <= capacity)


def _colour_of(n: int, h: int, w: int, level, empty=cupy.empty):
    """The colour (3, n, 1, 1) a pull writes when its level (h, w) is the 1x1 top (the only
    colour ever read), else None (and `level` stands in for the pointer, never written):
    (with_colour, colour array) kernel arguments."""
    if (h, w) == (1, 1):
        colour = empty((3, n, 1, 1), cupy.float32)
        return (np.int32(1), colour), colour
    return (np.int32(0), level), None


def pyramid(level, colour, empty=cupy.empty):
    """Filled level 1 (3, n, h1, w1) from level 1 (4, n, h1, w1) (and its colour (3, n, 1, 1)
    when level 1 is the 1x1 top, else None); `empty` allocates.

    Levels whose coarser levels together exceed `_PYRAMID_CAPACITY` pixels take a `pull` and a
    `push` launch each; the rest of the pyramid is one `pyramid_top` launch (none when level 1
    is already 1x1)."""
    n = level.shape[1]
    sizes, small = _pyramid_sizes(*level.shape[2:], _PYRAMID_CAPACITY)
    levels = [level]
    for h, w in sizes[1: small + 1]:
        fine = levels[-1]
        level = empty((4, n, h, w), cupy.float32)
        colour_args, colour = _colour_of(n, h, w, level, empty)
        _launch("pull", n * h * w, (fine, *_i32(n, *fine.shape[2:]), _GAIN_64, *colour_args, level))
        levels.append(level)
    if small == len(sizes) - 1:  # level `small` is the 1x1 top: filled = its colour
        filled = colour
    else:
        filled = empty((3,) + levels[-1].shape[1:], cupy.float32)
        _launch_blocks("pyramid_top", n, _BLOCK, (levels[-1], *_i32(n, *sizes[small]), _GAIN_64, filled))
    for level in reversed(levels[:-1]):
        finer = empty((3,) + level.shape[1:], cupy.float32)
        _launch("push", finer.size, (filled, level, *_i32(*level.shape[1:]), finer))
        filled = finer
    return filled


def level1(n: int, h: int, w: int, empty=cupy.empty) -> tuple:
    """Level 1 (4, n, ceil(h/2), ceil(w/2)) float32, the colour arguments of its pull and its
    colour (see `_colour_of`)."""
    h1, w1 = (h + 1) // 2, (w + 1) // 2
    level = empty((4, n, h1, w1), cupy.float32)
    return (level, *_colour_of(n, h1, w1, level, empty))


def pullpush(images, holes):
    images, holes = cupy.ascontiguousarray(images), cupy.ascontiguousarray(holes)
    n, h, w, _ = images.shape
    level, colour_args, colour = level1(n, h, w)
    _launch("pull_level0", level[0].size, (images, holes, *_i32(n, h, w), _GAIN_64, *colour_args, level))
    filled = pyramid(level, colour)
    out = cupy.empty_like(images)
    _launch("fill_holes", n * h * w, (images, holes, filled, *_i32(n, h, w), out))
    return out


def composite(images, rois, backgrounds):
    images, rois, backgrounds = (cupy.ascontiguousarray(a) for a in (images, rois, backgrounds))
    out = cupy.empty_like(images)
    _launch("composite", rois.size, (images, rois, backgrounds, np.int64(rois.size), out))
    return out


def tail_output(b: int, h: int, w: int, tail):
    """The output of the tail and the view returned: (B, 3, H, W) of the tail's element type
    (`OUT_TYPES`: bfloat16 as its uint16 bits), NHWC memory if asked."""
    dtype = OUT_TYPES[tail.dtype].storage
    if tail.channels_last:
        out = cupy.empty((b, h, w, 3), dtype)
        return out, out.transpose(0, 3, 1, 2)
    out = cupy.empty((b, 3, h, w), dtype)
    return out, out


def tail_scalars(tail) -> tuple:
    """The tail's kernel arguments after its arrays: mean, std, fill, channels_last, out_type."""
    return _tail_scalars(tuple(tail.mean), tuple(tail.std), tuple(tail.fill), tail.channels_last, tail.dtype)


@functools.lru_cache(maxsize=64)
def _tail_scalars(mean: tuple, std: tuple, fill: tuple, channels_last: bool, dtype: str) -> tuple:
    return (*map(np.float32, (*mean, *std, *fill)), np.int32(channels_last), np.int32(OUT_TYPES[dtype].code))


def bot_tail(images, flip, crop_anchor, erase_anchor, erase_shape, tail):
    images = cupy.ascontiguousarray(images)
    b, h, w, _ = images.shape
    out, view = tail_output(b, h, w, tail)
    _launch("bot_tail", b * h * w, (images, flip, crop_anchor, erase_anchor, erase_shape, *_i32(b, h, w),
                                    *tail_scalars(tail), out))
    return view
