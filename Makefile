# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# torch: the CPU build. Where a local wheel folder exists (this project's machines), pip
# takes torch from it; elsewhere pip's own CPU index would be needed (see README).
TORCH_SPEC  ?= torch==2.13.0
WHEEL_DIR   ?= /opt/wheels
FIND_LINKS  := $(if $(wildcard $(WHEEL_DIR)/torch-*.whl),--find-links $(WHEEL_DIR),)

.PHONY: setup demo test lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(FIND_LINKS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet $(FIND_LINKS) -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/meiyu demo --out out/demo

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy meiyu crawlers nlp pipelines storage reports scheduler.py

clean:
	rm -rf $(VENV) out data/*.db data/*.db-*
