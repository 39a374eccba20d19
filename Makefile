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

.PHONY: test lint unit unit-pythons e2e runtime system-deps redis-server console bench bench-cluster clean

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
	$(PY) -m mypy browser_ocpp  # the package on its own: it reads nothing outside itself

# The adapter tests start their own redis-server (Debian's) on a free port; the
# package's service is stopped if installing it started one.
redis-server:
	@command -v redis-server >/dev/null || { apt-get update -q && apt-get install -y -q redis-server \
	  && { invoke-rc.d redis-server stop >/dev/null 2>&1 || true; }; }

unit: runtime redis-server
	$(PY) -m pytest -q tests

# The other CPythons the package supports, where this machine has them (pyenv's
# versions, or a python3.X on PATH that runs): the unit suite runs on each, in a
# virtualenv of its own (.venv-3.X). Pyodide's own Python runs the peer and emulator
# suites once, in `make unit` (tests/browser/test_pyodide_suite.py).
OTHER_PYTHONS := $(shell for v in 3.12 3.13 3.14; do \
    for p in $$HOME/.pyenv/versions/$$v.*/bin/python$$v $$(command -v python$$v); do \
      if "$$p" -c '' 2>/dev/null; then echo "$$p"; break; fi; \
    done; done)

unit-pythons: runtime redis-server
	@for p in $(OTHER_PYTHONS); do \
	  v=$$("$$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])'); venv=.venv-$$v; \
	  test -x $$venv/bin/python || "$$p" -m venv $$venv || exit 1; \
	  test $$venv/.installed -nt pyproject.toml || { \
	    $$venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' \
	    && touch $$venv/.installed; } || exit 1; \
	  echo "== unit and integration tests on Python $$v ($$p)"; \
	  $$venv/bin/python -m pytest -q -p no:cacheprovider tests \
	    --ignore=tests/browser/test_pyodide_suite.py || exit 1; \
	done

e2e: runtime system-deps
	$(PY) -m pytest -q playwright

test: lint unit unit-pythons e2e

# The web console, its runtime and the demo CSMS on one port; prints the URL.
console: runtime
	$(PY) -m browser_ocpp.cli serve --host $(HOST) --port $(PORT) --runtime runtime

bench: $(STAMP)
	$(PY) bench/engine.py

bench-cluster: $(STAMP) redis-server
	$(PY) bench/cluster.py

clean:
	rm -rf $(VENV) .venv-3.* runtime .pytest_cache .mypy_cache .ruff_cache .hypothesis dist build
