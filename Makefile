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

.PHONY: demo test install lock lint typecheck pytest services browser web web-test api-types clean

demo: install web
	$(BIN)/agencyhub demo

test: install services browser lint typecheck web web-test pytest

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

browser:
	bash .ci/ensure-browser

# The web app: npm ci from the committed package-lock.json, then the production build
# that the server answers under / (frontend/dist).
WEB := frontend
WEB_STAMP := $(WEB)/node_modules/.installed

$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $(WEB_STAMP)

web: $(WEB_STAMP)
	cd $(WEB) && npm run build

# The frontend's own checks: generated API types match openapi.json, lint, Vitest.
web-test: $(WEB_STAMP)
	cd $(WEB) && npm run check-api-types && npm run lint && npm test

# After an API change: the OpenAPI document, then the TypeScript types generated from it.
api-types: install $(WEB_STAMP)
	$(BIN)/agencyhub openapi -o $(WEB)/openapi.json
	cd $(WEB) && npm run api-types

lint:
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/ruff format --check src tests migrations bench

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest -n 2 -p no:cacheprovider

clean:
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .mypy_cache .ruff_cache $(WEB)/node_modules $(WEB)/dist test-output
