"""The CUDA sources compile with NVRTC (the compiler CuPy uses at run time) and with nvcc.

No GPU needed: NVRTC comes with `cuda-bindings` (installed with torch) and compiles to a cubin
for a named architecture. Each module compiles with the modules it needs before it, and the
whole program (what the backend compiles) too. Each kernel that `kernels/cupy_ops.py` launches
must exist.
"""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from attention_swap_reid.kernels import cuda_sources

ARCHITECTURES = ("sm_80", "sm_90")


def nvrtc_compile(nvrtc, name: str, code: str, arch: str) -> tuple[bool, str, int]:
    """(success, log, cubin size) of compiling `code` for `arch` with the backend's options."""
    err, program = nvrtc.nvrtcCreateProgram(code.encode(), f"{name}.cu".encode(), 0, [], [])
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS
    try:
        options = [f"--gpu-architecture={arch}".encode()] + [o.encode() for o in cuda_sources.NVRTC_OPTIONS]
        (result,) = nvrtc.nvrtcCompileProgram(program, len(options), options)
        _, size = nvrtc.nvrtcGetProgramLogSize(program)
        log = bytearray(size)  # mutable: NVRTC writes into it (b" " * 1 is Python's shared one-byte object)
        nvrtc.nvrtcGetProgramLog(program, log)
        _, cubin = nvrtc.nvrtcGetCUBINSize(program)
        return result == nvrtc.nvrtcResult.NVRTC_SUCCESS, log.decode(errors="replace").strip("\x00 \n"), cubin
    finally:
        nvrtc.nvrtcDestroyProgram(program)


def unit(module: str) -> str:
    return cuda_sources.program() if module == "program" else cuda_sources.source(module)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("module", cuda_sources.MODULES + ("program",))
def test_compiles_with_nvrtc(module, arch):
    nvrtc = pytest.importorskip("cuda.bindings.nvrtc", reason="NVRTC Python bindings (cuda-bindings) not installed")
    ok, log, cubin = nvrtc_compile(nvrtc, module, unit(module), arch)
    assert ok, f"{module}.cu for {arch}:\n{log}"
    assert "warning" not in log.lower(), log
    assert cubin > 0


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
@pytest.mark.parametrize("module", cuda_sources.MODULES + ("program",))
def test_compiles_with_nvcc(module, tmp_path):
    source = tmp_path / f"{module}.cu"
    source.write_text(unit(module))
    result = subprocess.run(["nvcc", "-arch=sm_90", "--fmad=false", "-c", str(source), "-o", str(tmp_path / "out.o")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_every_launched_kernel_exists():
    wrappers = "".join(Path(cuda_sources.__file__).with_name(f"{name}.py").read_text()
                       for name in ("cupy_ops", "cupy_fused"))
    launched = set(re.findall(r'_launch(?:_blocks)?\("(\w+)"', wrappers))
    assert len(launched) >= 20
    program = cuda_sources.program()
    for kernel in launched:
        assert f'extern "C" __global__ void {kernel}(' in program, kernel
    declared = set(re.findall(r'extern "C" __global__ void (\w+)\(', program))
    assert declared == launched, "kernels nobody launches, or launched but missing"
    assert sorted(p.stem for p in cuda_sources.CUDA_DIR.glob("*.cu")) == sorted(cuda_sources.MODULES)


def test_every_unit_starts_with_the_band_edges_of_the_roi_modes():
    # two bits per edge, four per mode: full (top 0, bottom 2), upper (top 0, cut 1), lower (cut 1, bottom 2)
    packed = (0 | 2 << 2) | (0 << 4 | 1 << 6) | (1 << 8 | 2 << 10)
    assert cuda_sources.definitions().endswith(f"#define ROI_BAND_EDGES {packed:#x}\n")
    for module in cuda_sources.MODULES + ("program",):
        assert unit(module).startswith(cuda_sources.definitions())
