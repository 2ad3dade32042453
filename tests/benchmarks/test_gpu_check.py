"""benchmarks/gpu_check.sh stage 1 on a machine without a GPU: from a copy of the checkout that is
not installed (the copy on PYTHONPATH, as on the GPU machine), every GPU step fails fast and says
so in its file, and compute-sanitizer (a stand-in that records how it was called, then runs the
command) gets each of its four tools with the small GPU kernel tests."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE_SANITIZER = """#!/usr/bin/env bash
echo "$@" >> "$FAKE_SANITIZER_LOG"
while [[ "$1" == --* ]]; do shift 2; done
exec "$@"
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None or shutil.which("timeout") is None, reason="needs git and timeout")
def test_stage_1_fails_fast_without_a_gpu_and_runs_the_sanitizer_tools(tmp_path):
    checkout = tmp_path / "checkout"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    tool = tmp_path / "sanitizer/nvidia/cu13/bin/compute-sanitizer"
    tool.parent.mkdir(parents=True)
    tool.write_text(FAKE_SANITIZER)
    tool.chmod(0o755)
    log, out = tmp_path / "sanitizer.log", tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ASR_REQUIRE_GPU")}
    env.update(PYTHON=sys.executable, SANITIZER_DIR=str(tmp_path / "sanitizer"), FAKE_SANITIZER_LOG=str(log),
               CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(["bash", "benchmarks/gpu_check.sh", "1", str(out)], cwd=checkout, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    steps = ["nvidia-smi", "environment", "pytest-kernels", *(f"sanitizer-{t}" for t in
                                                             ("racecheck", "synccheck", "initcheck", "memcheck")),
             "augment-b64", "augment-b256"]
    assert sorted(p.stem for p in out.glob("stage1-*.txt")) == sorted(f"stage1-{s}" for s in steps)
    for step in steps:
        if step != "environment":
            assert f"== stage1-{step}: exit" in (out / f"stage1-{step}.txt").read_text(), step
    environment = (out / "stage1-environment.txt").read_text()
    assert f"kernels {checkout}/kernels/__init__.py" in environment  # the copy, not the installed checkout
    assert "needs a CUDA GPU with CuPy" in (out / "stage1-pytest-kernels.txt").read_text()  # a failure, not a skip
    calls = log.read_text().splitlines()
    assert [c.split()[1] for c in calls] == ["racecheck", "synccheck", "initcheck", "memcheck"]
    assert all(c.endswith("-m pytest -m gpu -q -x -p no:cacheprovider -k cuda tests/kernels/test_block_level.py")
               and "--error-exitcode 1" in c for c in calls)
