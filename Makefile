# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CLI := $(BIN)/discharge-scheduler

.PHONY: run test install install-test translations postgres chromium clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# Compiled catalogues (.mo) are not committed: they are built from the .po files here,
# after the venv (and so pybabel) exists, so `make run` and `make test` always use current ones.
PO := $(wildcard scheduler/translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

install: $(VENV)/.installed
	@$(MAKE) --no-print-directory compile-translations
install-test: $(VENV)/.installed-test
	@$(MAKE) --no-print-directory compile-translations

.PHONY: compile-translations
compile-translations: $(MO)
	@:

%.mo: %.po
	$(BIN)/pybabel -q compile -i $< -o $@

# Re-extract the message ids from code and templates and merge them into every .po file;
# then translate the new or fuzzy entries (tests/test_translations.py fails until you do).
translations: install
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ -k lazy_gettext --sort-output \
		--project discharge-scheduler -o scheduler/translations/messages.pot .
	$(BIN)/pybabel -q update -i scheduler/translations/messages.pot -d scheduler/translations \
		--ignore-obsolete
	@$(MAKE) --no-print-directory compile-translations

# Serve the app with demo data on SQLite at http://127.0.0.1:5000
run: install
	$(CLI) init-db
	$(CLI) demo-data
	$(CLI) run

# PostgreSQL for the tests: start the local cluster if it is installed and down.
postgres:
	@bash scripts/ensure-postgres

# The browser tests drive Debian's chromium (Playwright cannot download its own browser here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium is missing and could not be installed; the browser tests will say so" >&2

# axe-core (accessibility checks loaded into the pages by tests/browser/test_main_pages.py),
# pinned by package-lock.json. npm keeps the tarball's old timestamps, hence the touch.
AXE := node_modules/axe-core/axe.min.js
$(AXE): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing; the accessibility tests will say so" >&2; exit 0; }; \
		npm ci --no-audit --no-fund && touch $@

test: install-test postgres chromium $(AXE)
	$(BIN)/pytest

# Benchmarks and load tests (bench/, BENCHMARKS.md). National-scale data is generated on the first
# run and cached in bench/.data (BENCH_SCALE=0.1 for a quick look); results go to bench/results/.
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@ $(VENV)/.installed

bench: $(VENV)/.installed-bench postgres
	@$(MAKE) --no-print-directory compile-translations
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache node_modules
