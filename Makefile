# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint test-py313 unit integration bench clean catalog

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[tests]"
	touch $@

demo: $(VENV)/.installed
	$(PY) tools/demo.py

test: $(VENV)/.installed lint
	$(PY) -m pytest unit_tests integration_tests

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

# Every test under Python 3.13, the image's, in a Debian root of its own (tools/py313.sh).
test-py313:
	tools/py313.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .demo .bench

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
