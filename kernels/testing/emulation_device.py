"""What the CPU emulation of CuPy (`emulation`) models of the device besides the kernels: the
current device and stream, the allocator that serves device memory, and a `Recorder` of what
the code under test asked of the device.

CuPy's rules, as the emulation keeps them: the current stream is per thread (the default
stream, pointer 0, unless `cuda.ExternalStream(ptr)` or `cuda.Stream` is entered); every new
device array is allocated by the current allocator -- the thread's `cuda.using_allocator(...)`
if one is entered, else the process-wide `cuda.set_allocator(...)`, else CuPy's own pool --
which returns a `MemoryPointer`; the array keeps that pointer (and so its memory's owner)
alive. A `Recorder` sees each device operation with the stream it was queued on, each host
synchronization, and each allocation with the allocator that served it.
"""
from __future__ import annotations

import contextlib
import ctypes
import math
import threading

import numpy as np

POOL = "cupy's pool"
"""How a `Recorder` names allocations served by CuPy's own pool (no allocator set)."""


class Recorder:
    """What the code under test asked of the device: `ops` (names, in order), `streams` (the
    stream pointer each op was queued on), `syncs`, `allocations` ((bytes, allocator), the
    allocator a callable or `POOL`) and, in a "trace" build, `traffic` ((kernel, bytes read,
    bytes written) per launch)."""

    def __init__(self, execute: bool = True):
        self.execute = execute
        self.ops: list[str] = []
        self.streams: list[int] = []
        self.syncs: list[str] = []
        self.allocations: list[tuple[int, object]] = []
        self.traffic: list[tuple[str, int, int]] = []

    @property
    def launches(self) -> list[str]:
        return [op for op in self.ops if op.startswith("kernel ")]


class _State(threading.local):
    """The emulated thread's device state (CuPy's is per thread too), and the recorder."""

    recorder: Recorder | None = None  # shared by every thread: set on the class
    depth = 0  # > 0 while the emulator itself works: nothing is recorded then

    def __init__(self):
        self.streams: list = []  # entered streams, innermost last
        self.allocators: list = []  # entered `using_allocator`s, innermost last
        self.devices: list[int] = []


STATE = _State()
_GLOBAL = {"allocator": None}


def record(kind: str, name: str) -> None:
    """Note an op ("op", with the current stream) or a host synchronization ("sync")."""
    recorder = _State.recorder
    if recorder is None or STATE.depth:
        return
    if kind == "op":
        recorder.ops.append(name)
        recorder.streams.append(current_stream().ptr)
    else:
        recorder.syncs.append(name)


class _Internal:
    def __enter__(self):
        STATE.depth += 1

    def __exit__(self, *exc):
        STATE.depth -= 1


_INTERNAL = _Internal()


def internal() -> _Internal:
    """The emulator's own work (a context manager): records nothing."""
    return _INTERNAL


class Stream:
    """A CUDA stream by its pointer (0: the default stream); entering it makes it current."""

    def __init__(self, ptr: int = 0, device_id: int = -1):
        self.ptr, self.device_id = int(ptr), device_id

    def __enter__(self):
        STATE.streams.append(self)
        return self

    def __exit__(self, *exc):
        STATE.streams.pop()

    def use(self):
        """Make this stream current for good (until another is entered or used)."""
        STATE.streams[:] = [self]
        return self


NULL_STREAM = Stream(0)


def current_stream() -> Stream:
    return STATE.streams[-1] if STATE.streams else NULL_STREAM


class Device:
    """A CUDA device by id; entering it makes it current (the emulation has one, id 0)."""

    def __init__(self, device_id: int | None = None):
        self.id = 0 if device_id is None else int(device_id)

    def __enter__(self):
        STATE.devices.append(self.id)
        return self

    def __exit__(self, *exc):
        STATE.devices.pop()


class UnownedMemory:
    """Device memory CuPy does not own: `ptr`, `size`, and the `owner` that keeps it alive."""

    def __init__(self, ptr: int, size: int, owner, device_id: int = -1):
        self.ptr, self.size, self._owner, self.device_id = int(ptr), int(size), owner, device_id


class MemoryPointer:
    """A pointer into `mem` at byte `offset` (what an allocator returns)."""

    def __init__(self, mem, offset: int):
        self.mem, self.offset = mem, int(offset)

    @property
    def ptr(self) -> int:
        return self.mem.ptr + self.offset


def set_allocator(allocator=None) -> None:
    """The process-wide allocator (None: CuPy's pool)."""
    _GLOBAL["allocator"] = allocator


def get_allocator():
    return _GLOBAL["allocator"]


@contextlib.contextmanager
def using_allocator(allocator=None):
    """`allocator` serves this thread's allocations inside the block (CuPy's thread-local one)."""
    STATE.allocators.append(allocator)
    try:
        yield
    finally:
        STATE.allocators.pop()


def current_allocator():
    return STATE.allocators[-1] if STATE.allocators else _GLOBAL["allocator"]


def allocate(shape: tuple, dtype) -> tuple[np.ndarray, object]:
    """An uninitialized C-contiguous NumPy array of `shape` and `dtype` in memory from the
    current allocator, and what keeps that memory alive (None for CuPy's pool, NumPy's memory)."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    allocator = current_allocator()
    if _State.recorder is not None:
        _State.recorder.allocations.append((nbytes, POOL if allocator is None else allocator))
    if allocator is None:
        return np.empty(shape, dtype), None
    pointer = allocator(max(nbytes, 1))
    buffer = (ctypes.c_uint8 * max(nbytes, 1)).from_address(pointer.ptr)
    buffer._pointer = pointer  # every view of the array reaches the buffer through `.base`
    return np.frombuffer(buffer, np.uint8)[:nbytes].view(dtype).reshape(shape), pointer


def pointer_of(array: np.ndarray):
    """The `MemoryPointer` of the allocation `array` (or the array it views) was placed in by an
    allocator, or None."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    return getattr(base, "_pointer", None)
