"""Device resources of every CUDA kernel, compiled as CuPy compiles them, for sm_80, sm_90 and the
newest architecture NVRTC knows; no GPU needed.

    python benchmarks/kernel_resources.py [--out benchmarks/results/kernel-resources]

The CUDA program (`kernels.cuda_sources.program()`) is compiled by NVRTC (`cuda.bindings`, the
library CuPy calls) with exactly the options CuPy's `RawModule` passes it, in CuPy's order:
CuPy's own `assemble_cupy_compiler_options` of our options, then `-ftz=true`,
`-arch=sm_XX`, `--device-as-default-execution-space`. For the report the same compilation runs
with `-Xptxas=-v` added, which only makes NVRTC's built-in ptxas print what it allocated (the
cubin is byte-identical, checked). Per kernel: registers per thread, static shared memory,
stack frame, spill stores and loads; and, with the block size `kernels/cupy_ops.py` launches it
with, the theoretical occupancy (resident warps / the SM's maximum) by the rules of CUDA's
`cuda_occupancy.h` (registers allocated per warp in units of 256 over 4 sub-partitions, shared
memory in units of 128 bytes plus 1 KB the driver reserves per block, the SM's block, warp,
register and shared-memory limits below). Writes resources.json and resources.md into --out.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

SM_LIMITS = {
    # arch: (max threads, max blocks, registers, shared memory bytes per SM), compute capability
    # 8.0 / 9.0 / 12.x (CUDA C++ Programming Guide, "Technical Specifications per Compute
    # Capability"; the block limits and shared-memory configurations as in cuda_occupancy.h)
    80: (2048, 32, 65536, 164 * 1024),
    90: (2048, 32, 65536, 228 * 1024),
    120: (1536, 24, 65536, 100 * 1024),
    121: (1536, 24, 65536, 100 * 1024),
}
WARP = 32
REGISTER_UNIT = 256
SUB_PARTITIONS = 4
SHARED_UNIT = 128
RESERVED_SHARED = 1024
ARCHS = (80, 90)
"""The architectures always reported; the newest one NVRTC knows is added."""


@dataclass(frozen=True)
class KernelResources:
    """What ptxas allocated for one kernel on one architecture, and its theoretical occupancy
    at the block size it is launched with."""

    kernel: str
    arch: int
    registers: int
    shared: int  # static shared memory, bytes
    stack: int  # stack frame, bytes
    spill_stores: int
    spill_loads: int
    threads: int  # per block, as kernels/cupy_ops.py launches it
    blocks_per_sm: int
    occupancy: float  # resident warps / maximum warps per SM
    limit: str  # what limits the blocks per SM


def cupy_options(arch: int) -> list[str]:
    """The NVRTC options CuPy's RawModule compiles `cuda_sources.program()` with for `arch`."""
    from cupy._core import core

    from attention_swap_reid.kernels.cuda_sources import NVRTC_OPTIONS

    return [*core.assemble_cupy_compiler_options(NVRTC_OPTIONS), "-ftz=true", f"-arch=sm_{arch}",
            "--device-as-default-execution-space"]


def compile_program(arch: int, extra: tuple[str, ...] = ()) -> tuple[bytes, str]:
    """(cubin, compile log) of the program for `arch` with CuPy's options (and `extra`)."""
    from cuda.bindings import nvrtc

    from attention_swap_reid.kernels.cuda_sources import program

    err, prog = nvrtc.nvrtcCreateProgram(program().encode(), b"program.cu", 0, [], [])
    try:
        options = [o.encode() for o in (*cupy_options(arch), *extra)]
        (result,) = nvrtc.nvrtcCompileProgram(prog, len(options), options)
        _, size = nvrtc.nvrtcGetProgramLogSize(prog)
        log = bytearray(size)
        nvrtc.nvrtcGetProgramLog(prog, log)
        text = log.decode(errors="replace").strip("\x00 \n")
        if result != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise RuntimeError(f"NVRTC failed for sm_{arch}:\n{text}")
        _, size = nvrtc.nvrtcGetCUBINSize(prog)
        cubin = bytearray(size)
        nvrtc.nvrtcGetCUBIN(prog, cubin)
        return bytes(cubin), text
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def newest_arch() -> int:
    from cuda.bindings import nvrtc

    return max(nvrtc.nvrtcGetSupportedArchs()[1])


_ENTRY = re.compile(r"Compiling entry function '(\w+)' for 'sm_(\d+)'")
_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers")
_SMEM = re.compile(r"(\d+) bytes smem")


def ptxas_report(log: str) -> dict[str, dict]:
    """kernel -> registers, shared, stack, spill_stores, spill_loads from ptxas's -v report."""
    found, kernel = {}, None
    for line in log.splitlines():
        if match := _ENTRY.search(line):
            kernel = match.group(1)
            found[kernel] = dict(registers=0, shared=0, stack=0, spill_stores=0, spill_loads=0)
        elif kernel and (match := _FRAME.search(line)):
            found[kernel].update(stack=int(match.group(1)), spill_stores=int(match.group(2)),
                                 spill_loads=int(match.group(3)))
        elif kernel and (match := _USED.search(line)):
            found[kernel]["registers"] = int(match.group(1))
            if smem := _SMEM.search(line):
                found[kernel]["shared"] = int(smem.group(1))
    return found


def launch_threads() -> dict[str, int]:
    """kernel -> threads per block, read off kernels/cupy_ops.py and cupy_fused.py: `_launch`
    kernels run `_BLOCK` threads, `_launch_blocks(name, blocks, THREADS, ...)` kernels THREADS
    (a constant of cupy_ops)."""
    from attention_swap_reid.kernels import cupy_ops

    text = "".join(Path(cupy_ops.__file__).with_name(f"{name}.py").read_text() for name in ("cupy_ops", "cupy_fused"))
    threads = {name: cupy_ops._BLOCK for name in re.findall(r'_launch\("(\w+)"', text)}
    for name, constant in re.findall(r'_launch_blocks\("(\w+)", [^,]+, (?:cupy_ops\.)?(\w+)', text):
        threads[name] = getattr(cupy_ops, constant)
    return threads


def occupancy(arch: int, registers: int, shared: int, threads: int) -> tuple[int, float, str]:
    """(blocks per SM, resident warps / max warps, the limiting resource) for a kernel using
    `registers` per thread and `shared` bytes of static shared memory at `threads` per block."""
    max_threads, max_blocks, sm_registers, sm_shared = SM_LIMITS[arch]
    warps = -(-threads // WARP)
    per_warp = -(-max(registers, 1) * WARP // REGISTER_UNIT) * REGISTER_UNIT
    by_registers = (sm_registers // SUB_PARTITIONS // per_warp) * SUB_PARTITIONS // warps
    per_block_shared = -(-(shared + RESERVED_SHARED) // SHARED_UNIT) * SHARED_UNIT
    limits = {"blocks": max_blocks, "warps": max_threads // WARP // warps, "registers": by_registers,
              "shared memory": sm_shared // per_block_shared}
    blocks = min(limits.values())
    limit = min(limits, key=lambda name: (limits[name], name != "warps"))
    return blocks, blocks * warps / (max_threads // WARP), limit


def resources(archs: list[int]) -> list[KernelResources]:
    threads = launch_threads()
    rows = []
    for arch in archs:
        _, log = compile_program(arch, ("-Xptxas=-v",))
        for kernel, used in sorted(ptxas_report(log).items()):
            blocks, fraction, limit = occupancy(arch, used["registers"], used["shared"], threads[kernel])
            rows.append(KernelResources(kernel=kernel, arch=arch, **used, threads=threads[kernel],
                                        blocks_per_sm=blocks, occupancy=round(fraction, 4), limit=limit))
    return rows


def markdown(rows: list[KernelResources], command: str, nvrtc_version: str) -> str:
    lines = [f"# CUDA kernel resources (NVRTC {nvrtc_version}, CuPy's compile options)", "",
             f"Made by `{command}` (no GPU needed; see the script's docstring for the options and the "
             "occupancy rules).", "",
             "| kernel | arch | registers | shared (B) | stack (B) | spills (B) | threads/block | blocks/SM | "
             "occupancy | limited by |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in sorted(rows, key=lambda r: (r.kernel, r.arch)):
        lines.append(f"| {r.kernel} | sm_{r.arch} | {r.registers} | {r.shared} | {r.stack} | "
                     f"{r.spill_stores + r.spill_loads} | {r.threads} | {r.blocks_per_sm} | {r.occupancy:.0%} | "
                     f"{r.limit} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/kernel_resources.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/kernel-resources")
    args = parser.parse_args(argv)
    from cuda.bindings import nvrtc

    archs = sorted({*ARCHS, newest_arch()})
    rows = resources(archs)
    version = ".".join(str(v) for v in nvrtc.nvrtcVersion()[1:])
    command = " ".join(["python", "benchmarks/kernel_resources.py", *(argv if argv is not None else sys.argv[1:])])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "resources.json").write_text(json.dumps(dict(command=command, nvrtc=version, archs=archs,
                                                        kernels=[asdict(r) for r in rows]), indent=1) + "\n")
    (out / "resources.md").write_text(markdown(rows, command, version))
    spilled = [f"{r.kernel} sm_{r.arch}" for r in rows if r.spill_stores or r.spill_loads]
    print(f"{len(rows)} kernel builds for {', '.join(f'sm_{a}' for a in archs)}; spills: {spilled or 'none'}; "
          f"wrote {out}/resources.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
