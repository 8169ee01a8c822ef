# Quickstart: `make repro` runs the pipeline, `make test` runs the type check and the tests.
# Both create .venv from the pinned lock file first (Python 3.11, CPU torch).
# `make test-gpu-env` does the same in .venv-gpu from requirements-gpu.lock (vLLM, CUDA torch; ~9.4 GB):
# it installs and runs on a CPU machine, where the tests that need a GPU skip.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
GPU_VENV := .venv-gpu
GPU_BIN := $(CURDIR)/$(GPU_VENV)/bin
export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0
# the tests run on every core (at most 4 workers), a test file per worker at a time (tests/conftest.py)
PYTEST := python -m pytest -q -n logical --maxprocesses 4 --dist loadfile --no-loadscope-reorder

.PHONY: install install-gpu repro typecheck test test-fast test-gpu-env report clean-venv

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

repro: install
	dvc repro
	sqlforge results  # the headline table with intervals; `dvc metrics show` lists every metric
	@echo "Next (README): source .venv/bin/activate, then dvc exp run ..., sqlforge ask --db <file.sqlite> \"<question>\""

typecheck: install  # mypy over src/ and stages/ (config in pyproject.toml): every engine backend meets the Engine Protocol
	python -m mypy

test: typecheck
	$(PYTEST) tests

test-fast: install  # the edit-test loop: everything but the tests marked slow (pipeline, stage subprocesses, training)
	$(PYTEST) -m "not slow" tests

install-gpu: $(GPU_VENV)/.installed

$(GPU_VENV)/.installed: requirements-gpu.lock pyproject.toml
	$(PYTHON) -m venv $(GPU_VENV)
	$(GPU_BIN)/python -m pip install --quiet --upgrade pip
	$(GPU_BIN)/python -m pip install --quiet -r requirements-gpu.lock
	$(GPU_BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# the same checks on the GPU lock; -rs lists each skipped test with its reason (those that need a GPU)
test-gpu-env: install-gpu
	PATH=$(GPU_BIN):$$PATH $(GPU_BIN)/python -m mypy
	PATH=$(GPU_BIN):$$PATH $(GPU_BIN)/$(PYTEST) -rs tests

BASE ?= main
report: install  # the markdown the PR workflow posts: committed metrics against $(BASE), refused if stale
	python scripts/pr_report.py $(BASE)
