"""Array-library plumbing: which library an array belongs to, DLPack round trips for torch, and
the device memory and stream the cupy backend uses for torch's tensors.

`kernels` never imports CuPy or torch on its own: an array's type names its library, and the
library is taken from `sys.modules` (the caller already imported it). So importing `kernels`
touches no GPU.

Given CUDA tensors, the cupy backend works inside `device_context`: on torch's current stream,
with every device array allocated by torch's caching allocator (`torch_allocator`), scoped to
the call (CuPy's thread-local `using_allocator`; the caller's CuPy allocator is left alone). So
`torch.cuda.memory_allocated` counts the augmentation's memory, torch can reuse it, and the
arrays handed back (`to_torch`) are torch tensors of torch's own memory, to which torch's stream
rules (`record_stream`) apply.
"""
from __future__ import annotations

import contextlib
import functools
import sys
import weakref
from types import ModuleType

import numpy as np

_TORCH_OWNED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
"""Start address of each live allocation `torch_allocator` made -> the torch tensor owning it."""


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
    """A numpy or cupy array as a torch tensor sharing its memory: for a cupy array in memory
    from `torch_allocator`, a view of the torch tensor that owns that memory (so torch's stream
    rules apply to it); otherwise via DLPack."""
    import torch

    data = x.data if is_cupy(x) else None
    owner = None if data is None else _TORCH_OWNED.get(data.mem.ptr)
    itemsize = x.dtype.itemsize
    offset = 0 if owner is None else data.ptr - owner.data_ptr()
    if owner is None or offset % itemsize or any(s % itemsize for s in x.strides):
        return torch.from_dlpack(x)
    view = torch.empty(0, dtype=_torch_dtype(x.dtype), device=owner.device)
    return view.set_(owner.untyped_storage(), offset // itemsize, x.shape, tuple(s // itemsize for s in x.strides))


@functools.lru_cache(maxsize=32)
def _torch_dtype(dtype):
    """torch's dtype for NumPy's `dtype`."""
    import torch

    return torch.from_numpy(np.empty(0, dtype)).dtype


@functools.cache
def torch_allocator(device):
    """A CuPy allocator (bytes -> `cupy.cuda.MemoryPointer`) serving device memory from torch's
    caching allocator on `device` (a torch.device), on torch's current stream of that device:
    each allocation is a uint8 torch tensor, freed back to torch's cache with the last array
    that uses it. One per device (memoized)."""
    import cupy
    import torch

    device_id = -1 if device.index is None else device.index

    def allocate(nbytes: int):
        tensor = torch.empty(max(nbytes, 1), dtype=torch.uint8, device=device)
        _TORCH_OWNED[tensor.data_ptr()] = tensor
        return cupy.cuda.MemoryPointer(cupy.cuda.UnownedMemory(tensor.data_ptr(), nbytes, tensor, device_id), 0)

    return allocate


def from_torch_if_tensor(a):
    """Torch tensors as numpy/cupy arrays (DLPack); anything else as it is."""
    return from_torch(a) if hasattr(a, "shape") and library_of(a) == "torch" else a


@contextlib.contextmanager
def device_context(x):
    """Run CuPy work for array `x` under its device and, for a CUDA tensor, torch's current
    stream (so kernels queue behind the torch work that made `x`) and torch's caching allocator
    (`torch_allocator`, for this thread and this block only); nothing on the host."""
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
    with cupy.cuda.Device(x.device.index), cupy.cuda.ExternalStream(stream.cuda_stream, x.device.index), \
            cupy.cuda.using_allocator(torch_allocator(x.device)):
        yield
