"""The tables of `kernels`: the choices of `AugmentConfig` and every number the CUDA code shares
with Python. A leaf: it imports nothing of the package, so every module (the numpy steps, the
cupy backend, the CUDA source generator `cuda_sources`) reads its tables from here.

`cuda_sources.definitions()` turns these tables into the `#define`s every CUDA unit starts with
(ROI_BAND_EDGES, BAND_EDGE_<EDGE>, EMPTY_BOX_<COORD>, FILL_<FILL>, OUT_<TYPE>, and the launch
limits of `LAUNCH_LIMITS`); the CUDA files spell out none of them. A new ROI mode or inpainter
is an entry here plus its code (see docs/design.md, "Contributor recipes").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ---- ROI modes (kernels.masks) ---------------------------------------------------------------

BAND_EDGES = ("top", "cut", "bottom")
"""The edges a ROI band runs between, over the rows y0..y1 of a mask's bounding box (h = y1 -
y0 + 1): "top" y0, "cut" `y0 + floor(split * h + 0.5)`, "bottom" y1 + 1. Their numbers in the
CUDA code are their positions here (BAND_EDGE_TOP, ...)."""


@dataclass(frozen=True)
class RoiMode:
    """A ROI mode. code: its number in the CUDA code (0, 1, ... over `ROI_MODES`); band: the
    (start, stop) edges of the rows of the bounding box it keeps, two of `BAND_EDGES`."""

    code: int
    band: tuple[str, str]


ROI_MODES = {
    "full": RoiMode(0, ("top", "bottom")),
    "upper": RoiMode(1, ("top", "cut")),
    "lower": RoiMode(2, ("cut", "bottom")),
}
"""name -> `RoiMode`: the ROI modes of `roi_masks` (and of `AugmentConfig.roi`)."""

CANVAS = (72, 24)
"""(Hc, Wc) of normalized masks: 24 columns, room for a person box up to 3x taller than wide."""

EMPTY_BOX = (0, -1, 0, -1)
"""Bounding box (y0, y1, x0, x1) reported for an empty ROI."""

# ---- inpainters (kernels.inpaint) ------------------------------------------------------------


@dataclass(frozen=True)
class Inpainter:
    """An inpainting method; its fill function is `inpaint.FILLS[name]`.

    backends: the array backends it runs on ("numpy", "cupy"). fills: False for the method that
    keeps the images as they are (no fill function). radius: the radius it is given, as this
    fraction of the width of the hole's bounding box; None: it takes no radius. fused: the fused
    GPU path's own form of the method (a key of `HOLE_FILLS` other than "none" and
    "backgrounds", "pyramid": pull-push pulled straight from the donors); None: that path
    gathers the donor images and calls the fill function on them (any method that runs on cupy
    runs there).
    """

    backends: tuple[str, ...]
    fills: bool = True
    radius: float | None = None
    fused: str | None = None

    def radius_for(self, width):
        """The radius for holes whose bounding boxes are `width` (a number or array) wide; None
        for a method without radius."""
        return None if self.radius is None else self.radius * width


INPAINTERS = {
    "pullpush": Inpainter(("numpy", "cupy"), fused="pyramid"),
    "telea": Inpainter(("numpy",), radius=0.1),  # OpenCV; a tenth of the box width: the paper's choice
    "none": Inpainter(("numpy", "cupy"), fills=False),
}
"""name -> `Inpainter`: the methods of `inpaint` (and of `AugmentConfig.inpaint`)."""

HOLE_FILLS = ("none", "pyramid", "backgrounds")
"""How the fused GPU path's last kernel fills the donor's hole, numbered by position (FILL_NONE,
...): not at all (the donor's own pixels), from the filled pull-push pyramid (`Inpainter.fused`
"pyramid"), or from whole inpainted donor images (any other method)."""

# ---- the BoT tail (kernels.tail) -------------------------------------------------------------


@dataclass(frozen=True)
class OutType:
    """An element type of the tail's output: its number in the CUDA code (OUT_<NAME>) and the
    NumPy/CuPy dtype that stores it (bfloat16: its bits, uint16)."""

    code: int
    storage: type


OUT_TYPES = {"float32": OutType(0, np.float32), "float16": OutType(1, np.float16), "bfloat16": OutType(2, np.uint16)}
"""`Tail.dtype` -> `OutType`."""

# ---- launch limits shared by the kernels and their launchers (kernels.cupy_ops) ---------------

LAUNCH_LIMITS = {
    "ROW_LANES": 32,  # threads of `roi_rows` that read one mask row together (the launch's block: a multiple)
    "CHOOSE_MAX_BLOCK": 1024,  # threads per block of `choose_donors` at most
    "PYRAMID_CAPACITY": 1024,  # pixels per channel `pyramid_top` holds in shared memory (its levels together)
}
"""name -> value of the `#define`s that size the kernels' shared memory and that their launchers
obey."""
