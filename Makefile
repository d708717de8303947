# Every target works on a fresh clone: `install` builds .venv, and everything else depends on it.
# The stamp is the console script the editable install writes: a file of our own in .venv
# would be one no RECORD lists, which `wheelplan verify` rightly reports.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(BIN)/wheelplan

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check planner applier wheelplan tests examples bench
	$(BIN)/ruff format --check planner applier wheelplan tests examples bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build
