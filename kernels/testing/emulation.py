"""A stand-in `cupy` that runs the kernels of `kernels/cuda/*.cu` on the CPU: how the tests check
the cupy backend without a GPU, and how `benchmarks/host_cost.py` times its host work.

The CUDA program is compiled as C++ by g++ (`emulation_build`, no FMA contraction) with a
runtime (`emulation_runtime.h`) that runs every launch at its real grid and block size: the
kernels whose threads cooperate (`__syncthreads()`, `__shared__` memory) with one OS thread per
CUDA thread and a real barrier -- so a missing barrier is a real race, a barrier not every
thread reaches is reported, shared memory starts poisoned -- and the others thread after thread.
`make_module(..., threads="serial")` runs every other launch as one thread instead (fast).
Floats flush denormals to zero, as CuPy's `-ftz=true` build does on the GPU.

Arrays are a NumPy subclass whose type lives in module "cupy", so `kernels` takes its cupy
paths. New device arrays are allocated by the current CuPy allocator (`emulation_device`), and
`cupy.empty` fills them with the poison byte. Each launch checks the arguments against the
kernel's C signature: pointer dtypes, C-contiguity, scalar types (the bugs a GPU would only show
as garbage).

Operation counting (`module.counting()`): every kernel launch and every array operation that
launches work on a GPU (ufuncs, reductions, NumPy functions, `cupy.<function>` calls other
than allocation, fancy indexing, item assignment, copies and conversions that copy) is
recorded with the stream it was queued on, and so is every host synchronization (`get`,
`asnumpy`, `item`, `tolist`, int/float/bool/index of an array, iteration, `cupy.asarray` of
host data) and every allocation with the allocator that served it. With `execute=False`
launches are recorded and checked but not run (for counting at full size).

Not emulated: CuPy's own API beyond what `kernels` calls, timing, warps (the kernels use no
warp-level operations), and memory accesses out of bounds (a sanitizer build finds those: see
`emulation_build`). Needs g++.

    with installed(make_module(build_dir)) as cp:   # `import cupy` now gives the stand-in
        out = AttentionAugment(config, backend="cupy")(cp.asarray(images), ...)
"""
from __future__ import annotations

import contextlib
import functools
import sys
import types
from pathlib import Path

import numpy as np

from attention_swap_reid import kernels

from . import emulation_build, emulation_device as device
from .emulation_device import Recorder, internal as _internal, record as _record

FREE_FUNCTIONS = {"empty", "empty_like", "result_type", "dtype", "shape", "ndim", "size", "can_cast",
                  "may_share_memory", "shares_memory", "broadcast_to", "get_array_module", "isscalar"}
"""`cupy.<name>` calls that launch nothing (allocation without initialization, metadata, views)."""


def _plain(value):
    """ndarray (ours) -> numpy.ndarray views, recursively through tuples, lists and dicts."""
    if isinstance(value, ndarray):
        return value.view(np.ndarray)
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _as_device(value):
    """NumPy results as device arrays; a result that owns its memory is a new device array, in
    memory from the current allocator (`emulation_device.allocate`)."""
    if isinstance(value, np.generic):  # CuPy returns 0-d arrays, not scalars
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and not isinstance(value, ndarray):
        return _placed(value) if value.base is None else value.view(ndarray)
    if isinstance(value, (tuple, list)):
        return type(value)(_as_device(v) for v in value)
    return value


def _placed(values: np.ndarray) -> "ndarray":
    """A new device array holding `values`, allocated by the current allocator."""
    memory, pointer = device.allocate(values.shape, values.dtype)
    if pointer is None:
        return values.view(ndarray)
    memory[...] = values
    return memory.view(ndarray)


def _empty(shape, dtype=float, order="C") -> "ndarray":
    """`cupy.empty`: new device memory, filled with the poison byte (as the kernels' `__shared__`
    memory) so that reading what no kernel wrote shows."""
    memory, _ = device.allocate(tuple(shape) if isinstance(shape, (tuple, list)) else (int(shape),), dtype)
    memory.view(np.uint8).reshape(-1).fill(emulation_build.POISON)
    return memory.view(ndarray)


def _counted(name: str, function, *args, **kwargs):
    _record("op", name)
    recorder = device._State.recorder
    quiet = recorder is not None and not recorder.execute  # counting only: arrays hold garbage
    with _internal(), (np.errstate(all="ignore") if quiet else contextlib.nullcontext()):
        return _as_device(function(*_plain(args), **_plain(kwargs)))


_BASIC = (slice, int, np.integer, type(None), type(Ellipsis))


def _is_basic_index(key) -> bool:
    """Slices, integers, None and Ellipsis only: a view, no device work."""
    if type(key) is slice:
        return True
    keys = key if type(key) is tuple else (key,)
    return all(isinstance(k, _BASIC) and type(k) is not bool for k in keys)


def _sync(name: str):
    def method(self, *args, **kwargs):
        _record("sync", name)
        with _internal():
            return getattr(self.view(np.ndarray), name)(*args, **kwargs)

    method.__name__ = name
    return method


def _op_method(name: str):
    def method(self, *args, **kwargs):
        return _counted(name, getattr(np.ndarray, name), self, *args, **kwargs)

    method.__name__ = name
    return method


class ndarray(np.ndarray):
    """A NumPy array that `kernels` takes for a CuPy one, recording what it is asked to do."""

    @property
    def device(self):
        return device.Device(0)

    @property
    def data(self) -> device.MemoryPointer:
        """The array's first element as a `MemoryPointer` into the allocation it lives in."""
        pointer, address = device.pointer_of(self), self.ctypes.data
        mem = pointer.mem if pointer is not None else device.UnownedMemory(address, self.nbytes, self)
        return device.MemoryPointer(mem, address - mem.ptr)

    def get(self) -> np.ndarray:
        _record("sync", "get")
        return np.array(self.view(np.ndarray))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        return _counted(name, getattr(ufunc, method), *inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func.__name__ in FREE_FUNCTIONS:
            with _internal():
                return _as_device(func(*_plain(args), **_plain(kwargs)))
        return _counted(func.__name__, func, *args, **kwargs)

    def __getitem__(self, key):
        if _is_basic_index(key):  # a view of this type, or an element (as a 0-d array, as CuPy's)
            out = np.ndarray.__getitem__(self, key)
            return out if isinstance(out, ndarray) else np.asarray(out).view(ndarray)
        return _counted("getitem (fancy)", np.ndarray.__getitem__, self, key)

    def __setitem__(self, key, value):
        _counted("setitem", np.ndarray.__setitem__, self, key, value)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        return _counted("astype", np.ndarray.astype, self, dtype, order, casting, True, copy)

    def reshape(self, *shape, **kwargs):
        out = np.ndarray.reshape(self, *shape, **kwargs)
        if out.base is None:  # not a view: NumPy copied
            _record("op", "reshape (copy)")
        return out

    def ravel(self, order="C"):
        return self.reshape(-1, order=order)

    def __iter__(self):
        _record("sync", "iter")
        with _internal():
            yield from (_as_device(v) for v in self.view(np.ndarray))

    __int__ = _sync("__int__")
    __float__ = _sync("__float__")
    __bool__ = _sync("__bool__")
    __index__ = _sync("__index__")
    __complex__ = _sync("__complex__")
    item = _sync("item")
    tolist = _sync("tolist")
    tobytes = _sync("tobytes")

    for _name in ("copy", "fill", "sum", "prod", "any", "all", "max", "min", "mean", "std", "var", "argmax", "argmin",
                  "cumsum", "cumprod", "nonzero", "sort", "argsort", "take", "put", "repeat", "clip", "round", "dot",
                  "flatten", "trace", "diagonal", "compress", "choose", "searchsorted", "partition", "argpartition"):
        locals()[_name] = _op_method(_name)
    del _name


ndarray.__module__ = "cupy"


class RawModule:
    """The CUDA program built for the CPU (`emulation_build`); `get_function` returns launchers
    that check their arguments, record the launch and run it at its grid and block size."""

    def __init__(self, code: str, options=(), build_dir: Path = Path("."), threads: str = "auto",
                 sanitizer: str | None = None):
        assert "--fmad=false" in options, "the kernels must be built without FMA contraction"
        self._library = emulation_build.Library(code, build_dir, sanitizer)
        self._serial = threads == "serial"

    def get_function(self, name: str):
        signature = self._library.signatures[name]
        run = self._library.launcher(name)

        def launch(grid, block, args):
            assert len(grid) == len(block) == 1 and 0 < grid[0] <= 2**31 - 1 and 0 < block[0] <= 1024, \
                (name, grid, block)
            assert len(args) == len(signature), f"{name}: {len(args)} arguments for {len(signature)} parameters"
            _record("op", f"kernel {name}")
            values = []
            for k, (arg, (_, _, pointer, t)) in enumerate(zip(args, signature)):
                if pointer:
                    assert isinstance(arg, ndarray), f"{name} argument {k}: {type(arg).__name__} for a pointer"
                    assert (t is None or arg.dtype == t) and arg.flags.c_contiguous, \
                        f"{name} argument {k}: {arg.dtype}, expected {t}"
                    values.append(arg.ctypes.data)
                else:
                    assert type(arg) is t, f"{name} argument {k}: {type(arg).__name__}, expected {t.__name__}"
                    values.append(arg)
            recorder = device._State.recorder
            if recorder is None or recorder.execute:
                ranges = [(a.ctypes.data, a.nbytes) for a in args if isinstance(a, ndarray)]
                traffic = run(int(grid[0]), int(block[0]), values, self._serial, ranges)
                if traffic is not None and recorder is not None:
                    recorder.traffic.append((name, *traffic))

        return launch


def _asarray(a, dtype=None, order=None):
    if isinstance(a, ndarray):
        if dtype is None or np.dtype(dtype) == a.dtype:
            return a
        return _counted("asarray (astype)", np.asarray, a, dtype)
    _record("sync", "asarray (host to device copy)")
    with _internal():
        return _as_device(np.array(a, dtype=dtype, order=order or "K"))


def _ascontiguousarray(a, dtype=None):
    if isinstance(a, ndarray) and a.flags.c_contiguous and (dtype is None or np.dtype(dtype) == a.dtype):
        return a
    if not isinstance(a, ndarray):
        _record("sync", "ascontiguousarray (host to device copy)")
        with _internal():
            return _as_device(np.ascontiguousarray(a, dtype=dtype))
    return _counted("ascontiguousarray (copy)", np.ascontiguousarray, a, dtype=dtype)


def _asnumpy(a, *args, **kwargs):
    if isinstance(a, ndarray):
        _record("sync", "asnumpy")
    return np.array(_plain(a))


def make_module(build_dir: Path, threads: str = "auto", sanitizer: str | None = None) -> types.ModuleType:
    """A `cupy` stand-in whose array functions are NumPy's returning `ndarray`.

    `module.counting(execute=True)` is a context manager yielding a `Recorder` of what the code
    run inside asks of the device."""
    module = types.ModuleType("cupy")
    module.ndarray = ndarray
    module.RawModule = functools.partial(RawModule, build_dir=build_dir, threads=threads, sanitizer=sanitizer)
    module.memoize = lambda for_each_device=False: functools.cache
    module.asnumpy = _asnumpy
    module.asarray = _asarray
    module.array = lambda a, dtype=None, copy=True: (_counted("array (copy)", np.array, a, dtype=dtype)
                                                     if isinstance(a, ndarray) else _asarray(a, dtype))
    module.ascontiguousarray = _ascontiguousarray
    module.empty = _empty
    module.empty_like = lambda a, dtype=None: _empty(a.shape, a.dtype if dtype is None else dtype)
    module.from_dlpack = lambda x: np.from_dlpack(x).view(ndarray)
    module.cuda = types.SimpleNamespace(
        Device=device.Device, ExternalStream=device.Stream, Stream=device.Stream,
        get_current_stream=device.current_stream,
        MemoryPointer=device.MemoryPointer, UnownedMemory=device.UnownedMemory, using_allocator=device.using_allocator,
        set_allocator=device.set_allocator, get_allocator=device.get_allocator,
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))

    @contextlib.contextmanager
    def counting(execute: bool = True):
        assert device._State.recorder is None, "counting() does not nest"
        device._State.recorder = Recorder(execute)
        try:
            yield device._State.recorder
        finally:
            device._State.recorder = None

    module.counting = counting

    def delegate(name):
        value = getattr(np, name)
        if callable(value) and not isinstance(value, type):
            if name in FREE_FUNCTIONS:
                return functools.wraps(value)(lambda *a, **k: _as_device(value(*_plain(a), **_plain(k))))
            return functools.wraps(value)(lambda *a, **k: _counted(name, value, *a, **k))
        return value

    module.__getattr__ = delegate
    return module


@contextlib.contextmanager
def installed(fake: types.ModuleType):
    """`fake` as `cupy` (and the modules of `kernels` that import cupy re-imported against it);
    everything restored after."""
    backend = ("cupy_ops", "cupy_fused")
    names = ("cupy", *(f"attention_swap_reid.kernels.{name}" for name in backend))
    saved_modules = {name: sys.modules.get(name) for name in names}
    saved_attributes = {name: kernels.__dict__.get(name) for name in backend}
    sys.modules["cupy"] = fake
    for name in backend:
        sys.modules.pop(f"attention_swap_reid.kernels.{name}", None)
        kernels.__dict__.pop(name, None)
    try:
        yield fake
    finally:
        for name, module in saved_modules.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        for name, attribute in saved_attributes.items():
            if attribute is None:
                kernels.__dict__.pop(name, None)
            else:
                setattr(kernels, name, attribute)
