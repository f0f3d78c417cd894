# The two front-door commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# requirements*.txt name what we use (direct dependencies, pinned); requirements*.lock pin every
# transitive dependency too, and are what gets installed: requirements-dev.lock here and in CI,
# requirements.lock (runtime only) in the Dockerfile. After editing a requirements*.txt: `make lock`.
REQS := requirements.txt requirements-dev.txt requirements.lock requirements-dev.lock
STAMP := $(VENV)/.installed-$(shell cat $(REQS) | sha1sum | cut -c1-12)
# `make lock` keeps every pin it can; `make lock LOCK_ARGS=--upgrade` moves everything to the newest.
LOCK_ARGS ?=
UV_COMPILE = $(BIN)/uv pip compile --universal --python-version 3.11 --custom-compile-command "make lock" $(LOCK_ARGS)

.PHONY: install lock run test test-any-date lint format migrate clean

$(STAMP): $(REQS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found %s)" % sys.version.split()[0])'
	@$(PYTHON) scripts/check_lock.py requirements.txt:requirements.lock requirements-dev.txt:requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.lock
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# Resolves requirements-dev.txt (which includes requirements.txt) into requirements-dev.lock, then the
# runtime subset into requirements.lock at the same versions.
lock:
	@test -x $(BIN)/uv || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); $(BIN)/pip install -q "$$(grep "^uv==" requirements-dev.txt)"; }
	$(UV_COMPILE) requirements-dev.txt -o requirements-dev.lock
	$(UV_COMPILE) requirements.txt -c requirements-dev.lock -o requirements.lock

migrate: install
	$(BIN)/python manage.py migrate --noinput

# Installs, writes $(VAR_DIR)/local.env on the first run (a generated SECRET_KEY, DEBUG=1, the port;
# every manage.py command, the scripts and `make test` read it), migrates (which loads the runbook's
# defaults), makes an admin if there is none, then starts the web server, a worker and beat together
# on HOST:PORT (127.0.0.1:8000 unless set). Ctrl-C stops all three.
run: install
	@$(BIN)/python -m pitchey_incidents.localenv init
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py bootstrap
	@exec $(BIN)/python -m pitchey_incidents.localenv exec -- $(BIN)/python -m pitchey_incidents.runner Procfile

# The suite runs on every core, at most 4 (pytest-xdist; each worker has its own test database, Redis
# databases, folders and queue prefix: see conftest.py). worksteal: each worker starts on its half of the
# suite in file order and one that runs dry takes half of what another has left, so the slow tests never
# leave a core idle at the end. `make test PYTEST_ARGS=-n0` runs it in one process.
PYTEST_PARALLEL ?= -n auto --maxprocesses 4 --dist worksteal
PYTEST_ARGS ?=

# The import contracts (pyproject.toml, [tool.importlinter]) first: a broken layer fails in seconds.
test: install
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The suite on another date: under libfaketime two years ahead, then a year back; no test may depend on
# today. Workers and servers the tests start inherit the fake wall clock (the monotonic clock stays real:
# see scripts/faketime/sitecustomize.py). A PostgreSQL or Redis server keeps its own clock, and backups
# take their snapshot time from PostgreSQL. `make test-any-date FAKETIME_PG=1` does that: for each offset it
# starts a throwaway PostgreSQL cluster under the same offset (scripts/faketime/with-postgres), points
# DATABASE_URL at it, and stops and removes it afterwards. Every offset runs; the target fails if any did.
FAKETIME_OFFSETS ?= +730d -365d
FAKETIME_PG ?=
test-any-date: install
	@command -v faketime >/dev/null || { echo "test-any-date: skipped, faketime is not installed (apt-get install faketime)"; exit 0; }; \
	failed=; \
	for offset in $(FAKETIME_OFFSETS); do \
	  echo "== pytest under faketime $$offset ($$(faketime -f "$$offset" date -u '+%F %T UTC'))"; \
	  PATH=$(CURDIR)/scripts/faketime/bin:$$PATH PYTHONPATH=$(CURDIR)/scripts/faketime$${PYTHONPATH:+:$$PYTHONPATH} \
	    $(if $(FAKETIME_PG),scripts/faketime/with-postgres "$$offset") \
	    faketime --exclude-monotonic -f "$$offset" $(BIN)/pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS) || failed="$$failed $$offset"; \
	done; \
	[ -z "$$failed" ] || { echo "test-any-date: failed under faketime$$failed"; exit 1; }

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf var/broker var/static test-artifacts
