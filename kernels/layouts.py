"""The image layouts and value ranges `AttentionAugment` accepts, to and from its own
(B, H, W, 3) uint8.

Users hold channels-first batches (torchvision, most training code) and float images in [0, 1]
(`ToTensor`) or [0, 255]; the augmentation works on channels-last uint8. A float batch is
rounded to 8 bits on the way in (the swap copies pixels; nothing finer survives a JPEG anyway)
and scaled back on the way out. Each conversion is one or two array operations (device
operations on the GPU).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .arrays import array_module

LAYOUTS = ("BHWC", "BCHW")
VALUE_RANGES = (1.0, 255.0)


def _hint(images, layout: str, value_range) -> str:
    """What to pass for `images` that are not (B, H, W, 3) uint8 under `layout`/`value_range`."""
    shape, kind = tuple(images.shape), images.dtype.kind
    if layout == "BHWC" and len(shape) == 4 and shape[1] == 3 and shape[3] != 3:
        return "; channels-first images: pass layout='BCHW'"
    if kind == "f" and value_range is None:
        return "; float images: pass value_range=1.0 (values in [0, 1], as torchvision's ToTensor) or 255.0"
    return ""


def to_uint8_bhwc(images, layout: str, value_range) -> tuple[object, Callable]:
    """(images as (B, H, W, 3) uint8, a function taking an augmented batch back to the caller's
    layout, dtype and range). Raises ValueError when they are not that after the conversion,
    naming the argument to pass."""
    if layout not in LAYOUTS:
        raise ValueError(f"AttentionAugment: layout={layout!r}: expected one of {list(LAYOUTS)}")
    if value_range is not None and float(value_range) not in VALUE_RANGES:
        raise ValueError(f"AttentionAugment: value_range={value_range!r}: expected one of {list(VALUE_RANGES)} "
                         f"(or None for uint8 images)")
    xp = array_module(images)
    given, dtype = images, images.dtype
    if value_range is not None and dtype.kind == "f":
        scale = 255.0 / float(value_range)
        images = xp.clip(xp.rint(images * scale), 0, 255).astype(np.uint8)
    if layout == "BCHW" and images.ndim == 4:
        images = xp.ascontiguousarray(images.transpose(0, 2, 3, 1))
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"AttentionAugment: images must be (B, H, W, 3) uint8, or (B, 3, H, W) with "
                         f"layout='BCHW', got {tuple(given.shape)} {given.dtype}" + _hint(given, layout, value_range))

    def back(out):
        if layout == "BCHW":
            out = out.transpose(0, 3, 1, 2)
        if value_range is not None and dtype.kind == "f":
            out = out.astype(dtype) * dtype.type(float(value_range) / 255.0)
        return out

    return images, back


def masks_bhw(masks, layout: str, shape: tuple[int, int, int]):
    """(B, H, W) masks for images of `shape` (B, H, W): (B, H, W) as given, (B, H, W, 1) under
    BHWC (what `ReIDLoader(return_masks=True)` yields) and (B, 1, H, W) under BCHW squeezed; any
    dtype, non-zero = person (uint8 and bool kept). ValueError listing these otherwise."""
    b, h, w = (int(n) for n in shape)
    accepted = [(b, h, w), (b, h, w, 1) if layout == "BHWC" else (b, 1, h, w)]
    if tuple(masks.shape) not in accepted:
        raise ValueError(f"AttentionAugment: masks must be {accepted[0]} or {accepted[1]} with layout={layout!r} "
                         f"(uint8, bool or float, non-zero = person), got {tuple(masks.shape)} {masks.dtype}")
    if masks.ndim == 4:
        masks = masks[..., 0] if layout == "BHWC" else masks[:, 0]
    if masks.dtype not in (np.uint8, np.bool_):
        masks = (masks != 0).astype(np.uint8)
    return masks
