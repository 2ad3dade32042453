"""The kernel tests can fail: with the barriers of one CUDA file removed, or one bounds check
widened, in a scratch copy of kernels/cuda/, the block-level tests (test_block_level.py, on the
CPU emulation at real block sizes) fail; on an unaltered copy they pass.

Each case runs those tests in a fresh pytest process whose kernels are built from the copy
(`ASR_CUDA_DIR`, read by tests/kernels/conftest.py). A crash of that process (a kernel reading
far out of bounds, as on a GPU) counts as failing, as a failed test does.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from attention_swap_reid.kernels import cuda_sources

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("g++") is None, reason="the emulation needs g++")]

ROOT = Path(__file__).resolve().parents[2]
BOUNDS_CHECK = ("for (int k = max(x - r, 0); k <= min(x + r, W - 1); ++k)", "for (int k = x - r; k <= x + r; ++k)")
"""`row_max` of dilate.cu, clipped to its row, and the same loop unclipped."""


def without_barriers(text: str) -> str:
    assert "__syncthreads();" in text
    return text.replace("__syncthreads();", "")


def without_bounds_check(text: str) -> str:
    assert BOUNDS_CHECK[0] in text, "the bounds check this test removes has changed: update BOUNDS_CHECK"
    return text.replace(*BOUNDS_CHECK)


MUTATIONS = {
    **{f"{module}.cu without barriers": (module, without_barriers)
       for module in cuda_sources.MODULES if "__syncthreads();" in cuda_sources.file_text(module)},
    "dilate.cu row_max unclipped": ("dilate", without_bounds_check),
}
"""Every CUDA file with barriers loses them all; one bounds check is widened."""


def test_every_file_with_barriers_is_mutated():
    assert {name.split(".")[0] for name in MUTATIONS if "barriers" in name} == {"masks", "augment", "pullpush"}


def block_level_tests(sources: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ASR_EMULATION_SANITIZER"} | {"ASR_CUDA_DIR": str(sources)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-k", "emulated",
                           "tests/kernels/test_block_level.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)


def scratch_copy(tmp_path: Path, module: str | None = None, mutate=None) -> Path:
    folder = tmp_path / "cuda"
    shutil.copytree(cuda_sources.CUDA_DIR, folder)
    if module is not None:
        path = folder / f"{module}.cu"
        path.write_text(mutate(path.read_text()))
    return folder


def test_the_block_level_tests_pass_on_an_unaltered_copy(tmp_path):
    result = block_level_tests(scratch_copy(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_the_block_level_tests_fail_on_a_mutant(tmp_path, mutation):
    result = block_level_tests(scratch_copy(tmp_path, *MUTATIONS[mutation]))
    crashed = result.returncode < 0
    assert crashed or (result.returncode == 1 and " failed" in result.stdout), \
        f"{mutation}: exit {result.returncode}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
