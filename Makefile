# One entry point for everything: each target creates .venv and installs the project first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo parity serve check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The working tree's plugins are unsigned: the demo, the harness and the development server run as development, where
# PLUGIN_SIGNATURES defaults to `warn` (loaded, with a note) instead of production's `enforce` (docs/operations.md).
demo parity serve: export ENVIRONMENT ?= development

## test: the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist worksteal

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## demo: migrate, seed, run the parity harness on both features (reports in reports/parity), then serve on :8000;
## the harness (under a minute here: 38 s) runs only for a feature whose code changed since its last passing run
demo: $(STAMP)
	$(BIN)/sv migrate:deploy
	$(BIN)/sv seed
	$(BIN)/sv parity:run --report-dir reports/parity --if-changed
	$(BIN)/sv serve

## parity: the parity harness alone (bundled recordings + 500 generated cases per feature)
parity: $(STAMP)
	$(BIN)/sv migrate:deploy
	$(BIN)/sv parity:run --report-dir reports/parity

## serve: serve the platform on 127.0.0.1:8000
serve: $(STAMP)
	$(BIN)/sv serve

check: test lint

clean:
	rm -rf $(VENV) data reports .pytest_cache .mypy_cache .ruff_cache .hypothesis
