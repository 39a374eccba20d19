# Each target sets itself up on a fresh Debian machine (python3 and make are enough):
# the virtualenv, the Python packages, Node's npm (to fetch the pinned Pyodide and
# PyScript tarballs), the vendored browser runtime and Debian's Chromium.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: test lint unit e2e runtime system-deps console bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed: installing Debian's python3-venv"; \
	  apt-get update -q && apt-get install -y -q python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# npm fetches the pinned runtime tarballs; Chromium runs the end-to-end tests.
system-deps:
	@command -v npm >/dev/null || { apt-get update -q && apt-get install -y -q nodejs npm; }
	@test -x $(CHROMIUM) || { apt-get update -q && apt-get install -y -q chromium; }

runtime: $(STAMP)
	@command -v npm >/dev/null || { apt-get update -q && apt-get install -y -q nodejs npm; }
	$(PY) -m browser_ocpp.cli runtime --dir runtime

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

unit: runtime
	$(PY) -m pytest -q tests

e2e: runtime system-deps
	$(PY) -m pytest -q playwright

test: lint unit e2e

# The web console, its runtime and the demo CSMS on one port; prints the URL.
console: runtime
	$(PY) -m browser_ocpp.cli serve --host $(HOST) --port $(PORT) --runtime runtime

bench: $(STAMP)
	$(PY) bench/engine.py

clean:
	rm -rf $(VENV) runtime .pytest_cache .mypy_cache .ruff_cache .hypothesis dist build
