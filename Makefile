# `make run` and `make test` each set up .venv from scratch when needed, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STATE := .ringpush

.PHONY: run test lint typecheck unit bench clean system-packages

# `make run` installs what running needs; `make test` adds the dev tools.
RUN_STAMP := $(VENV)/.installed-run

$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/ringpush run --state-dir $(STATE)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian packages the tests use: nghttpd (interop) and PostgreSQL (the tests start their own).
system-packages:
	@./scripts/install-system-packages.sh

unit: $(STAMP) system-packages
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/apns_throughput.py

clean:
	rm -rf $(VENV) $(STATE) .mypy_cache .pytest_cache .ruff_cache
