"""CuPy backend: the steps of `kernels` as CUDA kernels from `cuda/*.cu`.

Imported only when a step meets a CuPy array. Each `.cu` file is compiled once per device by
`cupy.RawModule` (NVRTC, `--fmad=false` so float results round as NumPy's do) and cached.
Every kernel is a grid-stride loop launched on the current CuPy stream; nothing here waits for
the GPU. Inputs must be C-contiguous (the public functions make them so).
"""
from __future__ import annotations

import cupy
import numpy as np

from .compat import DonorKeys
from .cuda_sources import NVRTC_OPTIONS, source
from .donors import DonorDraw
from .masks import Rois
from .pullpush import GAIN

_ROI_CODES = {"full": 0, "upper": 1, "lower": 2}
_BLOCK = 256
_MAX_GRID = 65535


@cupy.memoize(for_each_device=True)
def _module(name: str) -> cupy.RawModule:
    return cupy.RawModule(code=source(name), options=NVRTC_OPTIONS)


def _launch(module: str, kernel: str, work: int, args: tuple) -> None:
    """Run a grid-stride kernel over `work` items."""
    if work > 0:
        grid = min(-(-work // _BLOCK), _MAX_GRID)
        _module(module).get_function(kernel)((grid,), (_BLOCK,), args)


def _i32(*values) -> tuple:
    return tuple(np.int32(v) for v in values)


def roi_masks(masks, roi: str, split: float) -> Rois:
    masks = cupy.ascontiguousarray(masks)
    b, h, w = masks.shape
    count, first, last = (cupy.empty((b, h), cupy.int32) for _ in range(3))
    _launch("masks", "row_stats", b * h, (masks, np.int64(b * h), np.int32(w), count, first, last))
    band = cupy.empty((b, 2), cupy.int32)
    boxes = cupy.empty((b, 4), cupy.int32)
    areas = cupy.empty((b,), cupy.int32)
    _launch("masks", "roi_boxes", b, (count, first, last, *_i32(b, h, w, _ROI_CODES[roi]), np.float64(split),
                                      band, boxes, areas))
    rois = cupy.empty((b, h, w), cupy.uint8)
    _launch("masks", "roi_masks", b * h * w, (masks, band, *_i32(b, h, w), rois))
    return Rois(masks=rois, boxes=boxes, areas=areas)


def normalize_masks(rois: Rois, canvas: tuple[int, int]):
    b, h, w = rois.masks.shape
    ch, cw = canvas
    out = cupy.empty((b, ch * cw), cupy.float32)
    _launch("masks", "normalize_masks", b * ch * cw,
            (cupy.ascontiguousarray(rois.masks), cupy.ascontiguousarray(rois.boxes), cupy.ascontiguousarray(rois.areas),
             *_i32(b, h, w, ch, cw), out))
    return out


def compatibility(batch: DonorKeys, pool: DonorKeys, min_area_ratio: float, min_iou: float, same_viewpoint: bool):
    inter = cupy.matmul(batch.normalized, pool.normalized.T)  # (B, N) float32, exact counts
    b, n = inter.shape
    out = cupy.empty((b, n), cupy.bool_)
    arrays = (inter, batch.normalized.sum(axis=1), pool.normalized.sum(axis=1), batch.areas, pool.areas,
              batch.pids, pool.pids, batch.viewpoints, pool.viewpoints)
    _launch("compat", "compatibility", b * n,
            (*(cupy.ascontiguousarray(a) for a in arrays), *_i32(b, n), np.float64(min_area_ratio),
             np.float64(min_iou), np.int32(same_viewpoint), out))
    return out


def draw_donors(compat, index, key: int, p: float) -> DonorDraw:
    b, n = compat.shape
    donor = cupy.empty((b,), cupy.int64)
    wanted = cupy.empty((b,), cupy.bool_)
    candidates = cupy.empty((b,), cupy.int32)
    _launch("donors", "draw_donors", b, (cupy.ascontiguousarray(compat), cupy.ascontiguousarray(index),
                                         *_i32(b, n), np.uint64(key), np.float64(p), donor, wanted, candidates))
    return DonorDraw(donor=donor, wanted=wanted, candidates=candidates)


def dilate(masks, size: int):
    masks = cupy.ascontiguousarray(masks)
    b, h, w = masks.shape
    rows, out = cupy.empty_like(masks), cupy.empty_like(masks)
    _launch("dilate", "max_rows", masks.size, (masks, rows, *_i32(b, h, w, size // 2)))
    _launch("dilate", "max_cols", masks.size, (rows, out, *_i32(b, h, w, size // 2)))
    return out


def pullpush(images, holes):
    images, holes = cupy.ascontiguousarray(images), cupy.ascontiguousarray(holes)
    n, h, w, _ = images.shape
    gain = np.float32(GAIN / 64.0)
    size = ((h + 1) // 2, (w + 1) // 2)
    colour, level = cupy.empty((3, n) + size, cupy.float32), cupy.empty((4, n) + size, cupy.float32)
    _launch("pullpush", "pull_level0", n * size[0] * size[1], (images, holes, *_i32(n, h, w), gain, colour, level))
    levels, colours = [level], [colour]
    while levels[-1].shape[2:] != (1, 1):
        fine = levels[-1]
        size = ((fine.shape[2] + 1) // 2, (fine.shape[3] + 1) // 2)
        colour, level = cupy.empty((3, n) + size, cupy.float32), cupy.empty((4, n) + size, cupy.float32)
        _launch("pullpush", "pull", n * size[0] * size[1], (fine, *_i32(n, *fine.shape[2:]), gain, colour, level))
        levels.append(level)
        colours.append(colour)
    filled = colours[-1]
    for level in reversed(levels[:-1]):
        finer = cupy.empty((3,) + level.shape[1:], cupy.float32)
        _launch("pullpush", "push", finer.size, (filled, level, *_i32(*level.shape[1:]), finer))
        filled = finer
    out = cupy.empty_like(images)
    _launch("pullpush", "fill_holes", n * h * w, (images, holes, filled, *_i32(n, h, w), out))
    return out


def composite(images, rois, backgrounds):
    images, rois, backgrounds = (cupy.ascontiguousarray(a) for a in (images, rois, backgrounds))
    out = cupy.empty_like(images)
    _launch("composite", "composite", rois.size, (images, rois, backgrounds, np.int64(rois.size), out))
    return out
