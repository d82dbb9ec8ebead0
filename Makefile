# Two commands on a fresh machine:
#   make run   - virtual environment, install, solve the flagship dataset
#   make test  - install the test extras, lint, type-check and run the test suite

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

run: $(BIN)/python
	$(BIN)/python -m pip install --quiet .
	$(BIN)/reshore solve

test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(BIN)/python
	$(BIN)/ruff check .

typecheck: $(BIN)/python
	$(BIN)/mypy

clean:
	rm -rf $(VENV) plans build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
