# zonewarden: every target sets up .venv first, so a fresh machine needs only python3 and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	@mkdir -p demo-out
	$(BIN)/python -m zonewarden.simulate.demo_capture demo-out/demo.pcap
	$(BIN)/zonewarden flows demo-out/demo.pcap --format table

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run_bench.py --out BENCHMARKS.md

clean:
	rm -rf $(VENV) demo-out .pytest_cache .mypy_cache .ruff_cache
