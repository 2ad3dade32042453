"""A stand-in `cupy` that runs the kernels of `kernels/cuda/*.cu` on the CPU, for CI without a GPU.

Every kernel there is a grid-stride loop with no shared memory or inter-thread traffic, so
compiled as plain C++ (g++, no FMA contraction) and called once with grid = block = 1 it does
all its work serially and computes what the GPU computes. Arrays are a NumPy subclass whose
type lives in module "cupy", so `kernels` takes its cupy paths. Each launch checks the
arguments against the kernel's C signature: pointer dtypes, C-contiguity, scalar types (the
bugs a GPU would only show as garbage). Not emulated: CuPy's own API beyond what `kernels`
calls, and timing or races (there are none to find in per-output-element kernels).
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import re
import subprocess
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
using std::min;
using std::max;
"""
C_TYPES = {"u8": np.uint8, "unsigned char": np.uint8, "bool": np.bool_, "int": np.int32, "float": np.float32,
           "double": np.float64, "long long": np.int64, "u64": np.uint64, "unsigned long long": np.uint64}
CTYPES = {np.uint8: ctypes.c_uint8, np.bool_: ctypes.c_bool, np.int32: ctypes.c_int32, np.float32: ctypes.c_float,
          np.float64: ctypes.c_double, np.int64: ctypes.c_int64, np.uint64: ctypes.c_uint64}


class ndarray(np.ndarray):
    """A NumPy array that `kernels` takes for a CuPy one."""

    @property
    def device(self):
        return contextlib.nullcontext()

    def get(self) -> np.ndarray:
        return np.asarray(self)


ndarray.__module__ = "cupy"


def _as_device(value):
    if isinstance(value, np.ndarray) and not isinstance(value, ndarray):
        return value.view(ndarray)
    if isinstance(value, (tuple, list)):
        return type(value)(_as_device(v) for v in value)
    return value


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
        digest = hashlib.sha1(code.encode()).hexdigest()[:16]
        library = build_dir / f"{digest}.so"
        if not library.exists():
            source = build_dir / f"{digest}.cpp"
            source.write_text(PRELUDE + code)
            subprocess.run(["g++", "-O1", "-ffp-contract=off", "-shared", "-fPIC", str(source), "-o", str(library)],
                           check=True, capture_output=True)
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
            values = []
            for k, (arg, (pointer, t)) in enumerate(zip(args, signature)):
                if pointer:
                    assert isinstance(arg, ndarray), f"{name} argument {k}: {type(arg).__name__} for a pointer"
                    assert arg.dtype == t and arg.flags.c_contiguous, f"{name} argument {k}: {arg.dtype}, expected {t}"
                    values.append(arg.ctypes.data)
                else:
                    assert type(arg) is t, f"{name} argument {k}: {type(arg).__name__}, expected {t.__name__}"
                    values.append(arg)
            function(*values)

        return launch


def _no_context(*args, **kwargs):
    return contextlib.nullcontext()


def make_module(build_dir: Path) -> types.ModuleType:
    """A `cupy` stand-in whose array functions are NumPy's returning `ndarray`."""
    module = types.ModuleType("cupy")
    module.ndarray = ndarray
    module.RawModule = functools.partial(RawModule, build_dir=build_dir)
    module.memoize = lambda for_each_device=False: functools.cache
    module.asnumpy = np.asarray
    module.asarray = lambda a, dtype=None: _as_device(np.array(a, dtype=dtype))
    module.cuda = types.SimpleNamespace(Device=_no_context, ExternalStream=_no_context,
                                        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))

    def delegate(name):
        value = getattr(np, name)
        if callable(value) and not isinstance(value, type):
            return functools.wraps(value)(lambda *a, **k: _as_device(value(*a, **k)))
        return value

    module.__getattr__ = delegate
    return module
