# Two entry points for a newcomer: `make run` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCENARIO ?= scenarios/taiyuan_2025_baseline.yaml
OUT ?= runs

.PHONY: install run test lint typecheck pytest bench clean

$(BIN)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# The offline map assets (Leaflet) and the embedded dataset are package data: nothing to fetch.
install: $(BIN)/.installed

run: install
	$(BIN)/healthopt data info
	$(BIN)/healthopt run $(SCENARIO) -o $(OUT)

# `make test` = lint, then types, then the whole test suite (`make -k test` runs every step even
# when an earlier one fails). The suite runs on TEST_WORKERS processes (pytest-xdist); tests/conftest.py
# groups the tests so that a module's fixtures are built once and starts the longest groups first.
# TEST_WORKERS=0 runs in this process; PYTEST_ARGS adds options, e.g. PYTEST_ARGS='-m "not slow"'.
TEST_WORKERS ?= 2
PYTEST_ARGS ?=

test: lint typecheck pytest

lint: install
	$(BIN)/ruff check healthopt tests benchmarks

typecheck: install
	$(BIN)/mypy

# PYTHONDONTWRITEBYTECODE (set on some machines) makes every Python process compile the
# package and every test module (assertion rewriting) again: measured 1 s more per CLI
# subprocess and 5 s more per pytest worker, some 2 minutes of the suite. The tests write
# bytecode where Python normally does (__pycache__/, ignored by git).
pytest: install
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup \
		--no-loadscope-reorder --durations=15 $(PYTEST_ARGS)

# Every benchmark runs with time limits on its solves; each prints its own seconds and the
# total is printed at the end (goal: the whole of `make bench` within 15 minutes on 2 cores).
BENCHES := "bench_traveltime.py --sources 1000" "bench_models.py --spopt-cap 30" bench_primary_care.py \
	"bench_batch.py --rebuild-sample 5" \
	bench_simulation.py bench_phasing.py "bench_ambulances.py --cap 60"

bench: install
	$(BIN)/python -m pip install -q -e '.[dev,benchmark]'
	@all=$$(date +%s); for b in $(BENCHES); do \
		t=$$(date +%s); $(BIN)/python benchmarks/$$b || exit $$?; \
		echo "== benchmarks/$$b: $$(( $$(date +%s) - t )) s"; \
	done; echo "== make bench: $$(( $$(date +%s) - all )) s in all"

clean:
	rm -rf $(VENV) build .cache runs
