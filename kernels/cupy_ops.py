"""CuPy backend: the steps of `kernels` and the fused augmentation as CUDA kernels (`cuda/*.cu`).

Imported only when a step meets a CuPy array. The sources form one compilation unit
(`cuda_sources.program()`), compiled once per device by `cupy.RawModule` (NVRTC,
`--fmad=false` so float results round as NumPy's do) and cached. Every kernel runs on the
current CuPy stream; nothing here waits for the GPU or copies data between host and device
(host scalars travel as kernel arguments). Inputs must be C-contiguous (the public functions
make them so).
"""
from __future__ import annotations

import cupy
import numpy as np

from .cuda_sources import NVRTC_OPTIONS, program
from .inpaint import INPAINTERS
from .masks import ROI_MODES
from .pullpush import GAIN
from .records import DonorDraw, DonorKeys, Rois
from .tail import OUT_TYPES

_BLOCK = 256
_MAX_GRID = 65535
_ROW_LANES = 32  # ROW_LANES of masks.cu: threads of `roi_rows` per mask row
_CHOOSE_BLOCK = 128  # threads per sample of `choose_donors` (at most CHOOSE_MAX_BLOCK of augment.cu)
_PYRAMID_CAPACITY = 1024  # PYRAMID_CAPACITY of pullpush.cu: pixels per channel of `pyramid_top`'s levels
_GAIN_64 = np.float32(GAIN / 64.0)
_FILL_NONE, _FILL_PYRAMID, _FILL_BACKGROUNDS = 0, 1, 2  # FILL_* of augment.cu


@cupy.memoize(for_each_device=True)
def _module() -> cupy.RawModule:
    return cupy.RawModule(code=program(), options=NVRTC_OPTIONS)


def _launch(kernel: str, work: int, args: tuple) -> None:
    """Run a grid-stride kernel over `work` items."""
    if work > 0:
        grid = min(-(-work // _BLOCK), _MAX_GRID)
        _module().get_function(kernel)((grid,), (_BLOCK,), args)


def _launch_blocks(kernel: str, blocks: int, threads: int, args: tuple) -> None:
    """Run a block-stride kernel (one block per item, `blocks` items) with `threads` per block."""
    if blocks > 0:
        _module().get_function(kernel)((min(blocks, _MAX_GRID),), (threads,), args)


def _i32(*values) -> tuple:
    return tuple(np.int32(v) for v in values)


# ---- the steps -------------------------------------------------------------------------------

def _roi_rows(masks) -> tuple:
    """(count, first, last) (B, H) int32: the non-zero pixels, first and last non-zero column of
    every row of masks (B, H, W), by `roi_rows` (one launch over all rows, `_ROW_LANES`
    threads per row)."""
    b, h, w = masks.shape
    rows = tuple(cupy.empty((b, h), cupy.int32) for _ in range(3))
    _launch_blocks("roi_rows", -(-b * h // (_BLOCK // _ROW_LANES)), _BLOCK, (masks, np.int64(b * h), np.int32(w), *rows))
    return rows


def _roi_boxes(b: int) -> tuple:
    """band (B, 2), boxes (B, 4), areas (B,) int32, to be filled."""
    return cupy.empty((b, 2), cupy.int32), cupy.empty((b, 4), cupy.int32), cupy.empty((b,), cupy.int32)


def roi_masks(masks, roi: str, split: float) -> Rois:
    masks = cupy.ascontiguousarray(masks)
    b, h, w = masks.shape
    band, boxes, areas = _roi_boxes(b)
    _launch_blocks("roi_boxes", b, _BLOCK, (*_roi_rows(masks), *_i32(b, h, w, ROI_MODES[roi].code), np.float64(split),
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


def _pyramid_sizes(h1: int, w1: int) -> tuple[list, int]:
    """The sizes of the levels from level 1 (h1, w1) up to the 1x1 top, and the first of them
    whose coarser levels fit `pyramid_top`'s shared memory (the levels before it take a `pull`
    and a `push` launch each)."""
    sizes = [(h1, w1)]
    while sizes[-1] != (1, 1):
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
    above = [sum(h * w for h, w in sizes[k + 1:]) for k in range(len(sizes))]
    return sizes, next(k for k in range(len(sizes)) if above[k] <= _PYRAMID_CAPACITY)


def _colour_of(n: int, h: int, w: int, level):
    """The colour (3, n, 1, 1) a pull writes when its level (h, w) is the 1x1 top (the only
    colour ever read), else None (and `level` stands in for the pointer, never written):
    (with_colour, colour array) kernel arguments."""
    if (h, w) == (1, 1):
        colour = cupy.empty((3, n, 1, 1), cupy.float32)
        return (np.int32(1), colour), colour
    return (np.int32(0), level), None


def _pyramid(level, colour):
    """Filled level 1 (3, n, h1, w1) from level 1 (4, n, h1, w1) (and its colour (3, n, 1, 1)
    when level 1 is the 1x1 top, else None).

    Levels whose coarser levels together exceed `_PYRAMID_CAPACITY` pixels take a `pull` and a
    `push` launch each; the rest of the pyramid is one `pyramid_top` launch (none when level 1
    is already 1x1)."""
    n = level.shape[1]
    sizes, small = _pyramid_sizes(*level.shape[2:])
    levels = [level]
    for h, w in sizes[1: small + 1]:
        fine = levels[-1]
        level = cupy.empty((4, n, h, w), cupy.float32)
        colour_args, colour = _colour_of(n, h, w, level)
        _launch("pull", n * h * w, (fine, *_i32(n, *fine.shape[2:]), _GAIN_64, *colour_args, level))
        levels.append(level)
    if small == len(sizes) - 1:  # level `small` is the 1x1 top: filled = its colour
        filled = colour
    else:
        filled = cupy.empty((3,) + levels[-1].shape[1:], cupy.float32)
        _launch_blocks("pyramid_top", n, _BLOCK, (levels[-1], *_i32(n, *sizes[small]), _GAIN_64, filled))
    for level in reversed(levels[:-1]):
        finer = cupy.empty((3,) + level.shape[1:], cupy.float32)
        _launch("push", finer.size, (filled, level, *_i32(*level.shape[1:]), finer))
        filled = finer
    return filled


def _level1(n: int, h: int, w: int) -> tuple:
    """Level 1 (4, n, ceil(h/2), ceil(w/2)) float32, the colour arguments of its pull and its
    colour (see `_colour_of`)."""
    h1, w1 = (h + 1) // 2, (w + 1) // 2
    level = cupy.empty((4, n, h1, w1), cupy.float32)
    return (level, *_colour_of(n, h1, w1, level))


def pullpush(images, holes):
    images, holes = cupy.ascontiguousarray(images), cupy.ascontiguousarray(holes)
    n, h, w, _ = images.shape
    level, colour_args, colour = _level1(n, h, w)
    _launch("pull_level0", level[0].size, (images, holes, *_i32(n, h, w), _GAIN_64, *colour_args, level))
    filled = _pyramid(level, colour)
    out = cupy.empty_like(images)
    _launch("fill_holes", n * h * w, (images, holes, filled, *_i32(n, h, w), out))
    return out


def composite(images, rois, backgrounds):
    images, rois, backgrounds = (cupy.ascontiguousarray(a) for a in (images, rois, backgrounds))
    out = cupy.empty_like(images)
    _launch("composite", rois.size, (images, rois, backgrounds, np.int64(rois.size), out))
    return out


def _tail_output(b: int, h: int, w: int, tail):
    """The output of the tail and the view returned: (B, 3, H, W) of the tail's element type
    (`OUT_TYPES`: bfloat16 as its uint16 bits), NHWC memory if asked."""
    dtype = OUT_TYPES[tail.dtype].storage
    if tail.channels_last:
        out = cupy.empty((b, h, w, 3), dtype)
        return out, out.transpose(0, 3, 1, 2)
    out = cupy.empty((b, 3, h, w), dtype)
    return out, out


def _tail_scalars(tail) -> tuple:
    return (*(np.float32(v) for v in (*tail.mean, *tail.std, *tail.fill)), np.int32(tail.channels_last),
            np.int32(OUT_TYPES[tail.dtype].code))


def bot_tail(images, flip, crop_anchor, erase_anchor, erase_shape, tail):
    images = cupy.ascontiguousarray(images)
    b, h, w, _ = images.shape
    out, view = _tail_output(b, h, w, tail)
    _launch("bot_tail", b * h * w, (images, flip, crop_anchor, erase_anchor, erase_shape, *_i32(b, h, w),
                                    *_tail_scalars(tail), out))
    return view


# ---- the fused augmentation -------------------------------------------------------------------

def _fused_pyramid(images, bank_images, donor, holes, b: int, h: int, w: int):
    """`Inpainter.fused` "pyramid" (pull-push): level 1 of every sample's donor image, pulled
    straight from the batch or the bank, filled up to the top and back: (FILL_PYRAMID, filled
    (3, B, ceil(H/2), ceil(W/2)) float32)."""
    level, colour_args, colour = _level1(b, h, w)
    _launch("pull_donor_level0", level[0].size,
            (images, bank_images, donor, holes, *_i32(b, h, w), _GAIN_64, *colour_args, level))
    return _FILL_PYRAMID, _pyramid(level, colour)


_FUSED_FILLS = {"pyramid": _fused_pyramid}
"""`Inpainter.fused` -> the fused path's own form of the method."""


def _gathered_fill(inpainter, images, bank_images, donor, holes, boxes, bank_boxes, b: int, h: int, w: int):
    """Any other inpainter that runs on cupy: the donor images gathered into (B, H, W, 3) and
    filled by its `fill` (with its radius for the donor ROI boxes' widths, as the numpy
    backend gives it): (FILL_BACKGROUNDS, backgrounds (B, H, W, 3) uint8)."""
    gathered = cupy.empty_like(images)
    _launch("gather_donors", gathered.size, (images, bank_images, donor, *_i32(b, h, w), gathered))
    radius = None
    if inpainter.radius is not None:
        pool_boxes = boxes if bank_boxes is None else cupy.concatenate([boxes, bank_boxes])
        taken = pool_boxes[cupy.maximum(donor, 0)]
        radius = inpainter.radius_for(taken[:, 3] - taken[:, 2] + 1)
    return _FILL_BACKGROUNDS, inpainter.fill(gathered, holes, radius)


def attention_augment(config, bank, images, masks, pids, viewpoints, index, index_base: int, key: int,
                      canvas: tuple[int, int], tail=None, tail_arrays=()):
    """The whole augmentation of a batch on the GPU, without waiting for it.

    images (B, H, W, 3) uint8, masks (B, H, W) uint8, pids, viewpoints (B,) int64, index (B,)
    int64 or None (then sample i has index `index_base + i`), all C-contiguous on the device;
    `key` the RNG key of (seed, epoch); `canvas` (Hc, Wc) of the normalized masks; `bank` a
    `DonorBank` (its fill count is a host counter);
    `tail` a `Tail` with its arrays checked (`tail_arrays`) or None.
    Returns (images, donor, wanted, candidates, swapped, donor_pids): images (B, H, W, 3) uint8,
    or (B, 3, H, W) of the tail's element type after the tail.
    Launches: roi_rows, roi_keys, the GEMM batch x batch (and batch x bank when the bank holds
    samples), choose_donors; with an inpainter (`INPAINTERS`): dilate_donor_rows, max_cols and
    its fill -- pull-push: pull_donor_level0, the pyramid (a `pull` and a `push` per large
    level, one `pyramid_top`); another cupy method: gather_donors, then its own operations;
    finish or finish_tail; bank_push when the bank has slots. The ROI masks are never stored:
    the kernels read them off the masks and the bands.
    """
    inpainter = INPAINTERS[config.inpaint]
    if inpainter.fused is not None and inpainter.fused not in _FUSED_FILLS:
        raise ValueError(f"inpaint={config.inpaint!r}: its fused form {inpainter.fused!r} is not one of "
                         f"{list(_FUSED_FILLS)} of the cupy backend")
    b, h, w, _ = images.shape
    ch, cw = canvas
    k = ch * cw
    band, boxes, areas = _roi_boxes(b)
    normalized = cupy.empty((b, k), cupy.float32)
    _launch_blocks("roi_keys", b, _BLOCK, (masks, *_roi_rows(masks), *_i32(b, h, w, ROI_MODES[config.roi].code),
                                           np.float64(config.split), *_i32(ch, cw), band, boxes, areas, normalized))
    inter = cupy.matmul(normalized, normalized.T)  # (B, B) float32 exact counts; the diagonal: ones per mask
    store = bank.device_store(images, k) if bank.size else None
    s = bank.filled if store is not None else 0
    if s:
        inter_bank = cupy.matmul(normalized, store["normalized"][:s].T)  # (B, S)
        bank_keys = tuple(store[name] for name in ("ones", "areas", "pids", "viewpoints"))
        bank_images, bank_rois, bank_boxes = store["images"], store["rois"], store["boxes"][:s]
    else:  # placeholders of the right types: never read with S = 0
        inter_bank, bank_keys, bank_images, bank_rois, bank_boxes = inter, (inter, areas, pids, viewpoints), images, \
            masks, None
    donor, donor_pids = cupy.empty((b,), cupy.int64), cupy.empty((b,), cupy.int64)
    wanted, swapped = cupy.empty((b,), cupy.bool_), cupy.empty((b,), cupy.bool_)
    candidates = cupy.empty((b,), cupy.int32)
    _launch_blocks("choose_donors", b, _CHOOSE_BLOCK,
                   (inter, inter_bank, areas, pids, viewpoints, pids if index is None else index,
                    np.int64(index_base), np.int32(index is not None), *bank_keys, *_i32(b, s), np.uint64(key),
                    np.float64(config.p), np.float64(config.min_area_ratio), np.float64(config.min_iou),
                    np.int32(config.same_viewpoint), donor, wanted, candidates, swapped, donor_pids))
    holes, filled, backgrounds, fill = masks, normalized, images, _FILL_NONE  # placeholders, never read without fill
    if inpainter.fill is not None:
        r = config.dilate // 2
        rows, holes = cupy.empty((b, h, w), cupy.uint8), cupy.empty((b, h, w), cupy.uint8)
        _launch("dilate_donor_rows", b * h * w, (masks, band, bank_rois, donor, *_i32(b, h, w, r), rows))
        _launch("max_cols", b * h * w, (rows, holes, *_i32(b, h, w, r)))
        if inpainter.fused is not None:
            fill, filled = _FUSED_FILLS[inpainter.fused](images, bank_images, donor, holes, b, h, w)
        else:
            fill, backgrounds = _gathered_fill(inpainter, images, bank_images, donor, holes, boxes, bank_boxes, b, h,
                                               w)
    swap_args = (images, masks, band, bank_images, donor, holes, filled, backgrounds, *_i32(fill, b, h, w))
    if tail is None:
        out = view = cupy.empty_like(images)
        _launch("finish", b * h * w, (*swap_args, out))
    else:
        out, view = _tail_output(b, h, w, tail)
        _launch("finish_tail", b * h * w, (*swap_args, *tail_arrays, *_tail_scalars(tail), out))
    if store is not None:
        slot, count, clear_from = bank.advance(b)
        stored = tuple(store[name] for name in ("images", "rois", "boxes", "normalized", "ones", "areas", "pids",
                                                 "viewpoints"))
        work = (count + bank.size - clear_from) * max(h * w, k)
        _launch("bank_push", work, (images, masks, band, boxes, normalized, inter, areas, pids, viewpoints,
                                    *_i32(b, h, w, k, bank.size, slot, count, clear_from), *stored))
    return view, donor, wanted, candidates, swapped, donor_pids
