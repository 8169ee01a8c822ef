# Quickstart: `make repro` runs the pipeline, `make test` runs the tests.
# Both create .venv from the pinned lock file first (Python 3.11, CPU torch).
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0

.PHONY: install repro test report clean-venv

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

repro: install
	dvc repro
	dvc metrics show
	@echo "Next (README): source .venv/bin/activate, then dvc exp run ..., sqlforge ask --db <file.sqlite> \"<question>\""

test: install
	python -m pytest -q tests

BASE ?= main
report: install  # the markdown the PR workflow posts: committed metrics against $(BASE), refused if stale
	python scripts/pr_report.py $(BASE)
