"""Where the CUDA sources of the cupy backend live and how they are compiled (no CuPy import)."""
from __future__ import annotations

from pathlib import Path

CUDA_DIR = Path(__file__).parent / "cuda"
MODULES = ("masks", "compat", "donors", "dilate", "pullpush", "composite")
NVRTC_OPTIONS = ("--fmad=false",)
"""No FMA contraction: float results then round exactly as NumPy's do."""


def source(module: str) -> str:
    """The CUDA C++ text of `cuda/<module>.cu`."""
    return (CUDA_DIR / f"{module}.cu").read_text()
