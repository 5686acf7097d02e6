# The two commands a newcomer needs: `make report` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := build/demo-tenant
REPORT := build/report
NOW ?= 2026-11-27T00:00:00Z
PYTEST_ARGS ?=

.PHONY: env report demo test lint lab bench clean

env: $(STAMP)

$(STAMP): requirements/lock.txt pyproject.toml
	@echo "==> creating the kit's environment in $(VENV) (first run takes a minute)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name kitlib --display-name "Python (kitlib)" > /dev/null
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kitlib demo --out $(DEMO) --now $(NOW)

report: demo
	$(BIN)/kitlib report --workspace $(DEMO) --out $(REPORT) --now $(NOW)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lab: $(STAMP) demo
	KITLIB_WORKSPACE=$(abspath $(DEMO)) $(BIN)/jupyter lab notebooks/

clean:
	rm -rf build
