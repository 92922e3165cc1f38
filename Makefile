# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NOX := $(VENV)/bin/nox
# The Pythons of the matrix (noxfile.PYTHONS) but the venv's own, which `make test` runs in full.
OTHER_PYTHONS = $(shell $(PY) -c 'import sys, noxfile; print(*(v for v in noxfile.PYTHONS if v != "%d.%d" % sys.version_info[:2]))')

.PHONY: demo test lint test-matrix test-matrix-rest unit integration bench measure clean catalog

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[tests]"
	touch $@

demo: $(VENV)/.installed
	$(PY) tools/demo.py

# The check before a commit, a few minutes on 2 cores: lint, every test under the default Python,
# and the unit tests under the other Pythons of 3.10-3.13 found here (nox, noxfile.py). The
# integration tests under those are `make test-matrix-rest`; CI runs both (.ci/run).
test: $(VENV)/.installed lint
	$(PY) -m pytest unit_tests integration_tests
	$(NOX) --python $(OTHER_PYTHONS) -- unit_tests

# A configured catalog for `read --catalog`, from `discover` with CONFIG: every stream in full
# refresh; STREAMS=customers,activities picks some, INCREMENTAL=1 reads activities incrementally.
CONFIG ?= secrets/config.json
CATALOG ?= secrets/catalog.json
catalog: $(VENV)/.installed
	$(PY) tools/catalog.py --config $(CONFIG) --output $(CATALOG) $(if $(STREAMS),--streams $(STREAMS)) $(if $(INCREMENTAL),--incremental)

# ruff (lint and format) and mypy: the style and the types, checked before any test runs.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy source_chartmogul

unit: $(VENV)/.installed
	$(PY) -m pytest unit_tests

integration: $(VENV)/.installed
	$(PY) -m pytest integration_tests

# The goals of docs/benchmark.md, a few minutes on 2 cores; exits 1 if one is missed.
# `make bench BENCH_QUICK=1`: a fifth of the data, one attempt, a smoke run of under a minute.
bench: $(VENV)/.installed
	$(PY) tools/bench.py

# Every test under every Python of 3.10-3.13 found here, each in its own virtualenv under .nox/
# (kept and reused). A Python that is missing is skipped, and nox says so.
test-matrix: $(VENV)/.installed
	$(NOX)

# What `make test` leaves out of the matrix: the integration tests under the other Pythons.
# `make test` then this runs each test once under every Python (what CI does).
test-matrix-rest: $(VENV)/.installed
	$(NOX) --python $(OTHER_PYTHONS) -- integration_tests

# The measurements behind docs/architecture.md (tools/measure.py; about 3 minutes).
measure: $(VENV)/.installed
	$(PY) tools/measure.py all

clean:
	rm -rf $(VENV) .nox build *.egg-info .pytest_cache .demo .bench

# PyAirbyte (about 780 MB) in a venv of its own, with the connector: runs the opt-in test
# integration_tests/test_pyairbyte.py. Then: .venv-pyairbyte/bin/python examples/pyairbyte_demo.py
PYAIRBYTE_VENV := .venv-pyairbyte
PYAIRBYTE_VERSION := 0.71.3

$(PYAIRBYTE_VENV)/.installed: setup.py
	$(PYTHON) -m venv $(PYAIRBYTE_VENV)
	$(PYAIRBYTE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PYAIRBYTE_VENV)/bin/python -m pip install --quiet "airbyte==$(PYAIRBYTE_VERSION)" -e ".[tests]"
	touch $@

.PHONY: pyairbyte
pyairbyte: $(PYAIRBYTE_VENV)/.installed
	RUN_PYAIRBYTE=1 $(PYAIRBYTE_VENV)/bin/python -m pytest integration_tests/test_pyairbyte.py
