# The two front-door commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: install run test test-any-date lint format migrate clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

# Installs, migrates (which loads the runbook's defaults), makes an admin if there is none, then
# starts the web server, a worker and beat together. Ctrl-C stops all three.
run: export DEBUG ?= 1
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py bootstrap
	$(BIN)/honcho start -f Procfile

test: install
	$(BIN)/pytest

# The suite on another date: under libfaketime two years ahead, then a year back; no test may depend on
# today. Workers and servers the tests start inherit the fake wall clock (the monotonic clock stays real:
# see scripts/faketime/sitecustomize.py). A PostgreSQL or Redis server keeps its own clock, and backups
# take their snapshot time from PostgreSQL: with DATABASE_URL set, run that server under faketime too.
FAKETIME_OFFSETS ?= +730d -365d
test-any-date: install
	@command -v faketime >/dev/null || { echo "test-any-date: skipped, faketime is not installed (apt-get install faketime)"; exit 0; }; \
	for offset in $(FAKETIME_OFFSETS); do \
	  echo "== pytest under faketime $$offset ($$(faketime -f "$$offset" date -u '+%F %T UTC'))"; \
	  PYTHONPATH=$(CURDIR)/scripts/faketime$${PYTHONPATH:+:$$PYTHONPATH} \
	    faketime --exclude-monotonic -f "$$offset" $(BIN)/pytest $(PYTEST_ARGS) || exit 1; \
	done

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf var/broker var/static test-artifacts
