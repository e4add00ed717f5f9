# Two commands for a fresh clone: `make run` builds the whole pipeline, `make test` runs every test.
# Both create .venv and install the project into it first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SOURCE ?=
WORKERS ?=
# VERBOSE=1: Luigi's own log on the console too (it always goes to data/logs/luigi-<time>.log).
VERBOSE ?=

.PHONY: install run test test-fast lint format browser dsn stop-postgres clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(if $(VERBOSE),PIPELINE_VERBOSE=1) $(BIN)/luigi --module pipeline RunAll --local-scheduler $(if $(WORKERS),--workers $(WORKERS)) \
		$(if $(SOURCE),--source "$(SOURCE)")

test: install lint browser
	$(BIN)/pytest

# The fast tier (README, Tests): no PostgreSQL server, no pipeline runs.
test-fast: install lint
	$(BIN)/pytest -m "not integration and not postgres"

# The run-report test renders the page in headless Chromium (Debian package). Installing it needs
# root; without it that one test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium could not be installed: the run-report rendering test will skip"

# sqlfluff's dbt templater takes its settings only from the .sqlfluff of the directory it runs in, so
# each dbt project is linted from its own directory (about 17 s for both, offline: see the
# `lint` targets of their profiles.yml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint .
	cd dbt/warehouse && ../../$(BIN)/sqlfluff lint .
	cd dbt/olap && ../../$(BIN)/sqlfluff lint .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

dsn: install
	@$(BIN)/python -m pipeline dsn

stop-postgres: install
	$(BIN)/python -m pipeline stop-postgres

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache dbt/*/target dbt/*/logs
