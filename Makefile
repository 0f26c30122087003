# Two commands: `make run` and `make test`. Everything else is a step they depend on.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := requirements/constraints.txt
STAMP := $(VENV)/.installed

.PHONY: run test lint test-sqlite test-postgres pg-role install clean lock

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

# One install (with the dev extras) serves both run and test; pins come from the constraints file.
# `make run` installs only what the platform needs; `make test` adds the development tools.
RUN_STAMP := $(VENV)/.installed-run
$(RUN_STAMP): $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e .
	touch $(RUN_STAMP)

$(STAMP): $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	touch $(STAMP) $(RUN_STAMP)

install: $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/bindery run

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/mypy

# The suite runs twice: on the embedded SQLite default, then on the machine's PostgreSQL with
# throw-away databases (Django creates test_<name> and drops it afterwards).
# Tests connect as a role without superuser rights, because PostgreSQL superusers bypass the
# row-level security policies the suite proves. pg-role creates it with the admin URL.
PG_ADMIN_URL ?= postgres://postgres@127.0.0.1:5432/postgres
PG_URL ?= postgres://bindery_test@127.0.0.1:5432
RUN_ID := $(shell date +%s)_$$$$
# In-process tests run jobs inline (BINDERY_QUEUE=immediate); the real SQLite and PostgreSQL
# queues are proven by tests/ops/test_queue.py and by the tests that start the real server.
test-sqlite test-postgres: export BINDERY_QUEUE = immediate
test-sqlite: $(STAMP)
	BINDERY_VAR_DIR=$(CURDIR)/.test-var/sqlite $(BIN)/pytest -p no:cacheprovider -n 2 $(PYTEST_ARGS)

pg-role:
	psql "$(PG_ADMIN_URL)" -v ON_ERROR_STOP=1 -qAtc "DO \$$\$$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bindery_test') THEN CREATE ROLE bindery_test LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS; END IF; END \$$\$$;" </dev/null

test-postgres: $(STAMP) pg-role
	BINDERY_VAR_DIR=$(CURDIR)/.test-var/postgres \
	BINDERY_CONTROL_DATABASE_URL=$(PG_URL)/bindery_control_$(RUN_ID) \
	BINDERY_HOST_DATABASE_URL=$(PG_URL)/bindery_host_$(RUN_ID) \
	$(BIN)/pytest -p no:cacheprovider -n 2 --dist loadfile $(PYTEST_ARGS)

test: lint test-sqlite test-postgres

lock: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip freeze --exclude-editable | grep -v '^bindery' > $(CONSTRAINTS)

clean:
	rm -rf $(VENV) .test-var .mypy_cache .ruff_cache
