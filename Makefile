# The two commands of the README: `make demo` and `make test`.
# Installs come from the committed lock (uv.lock, hashes included); `make lock` refreshes it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .venv-tools
UV := $(TOOLS)/bin/uv
STAMP := $(VENV)/.installed
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(shell command -v $(PYTHON))

.PHONY: demo test install lock lint typecheck pytest services clean

demo: install
	$(BIN)/agencyhub demo

test: install services lint typecheck pytest

install: $(STAMP)

# uv itself comes from a hash-pinned requirements file, so the installer is reproducible too.
$(UV): requirements-uv.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes -r requirements-uv.txt
	touch $(UV)

# --frozen: install exactly what uv.lock says; fail rather than re-resolve.
$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --all-extras
	touch $(STAMP)

# Re-resolve every dependency to the newest allowed version, then reinstall from the new lock.
lock: $(UV)
	$(UV) lock --upgrade
	$(UV) sync --frozen --all-extras
	touch $(STAMP)

services:
	bash .ci/ensure-services

lint:
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/ruff format --check src tests migrations bench

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest -n 2 -p no:cacheprovider

clean:
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .mypy_cache .ruff_cache
