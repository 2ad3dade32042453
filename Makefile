# Two commands on a fresh machine: `make demo` (train on the synthetic world) and `make test`.
# Both install the project into its own .venv with the exact pins of constraints.txt (the lock);
# pyproject.toml only holds compatible ranges.
#
#   CUDA=13 (default) or 12: the CUDA flavour of DALI and CuPy (the `cuda13` / `cuda12` extra).
#     13 matches the locked torch 2.14.1, which PyPI ships as a CUDA-13.0 build (+cu130): one CUDA
#     runtime in the process. 12 needs a CUDA-12 build of torch 2.14.1 too, e.g.
#     `make setup CUDA=12 PIP_FLAGS='--extra-index-url https://download.pytorch.org/whl/cu126'`.
#   PYTHON: the interpreter that creates .venv (Python >= 3.11, the lock's).
#
# `make compat` proves the floors of pyproject.toml: it installs the oldest versions pyproject.toml
# admits (compat.txt: Python 3.10, torch 2.4, numpy 2.0, ... and the cuda12 extra, which those
# CUDA-12 torch builds want) into its own .venv-compat and runs the whole test suite there.
#   COMPAT_PYTHON: the interpreter that creates .venv-compat (Python 3.10).
PYTHON ?= python3
COMPAT_PYTHON ?= python3.10
CUDA ?= 13
PIP_FLAGS ?=
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
LOCK := constraints.txt
STAMP := $(VENV)/.installed

ifeq ($(CUDA),13)
OTHER_FLAVOUR := nvidia-dali-cuda120 cupy-cuda12x nvidia-nvimgcodec-cu12 nvidia-libnvcomp-cu12 \
	nvidia-nvjpeg-cu12 nvidia-nvjpeg2k-cu12 nvidia-nvtiff-cu12
else ifeq ($(CUDA),12)
OTHER_FLAVOUR := nvidia-dali-cuda130 cupy-cuda13x nvidia-nvimgcodec-cu13 nvidia-libnvcomp-cu13 \
	nvidia-nvjpeg nvidia-nvjpeg2k-cu13 nvidia-nvtiff-cu13
else
$(error CUDA must be 12 or 13, got '$(CUDA)')
endif

# The stamp records the flavour it was made for: asking for the other one reinstalls.
ifneq ($(shell cat $(STAMP) 2>/dev/null),cuda$(CUDA))
.PHONY: $(STAMP)
endif

.PHONY: setup demo test compat bench gpu-check emulation-tsan emulation-asan clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v >= (3, 11) else "$(VENV) has Python %d.%d; the project needs >= 3.11: rm -rf $(VENV) and run make PYTHON=python3.11" % v)'
	$(PIP) install -q -c $(LOCK) $(PIP_FLAGS) pip
	@# the two flavours install the same modules (cupy, nvidia.dali): remove the other one first;
	@# likewise opencv-python-headless, which older versions of this project installed (both are cv2)
	$(PIP) uninstall -q -y $(OTHER_FLAVOUR) opencv-python-headless 2>&1 | grep -v 'not installed' || true
	$(PIP) install -q -c $(LOCK) $(PIP_FLAGS) -e '.[cuda$(CUDA),dev]'
	echo cuda$(CUDA) > $(STAMP)

setup: $(STAMP)

demo: setup
	$(PY) trainer/run.py pipeline.yaml

# pytest exits 5 when it collects nothing: that is not a failure of the project
test: setup
	$(PY) -m pytest -q; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

COMPAT := .venv-compat
compat:
	test -x $(COMPAT)/bin/python || $(COMPAT_PYTHON) -m venv $(COMPAT)
	$(COMPAT)/bin/python -m pip install -q 'pip>=24'
	$(COMPAT)/bin/python -m pip install -q -c compat.txt -e '.[cuda12,dev]'
	$(COMPAT)/bin/python -m pip check
	$(COMPAT)/bin/python -c 'import sys, torch, numpy; print("python", sys.version.split()[0], "torch", torch.__version__, "numpy", numpy.__version__)'
	$(COMPAT)/bin/python -m pytest -q -p no:cacheprovider

bench: setup
	$(PY) benchmarks/throughput.py

gpu-check: setup
	bash benchmarks/gpu_check.sh

# The kernel tests on the CPU emulation of the CUDA kernels (kernels/testing/emulation.py) built
# with ThreadSanitizer (emulation-tsan: races between the emulated threads of a block) or with
# AddressSanitizer + UBSan (emulation-asan: out-of-bounds reads and writes, undefined
# behaviour). The first report stops the run with exit code 66 / 67. Third-party thread pools
# run on one thread (TSan cannot see their own synchronization). About 20 / 5 minutes here.
EMULATION_TESTS := tests/kernels/test_block_level.py tests/kernels/test_fused.py tests/kernels/test_cupy_parity.py \
	tests/kernels/test_tail.py
SINGLE_THREADED := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENCV_FOR_THREADS_NUM=1
emulation-tsan: setup
	$(SINGLE_THREADED) ASR_EMULATION_SANITIZER=thread TSAN_OPTIONS="halt_on_error=1 exitcode=66" \
		LD_PRELOAD=$$(g++ -print-file-name=libtsan.so) $(PY) -m pytest -q -s -p no:cacheprovider -k emulated $(EMULATION_TESTS)

emulation-asan: setup
	$(SINGLE_THREADED) ASR_EMULATION_SANITIZER=address ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:exitcode=67" \
		UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
		LD_PRELOAD=$$(g++ -print-file-name=libasan.so) $(PY) -m pytest -q -s -p no:cacheprovider -k emulated $(EMULATION_TESTS)

clean:
	rm -rf $(VENV) $(COMPAT) data runs .pytest_cache
