# One entry point for humans and CI. `make run` and `make test` are the README's two commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= $(CURDIR)/.stacksafe
PORT ?= 8200

.PHONY: install run test lint check bench clean

# The packages go in with uv (pip installs it into the venv first): the same wheels and the
# same byte-compiled files as pip's, in a few seconds where pip took half a minute of one core
# before anything else of CI could start (docs/dependencies.md). Where uv cannot be had, pip.
UV := uv==0.13.10
comma := ,
define venv_install
$(BIN)/python -m pip install --quiet '$(UV)' && $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '$(1)' || $(BIN)/python -m pip install --quiet -e '$(1)'
endef

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(call venv_install,.[test])
	touch $@

install: $(STAMP)

run: install
	STACKSAFE_DATA_DIR=$(DEMO_DIR) PORT=$(PORT) PATH=$(CURDIR)/$(BIN):$$PATH bash scripts/demo.sh
	STACKSAFE_DATA_DIR=$(DEMO_DIR) $(BIN)/stacksafe serve --host 127.0.0.1 --port $(PORT)

# Every core (TEST_WORKERS), each worker with its own PostgreSQL cluster (tests/conftest.py); work
# stealing, since a few modules (browser, sign-in throttles, servers) dwarf the rest.
# The suite starts the `stacksafe` command as a process hundreds of times: with bytecode writing
# off (PYTHONDONTWRITEBYTECODE, set on some machines) each start would compile the package again,
# about a third of its start-up. Compile it once first; pytest may keep its rewritten test modules.
# --durations: the 30 slowest tests end every run's output, where CI time is won or lost.
# The tests' files (SQLite databases, key files, PostgreSQL clusters, servers' data) go on a
# tmpfs where the machine has one: every SQLite commit waits for an fsync, which on a disk left
# both cores idle for much of the run (docs/architecture.md, "The test suite"). The one test of
# a disk's own behaviour makes its directory on one (tests/e2e/test_storage_faults.py).
# `make test TEST_TMPDIR=` keeps $$TMPDIR.
TEST_TMPDIR ?= $(if $(wildcard /dev/shm),/dev/shm/stacksafe-tests)
# pytest-xdist's workers: one more than the cores. With one per core a core still stood idle
# about a tenth of the run (tests waiting on servers, browsers, timers); the extra worker fills
# it (docs/architecture.md, "The test suite"). `make test TEST_WORKERS=auto`: one per core.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print((os.cpu_count() or 1) + 1)")
test: install
	$(BIN)/python -m compileall -q src
	$(if $(TEST_TMPDIR),mkdir -p -m 1777 $(TEST_TMPDIR))
	$(if $(TEST_TMPDIR),TMPDIR=$(TEST_TMPDIR)) PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal --durations=30 --cov --cov-report=term:skip-covered

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

check: lint test

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(call venv_install,.[test$(comma)bench])
	touch $@

# Every benchmark in one run (about 20 minutes), with a throwaway PostgreSQL cluster; writes
# bench/RESULTS.md. One script: $(BIN)/python bench/results.py --only scale.py --no-pg
bench: $(BENCH_STAMP)
	command -v wrk >/dev/null || { echo "bench: installing wrk (Debian package)"; apt-get install -y wrk >/dev/null; }
	$(BIN)/python bench/results.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
