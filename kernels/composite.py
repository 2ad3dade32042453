"""Compositing: each sample's ROI over its donor's inpainted background."""
from __future__ import annotations

import cv2
import numpy as np

from .arrays import is_cupy


def composite(images, rois, backgrounds):
    """`where(rois, images, backgrounds)` per pixel.

    images, backgrounds: (B, H, W, 3) uint8. rois: (B, H, W) uint8, non-zero = keep `images`.
    Returns a new (B, H, W, 3) uint8 array in the library of `images`.

    >>> img = np.full((1, 2, 2, 3), 9, np.uint8); bg = np.zeros_like(img)
    >>> roi = np.array([[[1, 0], [0, 0]]], np.uint8)
    >>> composite(img, roi, bg)[0, :, :, 0].tolist()
    [[9, 0], [0, 0]]
    """
    if tuple(images.shape) != tuple(backgrounds.shape) or tuple(rois.shape) != tuple(images.shape[:3]):
        raise ValueError(f"composite: expected images and backgrounds (B, H, W, 3) and rois (B, H, W), got "
                         f"{tuple(images.shape)}, {tuple(backgrounds.shape)}, {tuple(rois.shape)}")
    if is_cupy(images):
        from . import cupy_ops

        return cupy_ops.composite(images, rois, backgrounds)
    out = backgrounds.copy()
    if out.size:
        b, h, w, _ = images.shape
        cv2.copyTo(images.reshape(b * h, w, 3), rois.reshape(b * h, w), out.reshape(b * h, w, 3))
    return out
