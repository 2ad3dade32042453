#!/usr/bin/env bash
# The GPU checks, in stages that each fit a short lease of a GPU machine. From the project root:
#
#     bash benchmarks/gpu_check.sh 1 OUT_DIR     # needs CuPy only
#     bash benchmarks/gpu_check.sh 2 OUT_DIR     # needs DALI too
#     bash benchmarks/gpu_check.sh [all] [OUT_DIR]   # both, one after the other
#
# Stage 1 (about 3 minutes): nvidia-smi; `pytest -m gpu tests/kernels` (cupy backend == numpy
# backend, bit for bit); `AttentionAugment` alone at B = 64 and 256 (benchmark row 5, which
# also makes the benchmark's synthetic world in data/synth_bench, kept for stage 2).
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

stage1() {
    step 20 stage1-nvidia-smi nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    step 150 stage1-pytest-kernels "$py" -m pytest -m gpu -q -rs -p no:cacheprovider tests/kernels
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
