# Two commands on a fresh machine: `make demo` (train on the synthetic world) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench gpu-check clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(PY) trainer/run.py pipeline.yaml

# pytest exits 5 when it collects nothing: that is not a failure of the project
test: setup
	$(PY) -m pytest -q; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

bench: setup
	$(PY) benchmarks/throughput.py

gpu-check: setup
	bash benchmarks/gpu_check.sh

clean:
	rm -rf $(VENV) data runs .pytest_cache
