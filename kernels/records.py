"""The records the steps pass between each other, shared by both backends (no array code here).

Every field is an array of the caller's library (numpy or cupy), all on the same device.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rois:
    """ROI masks of a batch with their areas and bounding boxes (same array library as the input).

    masks: (B, H, W) uint8 in {0, 1}.
    boxes: (B, 4) int32 (y0, y1, x0, x1), inclusive; (0, -1, 0, -1) where the ROI is empty.
    areas: (B,) int32 pixel counts (0 = empty: never a ROI, never a donor).
    """

    masks: object
    boxes: object
    areas: object


@dataclass(frozen=True)
class DonorKeys:
    """What compatibility looks at, per sample (same array library for all fields).

    areas: (N,) int32 ROI pixel counts (0 = empty). normalized: (N, K) float32 {0, 1}
    normalized masks. pids: (N,) int64. viewpoints: (N,) int64, negative = unknown.
    """

    areas: object
    normalized: object
    pids: object
    viewpoints: object


@dataclass(frozen=True)
class DonorDraw:
    """Drawn donors of a batch (same array library as the compatibility matrix).

    donor: (B,) int64 pool index, -1 = not swapped. wanted: (B,) bool, `u < p` came out.
    candidates: (B,) int32 number of compatible donors.
    """

    donor: object
    wanted: object
    candidates: object
