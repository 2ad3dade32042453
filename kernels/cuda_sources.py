"""Where the CUDA sources of the cupy backend live and how they are compiled (no CuPy import).

Each `cuda/<module>.cu` is one part of a single compilation unit: a module may use the
`__device__` functions of the modules listed before it in `MODULES` (never the other way), and
`source(module)` is the text of the modules it needs followed by its own. The backend compiles
`program()`, all of them in order, once per device.
"""
from __future__ import annotations

from pathlib import Path

CUDA_DIR = Path(__file__).parent / "cuda"
MODULES = ("masks", "compat", "donors", "dilate", "pullpush", "composite", "tail", "augment")
NEEDS = {"augment": ("masks", "compat", "donors", "dilate", "pullpush", "tail")}
"""module -> the modules whose device functions it uses (they come first in its source)."""
NVRTC_OPTIONS = ("--fmad=false",)
"""No FMA contraction: float results then round exactly as NumPy's do."""


def file_text(module: str) -> str:
    """The CUDA C++ text of `cuda/<module>.cu` alone."""
    return (CUDA_DIR / f"{module}.cu").read_text()


def source(module: str) -> str:
    """`cuda/<module>.cu` preceded by the modules it needs: a unit that compiles on its own."""
    return "\n".join(file_text(m) for m in (*NEEDS.get(module, ()), module))


def program() -> str:
    """Every module in order: the one unit the cupy backend compiles."""
    return "\n".join(file_text(m) for m in MODULES)
