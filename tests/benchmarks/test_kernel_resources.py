"""Device resources of the CUDA kernels (benchmarks/kernel_resources.py), no GPU needed: no kernel
spills on sm_80, sm_90 or the newest architecture NVRTC knows, compiled with the very options
CuPy passes NVRTC; the committed table is the one the sources give; the occupancy rules agree
with CUDA's own calculator (cuda_occupancy.h) and the registers with cuobjdump's reading of the
cubin.
"""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

nvrtc = pytest.importorskip("cuda.bindings.nvrtc", reason="NVRTC Python bindings (cuda-bindings) not installed")
pytest.importorskip("cupy")

from attention_swap_reid.benchmarks import kernel_resources as kr  # noqa: E402
from attention_swap_reid.kernels import cuda_sources  # noqa: E402

pytestmark = pytest.mark.slow
COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks/results/kernel-resources/resources.json"


@pytest.fixture(scope="module")
def rows():
    return kr.resources(sorted({*kr.ARCHS, kr.newest_arch()}))


def test_no_kernel_spills_on_any_architecture(rows):
    kernels = set(re.findall(r'extern "C" __global__ void (\w+)\(', cuda_sources.program()))
    archs = sorted({*kr.ARCHS, kr.newest_arch()})
    assert archs[-1] >= 120 and {(r.kernel, r.arch) for r in rows} == {(k, a) for k in kernels for a in archs}
    spilled = [f"{r.kernel} sm_{r.arch}: {r.spill_stores} B stored, {r.spill_loads} B loaded" for r in rows
               if r.spill_stores or r.spill_loads]
    assert spilled == []
    assert all(0 < r.registers <= 64 and r.blocks_per_sm >= 1 and r.occupancy >= 0.5 for r in rows), \
        [r for r in rows if not (0 < r.registers <= 64 and r.occupancy >= 0.5)]


def test_the_committed_table_is_what_the_sources_give(rows):
    committed = json.loads(COMMITTED.read_text())
    version = ".".join(str(v) for v in nvrtc.nvrtcVersion()[1:])
    if committed["nvrtc"] != version:
        pytest.skip(f"the table was made with NVRTC {committed['nvrtc']}, this is {version}")
    fresh = sorted((vars(r) for r in rows), key=lambda r: (r["kernel"], r["arch"]))
    assert sorted(committed["kernels"], key=lambda r: (r["kernel"], r["arch"])) == fresh, \
        "kernels changed: rerun python benchmarks/kernel_resources.py and commit the table"


def test_the_options_are_those_cupy_passes_nvrtc(monkeypatch):
    """CuPy's own compile path (`compile_with_cache`, what `RawModule` calls), run as on an sm_90
    device up to the NVRTC call: the options it hands NVRTC are `cupy_options(90)`."""
    from cupy.cuda import compiler

    class Stop(Exception):
        pass

    seen, real = {}, compiler._NVRTCProgram

    def program(source, *args, **kwargs):
        if source != cuda_sources.program():
            return real(source, *args, **kwargs)  # CuPy's empty probe compile

        class Recorder:
            def compile(self, options=(), log_stream=None):
                seen["options"] = list(options)
                raise Stop

        return Recorder()

    monkeypatch.setattr(compiler, "_get_arch", lambda: "90")
    monkeypatch.setattr(compiler, "_get_arch_for_options_for_nvrtc", lambda arch=None: (f"-arch=sm_{arch}", "cubin"))
    monkeypatch.setattr(compiler, "_NVRTCProgram", program)
    from cupy._core import core

    with pytest.raises(Stop):
        core.compile_with_cache(cuda_sources.program(), cuda_sources.NVRTC_OPTIONS, prepend_cupy_headers=False)
    assert seen["options"] == kr.cupy_options(90)
    assert "-ftz=true" in seen["options"] and "--fmad=false" in seen["options"]


def sections(cubin: bytes) -> dict[bytes, bytes]:
    """name -> content of every section of a cubin (a 64-bit little-endian ELF)."""
    import struct

    shoff, = struct.unpack_from("<Q", cubin, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", cubin, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", cubin, shoff + k * shentsize) for k in range(shnum)]
    names = headers[shstrndx][4]
    return {cubin[names + name: cubin.index(b"\0", names + name)]: cubin[offset: offset + size] if kind != 8 else size
            for name, kind, _, _, offset, size in headers}  # kind 8: no bits, only a size


def test_the_ptxas_report_does_not_change_the_code():
    """With `-Xptxas=-v` the cubin differs only in the note that records the tools' command lines."""
    for arch in (90, kr.newest_arch()):
        plain, reported = (sections(kr.compile_program(arch, extra)[0]) for extra in ((), ("-Xptxas=-v",)))
        assert plain.pop(b".note.nv.tkinfo") != reported.pop(b".note.nv.tkinfo")
        assert plain == reported and b".text.roi_keys" in plain


def _cuda_occupancy_header():
    for root in ("/usr/local/cuda", *sorted(Path("/usr/local").glob("cuda-*"), reverse=True)):
        header = Path(root) / "include" / "cuda_occupancy.h"
        if header.exists():
            return header
    return None


HARNESS = r"""
#include <cstdio>
#include "cuda_occupancy.h"
int main() {
  int major, minor, threads_sm, shared_sm, registers, shared, threads;
  while (std::scanf("%d %d %d %d %d %d %d", &major, &minor, &threads_sm, &shared_sm, &registers, &shared,
                    &threads) == 7) {
    cudaOccDeviceProp p;
    p.computeMajor = major, p.computeMinor = minor, p.maxThreadsPerBlock = 1024;
    p.maxThreadsPerMultiprocessor = threads_sm, p.regsPerBlock = 65536, p.regsPerMultiprocessor = 65536;
    p.warpSize = 32, p.sharedMemPerBlock = 48 * 1024, p.sharedMemPerMultiprocessor = shared_sm, p.numSms = 1;
    p.sharedMemPerBlockOptin = shared_sm - 1024, p.reservedSharedMemPerBlock = 1024;
    cudaOccFuncAttributes a;
    a.maxThreadsPerBlock = 1024, a.numRegs = registers, a.sharedSizeBytes = shared;
    cudaOccDeviceState s;
    cudaOccResult r;
    if (cudaOccMaxActiveBlocksPerMultiprocessor(&r, &p, &a, &s, threads, 0) != CUDA_OCC_SUCCESS) return 1;
    std::printf("%d\n", r.activeBlocksPerMultiprocessor);
  }
  return 0;
}
"""


@pytest.mark.skipif(shutil.which("g++") is None or _cuda_occupancy_header() is None,
                    reason="needs g++ and CUDA's cuda_occupancy.h")
def test_occupancy_agrees_with_cuda_occupancy_h(rows, tmp_path):
    source = tmp_path / "occupancy.cpp"
    source.write_text(HARNESS)
    subprocess.run(["g++", "-O1", f"-I{_cuda_occupancy_header().parent}", str(source), "-o", str(tmp_path / "occ")],
                   check=True, capture_output=True)
    cases = {(r.arch, r.registers, r.shared, r.threads) for r in rows}
    cases |= {(arch, registers, shared, threads) for arch in kr.SM_LIMITS for registers in (16, 33, 64, 128, 255)
              for shared in (0, 1000, 16396, 40000) for threads in (32, 96, 128, 256, 1024)}
    cases = sorted(cases)
    lines = [f"{a // 10} {a % 10} {kr.SM_LIMITS[a][0]} {kr.SM_LIMITS[a][3]} {g} {s} {t}" for a, g, s, t in cases]
    out = subprocess.run([str(tmp_path / "occ")], input="\n".join(lines) + "\n", capture_output=True, text=True,
                         check=True).stdout.split()
    ours = [kr.occupancy(a, g, s, t)[0] for a, g, s, t in cases]
    assert [int(v) for v in out] == ours, [(c, int(v), o) for c, v, o in zip(cases, out, ours) if int(v) != o][:5]


def _cuobjdump():
    try:
        import triton
    except ImportError:
        return None
    path = Path(triton.__file__).parent / "backends/nvidia/bin/cuobjdump"
    return path if path.exists() else None


@pytest.mark.skipif(_cuobjdump() is None, reason="needs the cuobjdump triton ships")
def test_cuobjdump_reads_the_same_registers_from_the_cubin(rows, tmp_path):
    for arch in kr.ARCHS:
        cubin = tmp_path / f"program-{arch}.cubin"
        cubin.write_bytes(kr.compile_program(arch)[0])
        usage = subprocess.run([str(_cuobjdump()), "--dump-resource-usage", str(cubin)], capture_output=True,
                               text=True, check=True).stdout
        read = {m.group(1): (int(m.group(2)), int(m.group(3)))
                for m in re.finditer(r"Function (\w+):\s+REG:(\d+) STACK:(\d+)", usage)}
        assert read == {r.kernel: (r.registers, r.stack) for r in rows if r.arch == arch}
