"""The fused cupy path of `AttentionAugment`: the whole augmentation of a batch (and the BoT tail)
as a dozen kernel launches built from the device functions of `cuda/*.cu` (see `augment.cu`).

Imported only when `AttentionAugment` meets CuPy arrays. Runs on the current CuPy stream with
the current CuPy allocator, without waiting for the GPU or copying between host and device. Its
memory per call: one scratch allocation for every intermediate array (`cupy_ops.Scratch`), one
for the small per-sample results and one for the images it returns.
"""
from __future__ import annotations

import functools

import cupy
import numpy as np

from . import cupy_ops
from .cupy_ops import _BLOCK, _GAIN_64, _ALIGN, _i32, _launch, _launch_blocks
from .inpaint import FILLS
from .tables import HOLE_FILLS, INPAINTERS, ROI_MODES

FILL_NONE, FILL_PYRAMID, FILL_BACKGROUNDS = (HOLE_FILLS.index(name) for name in ("none", "pyramid", "backgrounds"))
"""How the donor's hole is filled (`tables.HOLE_FILLS`, FILL_* of the CUDA code)."""


def _fused_pyramid(images, bank_images, donor, holes, b: int, h: int, w: int, empty):
    """`Inpainter.fused` "pyramid" (pull-push): level 1 of every sample's donor image, pulled
    straight from the batch or the bank, filled up to the top and back: (FILL_PYRAMID, filled
    (3, B, ceil(H/2), ceil(W/2)) float32)."""
    level, colour_args, colour = cupy_ops.level1(b, h, w, empty)
    _launch("pull_donor_level0", level[0].size,
            (images, bank_images, donor, holes, *_i32(b, h, w), _GAIN_64, *colour_args, level))
    return FILL_PYRAMID, cupy_ops.pyramid(level, colour, empty)


FUSED_FILLS = {"pyramid": _fused_pyramid}
"""`Inpainter.fused` -> the fused path's own form of the method."""


def _gathered_fill(inpainter, fill, images, bank_images, donor, holes, boxes, bank_boxes, b: int, h: int, w: int):
    """Any other inpainter that runs on cupy: the donor images gathered into (B, H, W, 3) and
    filled by its fill function (`inpaint.FILLS`, with its radius for the donor ROI boxes'
    widths, as the numpy backend gives it): (FILL_BACKGROUNDS, backgrounds (B, H, W, 3) uint8)."""
    gathered = cupy.empty_like(images)
    _launch("gather_donors", gathered.size, (images, bank_images, donor, *_i32(b, h, w), gathered))
    radius = None
    if inpainter.radius is not None:
        pool_boxes = boxes if bank_boxes is None else cupy.concatenate([boxes, bank_boxes])
        taken = pool_boxes[cupy.maximum(donor, 0)]
        radius = inpainter.radius_for(taken[:, 3] - taken[:, 2] + 1)
    return FILL_BACKGROUNDS, fill(gathered, holes, radius)


_RESULTS = (np.int64, np.int64, np.int32, np.bool_, np.bool_)
"""The dtypes of donor, donor_pids, candidates, wanted, swapped."""


@functools.lru_cache(maxsize=16)
def _results_layout(b: int) -> tuple[int, tuple]:
    """(bytes, ((start, stop, dtype) per result)) of the per-sample results of a batch of `b`."""
    spans, at = [], 0
    for dtype in _RESULTS:
        spans.append((at, at + b * np.dtype(dtype).itemsize, dtype))
        at = -(-spans[-1][1] // _ALIGN) * _ALIGN
    return max(at, 1), tuple(spans)


def _per_sample_results(b: int) -> tuple:
    """donor, donor_pids (B,) int64, candidates (B,) int32, wanted, swapped (B,) bool: views of
    one allocation (what the call returns besides the images)."""
    size, spans = _results_layout(b)
    memory = cupy.empty(size, cupy.uint8)
    return tuple(memory[start: stop].view(dtype) for start, stop, dtype in spans)


@functools.lru_cache(maxsize=16)
def _settings(config) -> tuple:
    """The kernel arguments `config` (an `AugmentConfig`) decides: ROI mode and split of
    `roi_keys`; p, min_area_ratio, min_iou, same_viewpoint of `choose_donors`; the dilation's radius."""
    return ((np.int32(ROI_MODES[config.roi].code), np.float64(config.split)),
            (np.float64(config.p), np.float64(config.min_area_ratio), np.float64(config.min_iou),
             np.int32(config.same_viewpoint)), np.int32(config.dilate // 2))


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
    if inpainter.fused is not None and inpainter.fused not in FUSED_FILLS:
        raise ValueError(f"inpaint={config.inpaint!r}: its fused form {inpainter.fused!r} is not one of "
                         f"{list(FUSED_FILLS)} of the cupy backend")
    b, h, w, _ = images.shape
    bhw = _i32(b, h, w)
    ch, cw = canvas
    k = ch * cw
    roi, choice, radius = _settings(config)
    store = bank.device_store(images, k) if bank.size else None
    s = bank.filled if store is not None else 0
    scratch = cupy_ops.Scratch((b, h, w, k, s, config.inpaint))
    empty = scratch.empty
    band, boxes, areas = cupy_ops.roi_boxes(b, empty)
    normalized = empty((b, k), cupy.float32)
    _launch_blocks("roi_keys", b, _BLOCK, (masks, *cupy_ops.roi_rows(masks, empty), *bhw, *roi, *_i32(ch, cw), band,
                                           boxes, areas, normalized))
    inter = cupy.matmul(normalized, normalized.T, out=empty((b, b), cupy.float32))  # exact counts; diagonal: ones
    if s:
        inter_bank = cupy.matmul(normalized, store["normalized"][:s].T, out=empty((b, s), cupy.float32))
        bank_keys = tuple(store[name] for name in ("ones", "areas", "pids", "viewpoints"))
        bank_images, bank_rois, bank_boxes = store["images"], store["rois"], store["boxes"][:s]
    else:  # placeholders of the right types: never read with S = 0
        inter_bank, bank_keys, bank_images, bank_rois, bank_boxes = inter, (inter, areas, pids, viewpoints), images, \
            masks, None
    donor, donor_pids, candidates, wanted, swapped = _per_sample_results(b)
    _launch_blocks("choose_donors", b, cupy_ops._CHOOSE_BLOCK,
                   (inter, inter_bank, areas, pids, viewpoints, pids if index is None else index,
                    np.int64(index_base), np.int32(index is not None), *bank_keys, *_i32(b, s), np.uint64(key),
                    *choice, donor, wanted, candidates, swapped, donor_pids))
    holes, filled, backgrounds, fill = masks, normalized, images, FILL_NONE  # placeholders, never read without fill
    if inpainter.fills:
        rows, holes = empty((b, h, w), cupy.uint8), empty((b, h, w), cupy.uint8)
        _launch("dilate_donor_rows", b * h * w, (masks, band, bank_rois, donor, *bhw, radius, rows))
        _launch("max_cols", b * h * w, (rows, holes, *bhw, radius))
        if inpainter.fused is not None:
            fill, filled = FUSED_FILLS[inpainter.fused](images, bank_images, donor, holes, b, h, w, empty)
        else:
            fill, backgrounds = _gathered_fill(inpainter, FILLS[config.inpaint], images, bank_images, donor, holes,
                                               boxes, bank_boxes, b, h, w)
    swap_args = (images, masks, band, bank_images, donor, holes, filled, backgrounds, np.int32(fill), *bhw)
    if tail is None:
        out = view = cupy.empty_like(images)
        _launch("finish", b * h * w, (*swap_args, out))
    else:
        out, view = cupy_ops.tail_output(b, h, w, tail)
        _launch("finish_tail", b * h * w, (*swap_args, *tail_arrays, *cupy_ops.tail_scalars(tail), out))
    if store is not None:
        slot, count, clear_from = bank.advance(b)
        stored = tuple(store[name] for name in ("images", "rois", "boxes", "normalized", "ones", "areas", "pids",
                                                 "viewpoints"))
        work = (count + bank.size - clear_from) * max(h * w, k)
        _launch("bank_push", work, (images, masks, band, boxes, normalized, inter, areas, pids, viewpoints,
                                    *_i32(b, h, w, k, bank.size, slot, count, clear_from), *stored))
    scratch.done()
    return view, donor, wanted, candidates, swapped, donor_pids

