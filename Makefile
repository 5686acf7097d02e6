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

KQL_CHECK := tools/kql-check
KQL_CHECK_STAMP := $(KQL_CHECK)/node_modules/.package-lock.json

.PHONY: env report demo test lint lab bench clean kql-check-deps

env: $(STAMP)

$(STAMP): requirements/lock.txt pyproject.toml
	@echo "==> creating the kit's environment in $(VENV) (first run takes a minute)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name kitlib --display-name "Python (kitlib)" > /dev/null
	@touch $(STAMP)

demo: $(DEMO)/ground_truth.json

# Regenerated only when the generator changes: same seed and --now, same bytes.
$(DEMO)/ground_truth.json: $(STAMP) $(wildcard kitlib/demo/*.py)
	$(BIN)/kitlib demo --out $(DEMO) --now $(NOW)

report: demo
	$(BIN)/kitlib report --workspace $(DEMO) --out $(REPORT) --now $(NOW)

# Microsoft's KQL analyzer from the committed lock file; re-installed when the lock or manifest changes.
kql-check-deps: $(KQL_CHECK_STAMP)

$(KQL_CHECK_STAMP): $(KQL_CHECK)/package.json $(KQL_CHECK)/package-lock.json
	@if command -v npm > /dev/null 2>&1; then \
	    echo "==> installing the KQL analyzer (npm ci in $(KQL_CHECK))"; \
	    cd $(KQL_CHECK) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.package-lock.json; \
	elif [ "$$CI" = true ]; then \
	    echo "npm not found, but CI must run the KQL analyzer check: install Node.js 20 with npm" >&2; exit 1; \
	else \
	    echo "npm not found: the KQL analyzer check will be skipped (install Node.js 20 with npm to run it)"; \
	fi

# Static checks: ruff, mypy (strict on kitlib), the KQL analyzer, notebook hygiene.
lint: $(STAMP) kql-check-deps
	$(BIN)/ruff check kitlib tests bench
	$(BIN)/ruff format --check kitlib tests bench
	$(BIN)/mypy
	$(BIN)/python -m kitlib.query.kqlcheck
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_lint.py

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# Speed and memory on this machine: demo tenants (1,500 and 20,000 users; BENCH_ARGS="--sizes
# small,large,huge" adds 100,000), analyze and the report 3 times each, every query, KQL vs SQL vs
# pandas; writes bench/results.md (about 20 minutes; not part of the tests).
bench: $(STAMP)
	$(BIN)/python bench/run_bench.py $(BENCH_ARGS)

# JupyterLab on the notebooks with the kit's kernel and the demo tenant as the default workspace.
# As root (containers) Jupyter refuses to start without --allow-root; LAB_ARGS adds more options.
LAB_ARGS ?=
lab: $(STAMP) demo
	KITLIB_WORKSPACE=$(abspath $(DEMO)) $(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

clean:
	rm -rf build
