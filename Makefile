# zonewarden: every target sets up .venv first, so a fresh machine needs only python3 and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

# The hot-path kernels, compiled ahead of time (numba.pycc) so runs start without loading numba.
KERNEL_SRC := $(addprefix src/zonewarden/,capture/record_walk.py capture/walk_status.py \
	decode/l2l4_kernel.py decode/anomalies.py flow/table_kernel.py flow/layout.py flow/jsonl_kernel.py flow/names.py \
	build_kernels.py kernels.py json_bytes.py \
	pipeline/fastlane_kernel.py pipeline/fastlane_pdus_kernel.py pipeline/fastlane_enip_kernel.py \
	pipeline/fastlane_dnp3_kernel.py pipeline/fastlane_layout.py pipeline/eventlane_kernel.py \
	pipeline/eventlane_layout.py pipeline/eventlane_json.py pipeline/eventlane_modbus.py pipeline/eventlane_s7.py \
	pipeline/eventlane_dnp3.py pipeline/eventlane_dnp3_objects.py pipeline/eventlane_enip.py pipeline/eventlane_enip_cip.py pipeline/eventlane_enip_conn.py protocols/modbus/codes.py protocols/s7comm/codes.py \
	protocols/dnp3/codes.py protocols/enip/codes.py)
AOT := src/zonewarden/_aot_kernels.sha256

# Bytecode for the package, written once here: runs then load it instead of compiling every module again
# (an environment with PYTHONDONTWRITEBYTECODE never caches it otherwise; stale files are recompiled).
setup: $(STAMP) $(AOT)
	@$(BIN)/python -m compileall -q src/zonewarden > /dev/null

$(AOT): $(STAMP) $(KERNEL_SRC)
	$(BIN)/python -m zonewarden.build_kernels

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	@mkdir -p demo-out
	@rm -f demo-out/zonewarden.db*
	$(BIN)/zonewarden simulate --scenario demo --duration 120 --out demo-out/plant.pcap \
		--labels demo-out/labels.jsonl --truth demo-out/truth.json
	$(BIN)/zonewarden analyze demo-out/plant.pcap --db demo-out/zonewarden.db --report demo-out/report.html
	$(BIN)/zonewarden assets --db demo-out/zonewarden.db
	@echo "report: $(CURDIR)/demo-out/report.html (attack steps: demo-out/labels.jsonl)"

test: setup
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/run_bench.py --out BENCHMARKS.md
	$(BIN)/python bench/flood_bench.py --out BENCHMARKS.md

clean:
	rm -rf $(VENV) demo-out .pytest_cache .mypy_cache .ruff_cache src/zonewarden/_aot_kernels*
