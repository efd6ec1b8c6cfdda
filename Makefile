# Portrait: `make demo` runs the product tour, `make test` runs the whole suite.
# Both set up .venv/ themselves; only Python 3.11+, pip and make are assumed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
USERS  ?= 200000
DEMO   ?= demo-workspace

.PHONY: demo test lint types layers unit bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	rm -rf $(DEMO)
	$(BIN)/portrait demo $(DEMO) --users $(USERS)
	$(BIN)/portrait tags list -w $(DEMO)
	$(BIN)/portrait tags show age_band -w $(DEMO)

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(VENV)/.installed
	$(BIN)/mypy

layers: $(VENV)/.installed
	$(BIN)/lint-imports

unit: $(VENV)/.installed
	$(BIN)/pytest -n 2 -q

test: lint types layers unit

bench: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/build_bench.py --users $(USERS)

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache
