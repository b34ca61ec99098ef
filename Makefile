# pycoderd: `make run` serves the embedded SQLite default, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SERVE_STAMP := $(VENV)/.installed-serve
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
ADDRESS ?= 127.0.0.1:3000
SSH_ADDRESS ?= 127.0.0.1:2222

.PHONY: run starter test test-sqlite test-postgres lint openapi bench clean

# `make run` installs what serving needs; the test extras (pytest, Playwright, schemathesis,
# ruff...) come with the first target that needs them ($(STAMP)).
$(SERVE_STAMP): setup.cfg setup.py
	$(PY) -m pip --version >/dev/null 2>&1 || $(PYTHON) -m venv --clear $(VENV)  # new, or cut short
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(SERVE_STAMP)

$(STAMP): $(SERVE_STAMP)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(SERVE_STAMP)
	$(VENV)/bin/pycoderd db upgrade
	CODER_HTTP_ADDRESS=$${CODER_HTTP_ADDRESS:-$(ADDRESS)} \
	CODER_SSH_ADDRESS=$${CODER_SSH_ADDRESS-$(SSH_ADDRESS)} $(VENV)/bin/pycoderd server

# A loopback registry holding a starter image, and Podman's API socket (README: the first workspace).
starter: $(SERVE_STAMP)
	$(VENV)/bin/pycoderd starter

# The whole suite on SQLite, then again on PostgreSQL when one answers (always under CI=true).
# Both runs happen whatever the first one's outcome; both are reported; either failing fails.
test: $(STAMP)
	@echo "== SQLite run: $(PY) -m pytest $(PYTEST_ARGS)"; \
	sqlite=0; $(PY) -m pytest $(PYTEST_ARGS) || sqlite=$$?; \
	if [ "$$CI" = "true" ] || $(PY) -m tests.pg_available; then \
		echo "== PostgreSQL run: PYCODERD_TEST_DB=postgres $(PY) -m pytest $(PYTEST_ARGS)"; \
		postgres=0; PYCODERD_TEST_DB=postgres $(PY) -m pytest $(PYTEST_ARGS) || postgres=$$?; \
	else \
		postgres=skipped; \
	fi; \
	outcome() { case $$1 in 0) echo passed;; skipped) echo "skipped (no PostgreSQL on $${PYCODERD_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/test})";; *) echo "FAILED (pytest exit $$1)";; esac; }; \
	echo "make test: SQLite run $$(outcome $$sqlite); PostgreSQL run $$(outcome $$postgres)"; \
	[ "$$sqlite" = 0 ] && { [ "$$postgres" = 0 ] || [ "$$postgres" = skipped ]; }

test-sqlite: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	PYCODERD_TEST_DB=postgres $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check app tests migrations bench wsgi.py
	$(VENV)/bin/ruff format --check app tests migrations bench wsgi.py

openapi: $(SERVE_STAMP)
	$(VENV)/bin/pycoderd openapi write docs/openapi

# HTTP overhead against a bare Flask endpoint (wrk from Debian: apt-get install wrk), then the
# scale runs; each writes its section of BENCHMARKS.md.
bench: $(STAMP)
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk (or bash .ci/services.sh)" >&2; exit 1; }
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
