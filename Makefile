# The newcomer's two commands: `make run` and `make test`. Everything else is set up by them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi.py

.PHONY: run test install chromium lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Playwright's own browser download does not work here: the tests drive Debian's Chromium.
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask cmp init-demo
	@echo "cmp: demo site on http://127.0.0.1:8000 (scheduler running beside it)"
	@$(BIN)/flask cmp scheduler & scheduler=$$!; \
	trap 'kill $$scheduler 2>/dev/null' EXIT INT TERM; \
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

# The whole suite on SQLite; the database tests again on PostgreSQL when CMP_TEST_DATABASE_URL is set.
test: install chromium
	$(BIN)/pytest -q
	@if [ -n "$$CMP_TEST_DATABASE_URL" ]; then \
		echo "== database tests again on PostgreSQL"; \
		CMP_TEST_BACKEND=postgres $(BIN)/pytest -q -m "db or postgres"; \
	else echo "== CMP_TEST_DATABASE_URL not set: PostgreSQL tests skipped"; fi

lint: install
	$(BIN)/ruff check cmp tests bench

bench: install chromium
	for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) instance .pytest_cache
