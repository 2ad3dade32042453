"""Array-library plumbing: which library an array belongs to, and DLPack round trips for torch.

`kernels` never imports CuPy or torch on its own: an array's type names its library, and the
library is taken from `sys.modules` (the caller already imported it). So importing `kernels`
touches no GPU.
"""
from __future__ import annotations

import contextlib
import sys
from types import ModuleType

import numpy as np


def library_of(x) -> str:
    """'numpy', 'cupy' or 'torch' for an array or tensor; anything else raises TypeError."""
    root = type(x).__module__.split(".")[0]
    if root in ("cupy", "torch"):
        return root
    if isinstance(x, np.ndarray):
        return "numpy"
    raise TypeError(f"expected a numpy or cupy array or a torch tensor, got {type(x).__name__}")


def is_cupy(x) -> bool:
    """True for a CuPy array (without importing CuPy)."""
    return type(x).__module__.split(".")[0] == "cupy"


def array_module(x) -> ModuleType:
    """`cupy` for a CuPy array, else `numpy`."""
    return sys.modules["cupy"] if is_cupy(x) else np


def torch_on_gpu(t) -> bool:
    """True for a torch tensor that lives on a CUDA device."""
    return t.device.type == "cuda"


def from_torch(t):
    """A torch tensor as a numpy (CPU) or cupy (CUDA) array sharing its memory: `Tensor.numpy`
    on the CPU (writable; DLPack before torch's DLPack 1.0 export gives NumPy a read-only
    array, which cannot go back to torch), DLPack on the GPU."""
    if torch_on_gpu(t):
        try:
            import cupy
        except ImportError as e:
            raise ImportError("CUDA tensors go to the cupy backend, and CuPy is not installed: install "
                              "the CuPy of your torch's CUDA major, pip install cupy-cuda12x (or cupy-cuda13x), "
                              "or from the project's checkout pip install -e '.[cuda12]' (or [cuda13])") from e
        return cupy.from_dlpack(t.detach())
    return t.detach().numpy()


def to_torch(x):
    """A numpy or cupy array as a torch tensor sharing its memory, via DLPack."""
    import torch

    return torch.from_dlpack(x)


def from_torch_if_tensor(a):
    """Torch tensors as numpy/cupy arrays (DLPack); anything else as it is."""
    return from_torch(a) if hasattr(a, "shape") and library_of(a) == "torch" else a


@contextlib.contextmanager
def device_context(x):
    """Run CuPy work for array `x` under its device and, for a CUDA tensor, torch's current
    stream (so kernels queue behind the torch work that made `x`); nothing on the host."""
    library = library_of(x)
    if library == "cupy":
        with x.device:
            yield
        return
    if library != "torch" or not torch_on_gpu(x):
        yield
        return
    import cupy
    import torch

    stream = torch.cuda.current_stream(x.device)
    with cupy.cuda.Device(x.device.index), cupy.cuda.ExternalStream(stream.cuda_stream, x.device.index):
        yield
