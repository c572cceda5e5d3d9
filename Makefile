# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CLI := $(BIN)/discharge-scheduler

.PHONY: run test install install-test postgres clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Serve the app with demo data on SQLite at http://127.0.0.1:5000
run: install
	$(CLI) init-db
	$(CLI) demo-data
	$(CLI) run

# PostgreSQL for the tests: start the local cluster if it is installed and down.
postgres:
	@bash scripts/ensure-postgres

test: install-test postgres
	$(BIN)/pytest

clean:
	rm -rf $(VENV) instance .pytest_cache
