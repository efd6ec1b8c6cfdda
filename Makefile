# Portrait: `make demo` runs the product tour, `make test` runs the whole suite.
# Both set up .venv/ themselves; only Python 3.11+, pip and make are assumed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
USERS  ?= 200000
DEMO   ?= demo-workspace

.PHONY: demo test lint types layers unit bench bench-audience fonts clean

$(VENV)/.installed: pyproject.toml
	@$(MAKE) --no-print-directory fonts
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# PNG charts draw Chinese labels with a CJK font: installed with apt-get when run as root
fonts:
	@if ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing a CJK font for charts (fonts-noto-cjk)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q --no-install-recommends fontconfig fonts-noto-cjk >/dev/null 2>&1 \
	    || { apt-get update -q >/dev/null && \
	         apt-get install -y -q --no-install-recommends fontconfig fonts-noto-cjk >/dev/null; }; \
	  else \
	    echo "note: no CJK font found; PNG charts need one for Chinese labels (fonts-noto-cjk)"; \
	  fi; \
	fi

demo: $(VENV)/.installed
	rm -rf $(DEMO)
	$(BIN)/portrait demo $(DEMO) --users $(USERS)
	$(BIN)/portrait tags list -w $(DEMO)
	$(BIN)/portrait tags show age_band -w $(DEMO)
	$(BIN)/portrait count 'city in ("北京", "上海") and age between 25 and 40 and events("view", last="30d") > 3' -w $(DEMO)
	$(BIN)/portrait segment create active_young 'age < 30 and active_days(last="30d") >= 5' -w $(DEMO)
	$(BIN)/portrait insight distinctive active_young --top 8 --chart $(DEMO)/active_young.png -w $(DEMO)

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

bench-audience: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/audience_bench.py --create --users $(USERS)

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache
