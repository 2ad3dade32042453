"""The CUDA program of `kernels/cuda/*.cu` built as C++ for the CPU, and its kernel launchers.

One translation unit: `emulation_runtime.h` (thread and block indices, a real barrier,
poisoned `__shared__` memory, atomics, flush-to-zero floats, the launch loop), then the CUDA
program as CuPy receives it, then one `emu_launch_<kernel>` per kernel. g++ compiles it
without FMA contraction (`-ffp-contract=off`, as `--fmad=false` on the GPU) into a shared
library, cached by a digest of what went in. A kernel runs with the grid and block of its
launch:

- block-level kernels (their code, or a device function they call, has `__syncthreads()` or
  `__shared__`: `block_level_kernels`) run one OS thread per CUDA thread ("threaded");
- the others run their threads one after another ("sequential": without barriers or shared
  memory the threads of a grid-stride loop cannot see each other);
- `threads="serial"` runs every other launch as one thread (blockDim = gridDim = 1): the
  fastest for large grid-stride launches (the block-level kernels still run threaded: they
  need their block size).

`sanitizer="thread"` (ThreadSanitizer) or `"address"` (AddressSanitizer + UBSan) builds the
same unit instrumented; the Python process must then load the sanitizer's runtime first
(`LD_PRELOAD`, see the Makefile's `emulation-tsan` / `emulation-asan` targets).
`sanitizer="trace"` builds it with ThreadSanitizer's instrumentation calling the hooks of
`emulation_trace.h` instead of its runtime: each launch then reports the 32-byte sectors of its
arrays it read and wrote (for benchmarks/bytes_moved.py).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import re
import subprocess
from pathlib import Path

import numpy as np

RUNTIME = Path(__file__).with_name("emulation_runtime.h")
TRACE = Path(__file__).with_name("emulation_trace.h")
MODES = {"serial": 0, "sequential": 1, "threaded": 2}
THREADS = ("auto", "serial")
SANITIZERS = {
    None: ("-O1",),
    "thread": ("-O1", "-g", "-fsanitize=thread"),
    "address": ("-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                "-fno-sanitize-recover=undefined"),
    "trace": ("-O1", "-fsanitize=thread", "--param=tsan-instrument-func-entry-exit=0"),
}
SECTOR = 32
"""Bytes per sector, the unit in which a traced launch counts the memory it touches."""
POISON = 0xA5
"""The byte `__shared__` memory (and, in `emulation`, every new device array) is filled with."""

C_TYPES = {"u8": np.uint8, "unsigned char": np.uint8, "bool": np.bool_, "int": np.int32, "float": np.float32,
           "double": np.float64, "long long": np.int64, "u64": np.uint64, "unsigned long long": np.uint64,
           "unsigned short": np.uint16, "u16": np.uint16, "void": None}
"""C type of a kernel parameter -> NumPy type (None: `void*`, any dtype)."""
CTYPES = {np.uint8: ctypes.c_uint8, np.bool_: ctypes.c_bool, np.int32: ctypes.c_int32, np.float32: ctypes.c_float,
          np.float64: ctypes.c_double, np.int64: ctypes.c_int64, np.uint64: ctypes.c_uint64}

_KERNEL = re.compile(r'extern "C" __global__ void (\w+)\(([^)]*)\)')
_FUNCTION = re.compile(r'(?:extern "C" __global__ void|__device__ [\w\s*]+?)\s(\w+)\(([^)]*)\)\s*\{')


class EmulationError(RuntimeError):
    """A launch the emulation stopped: a barrier not every thread reached, or `__syncthreads()`
    where it cannot be."""


def signatures(code: str) -> dict:
    """kernel name -> [(parameter declaration, name, is_pointer, numpy type)] of every
    `extern "C" __global__ void name(...)`."""
    found = {}
    for match in _KERNEL.finditer(code):
        params = []
        for param in match.group(2).split(","):
            declared = " ".join(param.replace("const", " ").replace("*", " * ").split())
            name = declared.rsplit(None, 1)[1]
            ctype = declared.replace("*", " ").rsplit(None, 1)[0].strip()
            params.append((param.strip(), name, "*" in declared, C_TYPES[ctype]))
        found[match.group(1)] = params
    return found


def _bodies(code: str) -> dict:
    """function name -> its body text, for every kernel and `__device__` function of `code`."""
    bodies = {}
    for match in _FUNCTION.finditer(code):
        depth, end = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(code[end], 0)
            end += 1
        bodies[match.group(1)] = code[match.end(): end]
    return bodies


def block_level_kernels(code: str) -> frozenset:
    """The kernels whose threads work together: they, or a device function they call (at any
    depth), use `__syncthreads()` or `__shared__` memory."""
    bodies = _bodies(code)
    calls = {name: set(re.findall(r"\b(\w+)\s*\(", body)) & bodies.keys() for name, body in bodies.items()}
    level = {name for name, body in bodies.items() if "__syncthreads" in body or "__shared__" in body}
    while True:
        grown = level | {name for name, called in calls.items() if called & level}
        if grown == level:
            return frozenset(name for name in level if name in signatures(code))
        level = grown


def _launchers(code: str) -> str:
    head = "unsigned int emu_grid, unsigned int emu_block, int emu_mode, int emu_poison"
    call = "emu_grid, emu_block, emu_mode, emu_poison"
    return "\n".join(
        f'extern "C" int emu_launch_{name}({head}, {", ".join(p[0] for p in params)}) {{\n'
        f'  return emu_launch({call}, [&] {{ {name}({", ".join(p[1] for p in params)}); }});\n}}'
        for name, params in signatures(code).items())


def build(code: str, build_dir: Path, sanitizer: str | None = None) -> Path:
    """The shared library of `code` (the CUDA program) with the runtime and launchers, built
    once per content and sanitizer in `build_dir`."""
    flags = SANITIZERS[sanitizer]
    headers = [RUNTIME] + ([TRACE] if sanitizer == "trace" else [])
    includes = "".join(f'#include "{header.name}"\n' for header in headers)
    unit = f'{includes}{code}\n#line 1 "emulation launchers"\n{_launchers(code)}\n'
    digest = hashlib.sha1("\0".join([*(h.read_text() for h in headers), unit, *flags]).encode()).hexdigest()[:16]
    library = build_dir / f"{digest}{'-' + sanitizer if sanitizer else ''}.so"
    if not library.exists():
        source = library.with_suffix(".cpp")
        source.write_text(unit)
        partial = library.with_suffix(f".so.partial{os.getpid()}")
        compile_ = ["g++", "-std=c++20", *flags, "-ffp-contract=off", "-pthread", "-fPIC", f"-I{RUNTIME.parent}"]
        if sanitizer == "trace":  # instrumented, but linked without TSan's runtime: our hooks stand in for it
            steps = [[*compile_, "-c", str(source), "-o", f"{partial}.o"],
                     ["g++", "-shared", "-pthread", f"{partial}.o", "-o", str(partial)]]
        else:
            steps = [[*compile_, "-shared", str(source), "-o", str(partial)]]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True)
            if result.returncode:
                raise RuntimeError(f"g++ failed to build the CUDA emulation ({source}):\n{result.stderr[-4000:]}")
        partial.rename(library)
    return library


class Library:
    """A built program: `launcher(name)` returns launch(grid, block, values, serial, ranges) for
    kernel `name`; in a "trace" build it returns the bytes of the (start, size) `ranges` the
    launch read and wrote, in whole sectors."""

    def __init__(self, code: str, build_dir: Path, sanitizer: str | None = None):
        self._dll = ctypes.CDLL(str(build(code, build_dir, sanitizer)))
        self._dll.emu_error.restype = ctypes.c_char_p
        self.signatures = signatures(code)
        self.block_level = block_level_kernels(code)
        self.traces = sanitizer == "trace"

    def launcher(self, name: str):
        params = self.signatures[name]
        function = getattr(self._dll, f"emu_launch_{name}")
        function.restype = ctypes.c_int
        function.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_int, ctypes.c_int,
                             *(ctypes.c_void_p if pointer else CTYPES[t] for _, _, pointer, t in params)]
        block_level = name in self.block_level

        def launch(grid: int, block: int, values: list, serial: bool, ranges=()) -> tuple[int, int] | None:
            mode = MODES["threaded" if block_level else "serial" if serial else "sequential"]
            if self.traces:
                starts, sizes = (np.array([r[k] for r in ranges], np.uint64) for k in (0, 1))
                self._dll.emu_trace_ranges(len(ranges), starts.ctypes.data_as(ctypes.c_void_p),
                                           sizes.ctypes.data_as(ctypes.c_void_p))
            if function(grid, block, mode, POISON, *values):
                raise EmulationError(f"kernel {name} <<<{grid}, {block}>>>: {self._dll.emu_error().decode()}")
            if not self.traces:
                return None
            counts = np.zeros(2, np.uint64)
            self._dll.emu_trace_counts(counts.ctypes.data_as(ctypes.c_void_p))
            return int(counts[0]) * SECTOR, int(counts[1]) * SECTOR

        return launch
