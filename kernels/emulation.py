"""A stand-in `cupy` that runs the kernels of `kernels/cuda/*.cu` on the CPU: how the tests check
the cupy backend without a GPU, and how `benchmarks/host_cost.py` times its host work.

The kernels are grid-stride loops over output elements, or block-stride loops over images with
thread-stride loops inside a block (`for (i = threadIdx.x; i < n; i += blockDim.x)`) separated
by `__syncthreads()`. Compiled as plain C++ (g++, no FMA contraction) with
blockIdx = threadIdx = 0 and blockDim = gridDim = 1, `__shared__` as static storage and
`__syncthreads()` as a no-op, one call does all the work serially and computes what the GPU
computes. Arrays are a NumPy subclass whose type lives in module "cupy", so `kernels` takes its
cupy paths. Each launch checks the arguments against the kernel's C signature: pointer dtypes,
C-contiguity, scalar types (the bugs a GPU would only show as garbage).

Operation counting (`module.counting()`): every kernel launch and every array operation that
launches work on a GPU (ufuncs, reductions, NumPy functions, `cupy.<function>` calls other
than allocation, fancy indexing, item assignment, copies and conversions that copy) is
recorded, and so is every host synchronization (`get`, `asnumpy`, `item`, `tolist`,
int/float/bool/index of an array, iteration, `cupy.asarray` of host data). With
`execute=False` launches are recorded and checked but not run (for counting at full size).

Not emulated: CuPy's own API beyond what `kernels` calls, timing, and races (a serial run
cannot show a missing `__syncthreads()`; review those by eye). Needs g++.

    with installed(make_module(build_dir)) as cp:   # `import cupy` now gives the stand-in
        out = AttentionAugment(config, backend="cupy")(cp.asarray(images), ...)
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np

PRELUDE = """
#include <cmath>
#include <algorithm>
struct EmulatedDim { unsigned int x, y, z; };
static const EmulatedDim blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
#define __global__
#define __device__
#define __shared__ static
#define __syncthreads()
template <class T> static T atomicAdd(T* address, T value) { T old = *address; *address += value; return old; }
template <class T> static T atomicMin(T* address, T value) { T old = *address; *address = std::min(old, value); return old; }
template <class T> static T atomicMax(T* address, T value) { T old = *address; *address = std::max(old, value); return old; }
using std::min;
using std::max;
"""
C_TYPES = {"u8": np.uint8, "unsigned char": np.uint8, "bool": np.bool_, "int": np.int32, "float": np.float32,
           "double": np.float64, "long long": np.int64, "u64": np.uint64, "unsigned long long": np.uint64}
CTYPES = {np.uint8: ctypes.c_uint8, np.bool_: ctypes.c_bool, np.int32: ctypes.c_int32, np.float32: ctypes.c_float,
          np.float64: ctypes.c_double, np.int64: ctypes.c_int64, np.uint64: ctypes.c_uint64}

FREE_FUNCTIONS = {"empty", "empty_like", "result_type", "dtype", "shape", "ndim", "size", "can_cast",
                  "may_share_memory", "shares_memory", "broadcast_to", "get_array_module", "isscalar"}
"""`cupy.<name>` calls that launch nothing (allocation without initialization, metadata, views)."""


class Recorder:
    """What the code under test asked of the device: `ops` (names, in order) and `syncs`."""

    def __init__(self, execute: bool = True):
        self.execute = execute
        self.ops: list[str] = []
        self.syncs: list[str] = []

    @property
    def launches(self) -> list[str]:
        return [op for op in self.ops if op.startswith("kernel ")]


class _State:
    recorder: Recorder | None = None
    depth = 0  # > 0 while the emulator itself works: nothing is recorded then


def _record(kind: str, name: str) -> None:
    if _State.recorder is not None and _State.depth == 0:
        (_State.recorder.ops if kind == "op" else _State.recorder.syncs).append(name)


@contextlib.contextmanager
def _internal():
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1


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
    if isinstance(value, np.ndarray) and not isinstance(value, ndarray):
        return value.view(ndarray)
    if isinstance(value, np.generic):  # CuPy returns 0-d arrays, not scalars
        return np.asarray(value).view(ndarray)
    if isinstance(value, (tuple, list)):
        return type(value)(_as_device(v) for v in value)
    return value


def _counted(name: str, function, *args, **kwargs):
    _record("op", name)
    quiet = _State.recorder is not None and not _State.recorder.execute  # counting only: arrays hold garbage
    with _internal(), (np.errstate(all="ignore") if quiet else contextlib.nullcontext()):
        return _as_device(function(*_plain(args), **_plain(kwargs)))


def _is_basic_index(key) -> bool:
    """Slices, integers, None and Ellipsis only: a view, no device work."""
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer)) and not isinstance(k, bool)
               for k in keys)


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
        return contextlib.nullcontext()

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
        if _is_basic_index(key):
            with _internal():
                return _as_device(np.ndarray.__getitem__(self.view(np.ndarray), _plain(key)))
        return _counted("getitem (fancy)", np.ndarray.__getitem__, self, key)

    def __setitem__(self, key, value):
        _counted("setitem", np.ndarray.__setitem__, self, key, value)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        return _counted("astype", np.ndarray.astype, self, dtype, order, casting, True, copy)

    def reshape(self, *shape, **kwargs):
        with _internal():
            out = np.ndarray.reshape(self.view(np.ndarray), *shape, **kwargs)
        if not np.shares_memory(out, self):
            _record("op", "reshape (copy)")
        return out.view(ndarray)

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


def _signatures(code: str) -> dict:
    """kernel name -> [(is_pointer, numpy type)] from `extern "C" __global__ void name(...)`."""
    found = {}
    for match in re.finditer(r'extern "C" __global__ void (\w+)\(([^)]*)\)', code):
        params = []
        for param in match.group(2).split(","):
            declared = " ".join(param.replace("const", " ").replace("*", " * ").split())
            is_pointer = "*" in declared
            params.append((is_pointer, C_TYPES[declared.replace("*", " ").rsplit(None, 1)[0].strip()]))
        found[match.group(1)] = params
    return found


class RawModule:
    """Compiles the CUDA source as C++ into a shared library; `get_function` returns launchers."""

    def __init__(self, code: str, options=(), build_dir: Path = Path(".")):
        assert "--fmad=false" in options, "the kernels must be built without FMA contraction"
        digest = hashlib.sha1((PRELUDE + code).encode()).hexdigest()[:16]
        library = build_dir / f"{digest}.so"
        if not library.exists():
            source = build_dir / f"{digest}.cpp"
            source.write_text(PRELUDE + code)
            partial = build_dir / f"{digest}.so.partial"
            subprocess.run(["g++", "-O1", "-ffp-contract=off", "-shared", "-fPIC", str(source), "-o", str(partial)],
                           check=True, capture_output=True)
            partial.rename(library)
        self._library = ctypes.CDLL(str(library))
        self._signatures = _signatures(code)

    def get_function(self, name: str):
        signature = self._signatures[name]
        function = getattr(self._library, name)
        function.restype = None
        function.argtypes = [ctypes.c_void_p if pointer else CTYPES[t] for pointer, t in signature]

        def launch(grid, block, args):
            assert len(grid) == len(block) == 1 and grid[0] > 0 and 0 < block[0] <= 1024, (name, grid, block)
            assert len(args) == len(signature), f"{name}: {len(args)} arguments for {len(signature)} parameters"
            _record("op", f"kernel {name}")
            values = []
            for k, (arg, (pointer, t)) in enumerate(zip(args, signature)):
                if pointer:
                    assert isinstance(arg, ndarray), f"{name} argument {k}: {type(arg).__name__} for a pointer"
                    assert arg.dtype == t and arg.flags.c_contiguous, f"{name} argument {k}: {arg.dtype}, expected {t}"
                    values.append(arg.ctypes.data)
                else:
                    assert type(arg) is t, f"{name} argument {k}: {type(arg).__name__}, expected {t.__name__}"
                    values.append(arg)
            if _State.recorder is None or _State.recorder.execute:
                function(*values)

        return launch


def _no_context(*args, **kwargs):
    return contextlib.nullcontext()


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


def make_module(build_dir: Path) -> types.ModuleType:
    """A `cupy` stand-in whose array functions are NumPy's returning `ndarray`.

    `module.counting(execute=True)` is a context manager yielding a `Recorder` of what the code
    run inside asks of the device."""
    module = types.ModuleType("cupy")
    module.ndarray = ndarray
    module.RawModule = functools.partial(RawModule, build_dir=build_dir)
    module.memoize = lambda for_each_device=False: functools.cache
    module.asnumpy = _asnumpy
    module.asarray = _asarray
    module.array = lambda a, dtype=None, copy=True: (_counted("array (copy)", np.array, a, dtype=dtype)
                                                     if isinstance(a, ndarray) else _asarray(a, dtype))
    module.ascontiguousarray = _ascontiguousarray
    module.cuda = types.SimpleNamespace(Device=_no_context, ExternalStream=_no_context,
                                        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))

    @contextlib.contextmanager
    def counting(execute: bool = True):
        assert _State.recorder is None, "counting() does not nest"
        _State.recorder = Recorder(execute)
        try:
            yield _State.recorder
        finally:
            _State.recorder = None

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
    """`fake` as `cupy` (and `attention_swap_reid.kernels.cupy_ops` re-imported against it);
    everything restored after."""
    from attention_swap_reid import kernels

    names = ("cupy", "attention_swap_reid.kernels.cupy_ops")
    saved_modules = {name: sys.modules.get(name) for name in names}
    saved_attribute = kernels.__dict__.get("cupy_ops")
    sys.modules["cupy"] = fake
    sys.modules.pop("attention_swap_reid.kernels.cupy_ops", None)
    kernels.__dict__.pop("cupy_ops", None)
    try:
        yield fake
    finally:
        for name, module in saved_modules.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        if saved_attribute is None:
            kernels.__dict__.pop("cupy_ops", None)
        else:
            kernels.cupy_ops = saved_attribute
