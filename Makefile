# Clinic Reception — every target creates .venv and installs the project if needed.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# The newest Python the unit and CLI tests also run on (make test-newest): the first of 3.13, 3.12
# that really runs (pyenv's shims of a version that is not selected do not), from PATH, pyenv's
# versions or /usr/bin. Override with NEWEST_PYTHON=/path/to/python3.13.
NEWEST_PYTHON ?= $(shell for v in 3.13 3.12; do \
	for p in $$(command -v python$$v) $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v*/bin/python$$v 2>/dev/null | sort -rV) \
	         /usr/local/bin/python$$v /usr/bin/python$$v; do \
	  if [ -x "$$p" ] && "$$p" -c 'import ensurepip, venv' >/dev/null 2>&1; then echo "$$p"; exit 0; fi; \
	done; done)
NEWEST_VENV  := .venv-newest
NEWEST_PY    := $(NEWEST_VENV)/bin/python
NEWEST_STAMP := $(NEWEST_VENV)/.installed

.PHONY: run test test-fast test-newest bench install lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# main.py first checks that Qt's xcb plugin can load (and prints the apt-get line if not).
run: $(STAMP)
	$(PY) main.py

# Three workers sharing one embedded PostgreSQL (started, migrated and given the test clinic once, by
# pytest-xdist's controller: tests/conftest.py), each cloning its own databases, a test file each at
# a time (module fixtures stay shared): the suite waits on the database more than it computes, so
# 2 cores take 3. CLINIC_TEST_SERVER_PER_WORKER=1 gives each worker its own server instead.
TEST_WORKERS ?= 3

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

# Everything but the tests marked slow (they start programs or servers of their own: the end-to-end
# tests, the server restarts), for a developer between changes. make test still runs everything.
test-fast: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile -m "not slow"

$(NEWEST_STAMP): pyproject.toml
	@if [ -z "$(NEWEST_PYTHON)" ]; then \
	  echo "make test-newest: no working Python 3.13 or 3.12 found (set NEWEST_PYTHON=...)" >&2; exit 1; fi
	@if [ ! -x $(NEWEST_PY) ] || ! $(NEWEST_PY) -c 'import sys' >/dev/null 2>&1; then \
	  rm -rf $(NEWEST_VENV) && $(NEWEST_PYTHON) -m venv $(NEWEST_VENV) && echo '*' > $(NEWEST_VENV)/.gitignore && \
	  $(NEWEST_PY) -m pip install --quiet --upgrade pip; fi
	$(NEWEST_PY) -m pip install --quiet -e ".[test]"
	touch $(NEWEST_STAMP)

# The unit and command-line tests on the newest supported Python, in a venv of its own.
test-newest: $(NEWEST_STAMP)
	@$(NEWEST_PY) --version
	QT_QPA_PLATFORM=offscreen $(NEWEST_PY) -m pytest -q -p no:cacheprovider tests/unit $(wildcard tests/e2e/test_cli*.py)

bench: $(STAMP)
	$(PY) -m tests.bench.run_all

# ruff, mypy, the layer contracts of pyproject.toml ([tool.importlinter]: front doors > reports >
# services > store > settings > domain, Qt only in ui/) and tools/check_architecture.py (no SQL text
# outside store/, services/ and db/; no _private name used across modules). Every check runs; the
# target fails if any did.
lint: $(STAMP)
	@status=0; \
	$(PY) -m ruff check reception_app tests tools || status=1; \
	$(PY) -m mypy --ignore-missing-imports reception_app || status=1; \
	$(VENV)/bin/lint-imports --no-cache || status=1; \
	$(PY) tools/check_architecture.py || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) $(NEWEST_VENV) build *.egg-info
