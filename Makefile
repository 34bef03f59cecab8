# Two entry points for a newcomer: `make run` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCENARIO ?= scenarios/taiyuan_2025_baseline.yaml
OUT ?= runs

.PHONY: install run test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# Offline map assets (Leaflet, jQuery, Bootstrap, Font Awesome, ...) at the versions Folium
# links, taken from the npm registry into build/assets (never committed).
build/assets/manifest.json: $(BIN)/.installed healthopt/outputs/assets.py
	$(BIN)/python -m healthopt.outputs.assets fetch

install: $(BIN)/.installed build/assets/manifest.json

run: install
	$(BIN)/healthopt data info
	$(BIN)/healthopt run $(SCENARIO) -o $(OUT)

test: install
	$(BIN)/ruff check healthopt tests benchmarks
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m pip install -q -e '.[dev,benchmark]'
	$(BIN)/python benchmarks/bench_traveltime.py
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_batch.py

clean:
	rm -rf $(VENV) build .cache runs
