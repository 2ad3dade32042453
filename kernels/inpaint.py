"""Inpainting of donor holes: `inpaint`, and `FILLS`, the fill function of each method of
`tables.INPAINTERS` (which says the backends each runs on and its radius)."""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from .arrays import is_cupy
from .controls import backend_problem
from .pullpush import pullpush
from .tables import INPAINTERS


def inpaint(images, holes, method: str = "pullpush", radius=None):
    """Fill `holes` of `images` with `method` (`INPAINTERS`); pixels outside the holes are returned unchanged.

    images: (B, H, W, 3) uint8. holes: (B, H, W) uint8, non-zero = fill. Same array library.
    method: "pullpush" (numpy or cupy; see `kernels.pullpush`), "telea" (`cv2.inpaint` with
    INPAINT_TELEA, one OpenCV call per image, numpy only) or "none" (a copy of `images`).
    radius: for a method with a radius (Telea): a number or (B,) numbers; default the method's
    fraction (`tables.Inpainter.radius`) of the width of each hole's bounding box (at least 1).
    Returns (B, H, W, 3) uint8 in the library of `images`.

    >>> img = np.full((1, 8, 8, 3), 200, np.uint8); hole = np.zeros((1, 8, 8), np.uint8)
    >>> hole[0, 3:5, 3:5] = 1; img[0, 3:5, 3:5] = 0
    >>> int(inpaint(img, hole)[0, 4, 4, 0])
    200
    """
    if method not in INPAINTERS:
        raise ValueError(f"inpaint: method={method!r}: expected one of {list(INPAINTERS)}")
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"inpaint: images must be (B, H, W, 3) uint8, "
                         f"got shape {tuple(images.shape)} dtype {images.dtype}")
    if tuple(holes.shape) != tuple(images.shape[:3]) or holes.dtype != np.uint8:
        raise ValueError(f"inpaint: holes must be {tuple(images.shape[:3])} uint8 (B, H, W of images), "
                         f"got shape {tuple(holes.shape)} dtype {holes.dtype}")
    if is_cupy(images) != is_cupy(holes):
        raise ValueError("inpaint: images and holes must both be numpy or both be cupy arrays")
    inpainter = INPAINTERS[method]
    if not inpainter.fills or images.shape[0] == 0:
        return images.copy()
    problem = inpainter_problem(method, "cupy" if is_cupy(images) else "numpy")
    if problem:
        raise ValueError(f"inpaint: method={problem}")
    if radius is None and inpainter.radius is not None:
        radius = inpainter.radius_for(_hole_widths(holes))
    return FILLS[method](images, holes, radius)


def inpainter_problem(name: str, backend: str) -> str | None:
    """Why inpainting method `name` (`INPAINTERS`) cannot run on array backend `backend`
    ("numpy" or "cupy"), or None when it can.

    >>> inpainter_problem("telea", "cupy")
    "'telea' runs on the numpy backend only; on cupy use 'pullpush' or 'none'"
    """
    return backend_problem(INPAINTERS, name, backend)


def _hole_widths(holes):
    """(B,) width of each hole's bounding box (0 for an empty hole)."""
    columns = holes.any(axis=1)  # (B, W)
    return columns.shape[1] - columns.argmax(axis=1) - columns[:, ::-1].argmax(axis=1)


def _pullpush(images, holes, radius):
    if is_cupy(images):
        from . import cupy_ops

        return cupy_ops.pullpush(images, holes)
    return pullpush(images, holes)


def _telea(images: np.ndarray, holes: np.ndarray, radius) -> np.ndarray:
    radius = np.maximum(np.broadcast_to(np.asarray(radius, np.float64), (len(images),)), 1.0)
    return np.stack([cv2.inpaint(img, hole, float(r), cv2.INPAINT_TELEA)
                     for img, hole, r in zip(images, holes, radius)])


FILLS: dict[str, Callable] = {"pullpush": _pullpush, "telea": _telea}
"""name -> fill of every method of `INPAINTERS` that fills: (images, holes, radius) -> the filled
images, in the library of `images`; it fills each image on its own and leaves the pixels
outside the holes unchanged."""
