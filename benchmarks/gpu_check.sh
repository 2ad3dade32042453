#!/usr/bin/env bash
# The GPU checks of shared/GPU.md in one command, run from the project root on a GPU machine:
#
#     bash benchmarks/gpu_check.sh [OUT_DIR] [extra throughput.py options, e.g. --windows 3]
#
# 1-2. pytest -m gpu: cupy backend == numpy backend, the DALI loader in device="gpu" mode;
# 3-4. benchmarks/throughput.py --device gpu (all rows + the ResNet-50 + AMP data-wait share).
# Everything lands in OUT_DIR (default benchmarks/results): gpu-pytest.txt and
# <gpu name>/throughput.{json,md,png}, command.txt. The project need not be installed: the
# project root goes on PYTHONPATH (DALI from the staged wheels goes there too, see GPU.md);
# PYTHON picks the interpreter (default python3).
set -euo pipefail
py="${PYTHON:-python3}"
out="${1:-benchmarks/results}"
shift || true
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu-nvidia-smi.txt"
status=0
"$py" -m pytest -m gpu -q -rs 2>&1 | tee "$out/gpu-pytest.txt" || status=$?
"$py" benchmarks/throughput.py --device gpu --out "$out" "$@"
exit "$status"
