#!/usr/bin/env bash
# The GPU checks, in stages that each fit a short lease of a GPU machine. From the project root:
#
#     bash benchmarks/gpu_check.sh 1 OUT_DIR     # needs CuPy only
#     bash benchmarks/gpu_check.sh 2 OUT_DIR     # needs DALI too
#     bash benchmarks/gpu_check.sh [all] [OUT_DIR]   # both, one after the other
#
# Stage 1 (about 4 minutes): nvidia-smi and where the project and its libraries come from;
# `pytest -m gpu tests/kernels` (cupy backend == numpy backend, bit for bit; a test that finds
# no GPU fails here instead of skipping); compute-sanitizer's racecheck, synccheck, initcheck
# and memcheck on the small GPU kernel tests (tests/kernels/test_block_level.py: the block-level
# kernels at their real block sizes); `AttentionAugment` alone at B = 64 and 256 (benchmark
# row 5, which also makes the benchmark's synthetic world in data/synth_bench, kept for stage 2).
# compute-sanitizer comes from the CUDA 13 wheel `nvidia-cuda-sanitizer-api`, unzipped into the
# folder SANITIZER_DIR names (it holds nvidia/cu13/bin/compute-sanitizer):
#     pip download --no-deps nvidia-cuda-sanitizer-api==13.0.85 -d .whl
#     unzip -q .whl/nvidia_cuda_sanitizer_api-*.whl -d .whl/sanitizer   # SANITIZER_DIR=.whl/sanitizer
# (without SANITIZER_DIR: a compute-sanitizer on PATH).
# Stage 2 (under 6 minutes): `pytest -m gpu tests/dali_pipes` (the loader in GPU mode against
# CPU mode); the short benchmark (rows 1-5 at batch 64, both placements of the augmentation);
# the ResNet-50 + AMP data-wait share (row t).
# Every step runs under its own `timeout` and writes its output into OUT_DIR (default
# benchmarks/results): stage1-*.txt, stage2-*.txt and <gpu name>/throughput.{json,md,png}.
# The project need not be installed: the project root goes on PYTHONPATH (put DALI's site
# folder there too when DALI is unpacked rather than installed). PYTHON picks the interpreter.
set -uo pipefail
py="${PYTHON:-python3}"
stage="${1:-all}"
out="${2:-benchmarks/results}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out"
status=0

step() {  # step SECONDS NAME COMMAND...: run COMMAND under a timeout, output to OUT_DIR/NAME.txt
    local seconds="$1" name="$2"
    shift 2
    echo "== $name: $* (at most ${seconds}s)"
    timeout "$seconds" "$@" 2>&1 | tee "$out/$name.txt"
    local rc="${PIPESTATUS[0]}"
    [ "$rc" -eq 0 ] || { echo "== $name: exit $rc" | tee -a "$out/$name.txt"; status=1; }
}

sanitizer="${SANITIZER_DIR:+$SANITIZER_DIR/nvidia/cu13/bin/compute-sanitizer}"
sanitizer="${sanitizer:-$(command -v compute-sanitizer || echo compute-sanitizer)}"

stage1() {
    step 20 stage1-nvidia-smi nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    step 30 stage1-environment "$py" -c "import attention_swap_reid.kernels as k, cupy, torch, numpy; \
print('kernels', k.__file__); print('cupy', cupy.__version__, 'torch', torch.__version__, 'numpy', numpy.__version__)"
    export ASR_REQUIRE_GPU=1  # on a GPU machine a skipped GPU test is a failure
    step 120 stage1-pytest-kernels "$py" -m pytest -m gpu -q -rs -p no:cacheprovider tests/kernels
    for tool in racecheck synccheck initcheck memcheck; do
        step 60 "stage1-sanitizer-$tool" "$sanitizer" --tool "$tool" --error-exitcode 1 --print-limit 50 \
            "$py" -m pytest -m gpu -q -x -p no:cacheprovider -k cuda tests/kernels/test_block_level.py
    done
    unset ASR_REQUIRE_GPU
    for batch in 64 256; do
        step 90 "stage1-augment-b$batch" "$py" benchmarks/throughput.py --device gpu --plan short --rows 5 \
            --batch "$batch" --out "$out/augment-b$batch"
    done
}

stage2() {
    step 30 stage2-dali "$py" -c "import nvidia.dali as d; print('DALI', d.__version__)"
    step 150 stage2-pytest-loader "$py" -m pytest -m gpu -q -rs -p no:cacheprovider tests/dali_pipes
    step 330 stage2-throughput "$py" benchmarks/throughput.py --device gpu --plan short --batch 64 \
        --rows 1,3,4,4b,5,t --out "$out"
}

case "$stage" in
    1) stage1 ;;
    2) stage2 ;;
    all) stage1; stage2 ;;
    *) echo "unknown stage '$stage': expected 1, 2 or all" >&2; exit 2 ;;
esac
exit "$status"
