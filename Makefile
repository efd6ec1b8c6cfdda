# Portrait: `make demo` runs the product tour, `make test` runs the whole suite.
# Both set up .venv/ themselves; only Python 3.11+, pip and make are assumed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
USERS  ?= 200000
DEMO   ?= demo-workspace
DEMO_PASSWORD ?= portrait-demo

.PHONY: demo test lint types layers unit bench bench-audience fonts chromium assets screenshots clean

$(VENV)/.installed: pyproject.toml
	@$(MAKE) --no-print-directory fonts chromium
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# the subgroup tests' reference; it pins numpy<2 without needing it: its own deps are in dev
	$(BIN)/pip install --quiet --no-deps 'pysubgroup>=0.9'
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

# The web console's browser tests drive Debian's chromium (installed with apt-get as root)
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the web console's browser tests"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
	    || { apt-get update -q >/dev/null && \
	         apt-get install -y -q --no-install-recommends chromium >/dev/null; }; \
	  else \
	    echo "note: no chromium found; the browser tests need it (apt-get install chromium)"; \
	  fi; \
	fi

# The console's vendored scripts, regenerated from npm at the versions pinned in
# tools/web-assets/ (node and npm needed here only, never to install or run Portrait)
assets:
	$(PYTHON) tools/web_assets.py

# Screenshots of the console's main pages into docs/ui/ (a 20,000-user demo, real chromium)
screenshots: $(VENV)/.installed
	$(BIN)/python tools/screenshots.py

demo: $(VENV)/.installed
	rm -rf $(DEMO)
	$(BIN)/portrait demo $(DEMO) --users $(USERS)
	$(BIN)/portrait tags list -w $(DEMO)
	$(BIN)/portrait tags show age_band -w $(DEMO)
	$(BIN)/portrait count 'city in ("北京", "上海") and age between 25 and 40 and events("view", last="30d") > 3' -w $(DEMO)
	$(BIN)/portrait segment create active_young 'age < 30 and active_days(last="30d") >= 5' -w $(DEMO)
	$(BIN)/portrait insight distinctive active_young --top 8 --chart $(DEMO)/active_young.png -w $(DEMO)
	$(BIN)/portrait rank active_young --top 8 -w $(DEMO)
	$(BIN)/portrait persona fit lifestyle --features sessions_per_week,price_sensitivity,social_shares_30d,main_interest,loyalty_points --k 4 -w $(DEMO)
	$(BIN)/portrait build --quiet -w $(DEMO)
	$(BIN)/portrait persona show lifestyle --top 3 --chart $(DEMO)/personas.png -w $(DEMO)
	echo '$(DEMO_PASSWORD)' | $(BIN)/portrait users create demo --role admin --password-stdin -w $(DEMO)
	@echo ""
	@echo "The web console: run  $(BIN)/portrait serve -w $(DEMO)"
	@echo "then open http://127.0.0.1:8000/ and sign in as 'demo' with the password '$(DEMO_PASSWORD)'"
	@echo "(a demo account: create your own with 'portrait users create NAME --role admin')."

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

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
