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


def defines(text: str) -> dict[str, str]:
    return dict(re.findall(r"^#define (\w+) (\S+)$", text, re.M))


def test_the_band_edges_of_hand_made_roi_modes(monkeypatch):
    from attention_swap_reid.kernels.tables import RoiMode

    modes = {"a": RoiMode(0, ("top", "bottom")), "b": RoiMode(1, ("cut", "bottom")), "c": RoiMode(2, ("top", "cut"))}
    monkeypatch.setattr(cuda_sources, "ROI_MODES", modes)
    # two bits per edge (top 0, cut 1, bottom 2), four per mode: a (0, 2), b (1, 2), c (0, 1)
    assert defines(cuda_sources.definitions())["ROI_BAND_EDGES"] == hex(0b01_00_10_01_10_00)
    monkeypatch.setattr(cuda_sources, "ROI_MODES", {f"m{k}": RoiMode(k, ("top", "cut")) for k in range(8)})
    with pytest.raises(ValueError, match="at most 7 modes"):
        cuda_sources.definitions()


def test_every_roi_mode_decodes_to_its_band():
    from attention_swap_reid.kernels.tables import BAND_EDGES, ROI_MODES

    packed = int(defines(cuda_sources.definitions())["ROI_BAND_EDGES"], 16)
    for mode in ROI_MODES.values():
        start, stop = (packed >> (4 * mode.code)) & 3, (packed >> (4 * mode.code + 2)) & 3
        assert (BAND_EDGES[start], BAND_EDGES[stop]) == mode.band


def test_the_cuda_files_take_every_table_from_the_generated_definitions():
    """Every unit starts with the generated #defines, and no CUDA file defines one of them
    itself (a hand-made copy of a table)."""
    generated = defines(cuda_sources.definitions())
    assert {"BAND_EDGE_CUT", "FILL_PYRAMID", "OUT_BFLOAT16", "ROW_LANES", "EMPTY_BOX_Y1"} <= set(generated)
    for module in cuda_sources.MODULES + ("program",):
        assert unit(module).startswith(cuda_sources.definitions())
    for module in cuda_sources.MODULES:
        spelled = set(defines(cuda_sources.file_text(module))) & set(generated)
        assert not spelled, f"{module}.cu defines {spelled}, generated from kernels/tables.py"
