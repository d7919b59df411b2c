# Both `make demo` and `make test` create (or reuse) .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast check bench run clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

demo: $(STAMP)  ## local sample feeds, SQLite in memory, a console channel
	$(BIN)/signaldesk demo

# Four workers on any machine: the suite mostly waits (sockets, subprocesses, SIGKILLs),
# so it runs in under half the time even on two cores; `pytest` alone runs it serially.
WORKERS ?= 4

test: $(STAMP)  ## the whole test suite (as CI runs it); never touches the internet
	$(BIN)/python -m pytest -q -n $(WORKERS)

test-fast: $(STAMP)  ## the suite without the `slow` tests (subprocesses, SIGKILL campaigns)
	$(BIN)/python -m pytest -q -n $(WORKERS) -m "not slow"

check: $(STAMP)  ## lint and type-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
