# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test unit integration bench clean

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[tests]"
	touch $@

demo: $(VENV)/.installed
	$(PY) tools/demo.py

test: $(VENV)/.installed
	$(PY) -m pytest unit_tests integration_tests

unit: $(VENV)/.installed
	$(PY) -m pytest unit_tests

integration: $(VENV)/.installed
	$(PY) -m pytest integration_tests

bench: $(VENV)/.installed
	$(PY) tools/bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .demo .bench
