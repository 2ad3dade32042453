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

.PHONY: setup demo test compat bench gpu-check clean

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

clean:
	rm -rf $(VENV) $(COMPAT) data runs .pytest_cache
