# The two commands: `make demo` and `make test` (README.md). Both need only Python 3.10+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP)
	$(BIN)/python scripts/run_tests.py

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_exports tests example_dags scripts
	$(BIN)/ruff format --check airflow_provider_exports tests example_dags scripts

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache

# Two triggerers on PostgreSQL, one SIGKILLed mid-wait, every wait completing (docs/deployment.md).
.PHONY: scale-demo
scale-demo: $(STAMP)
	$(BIN)/python scripts/scale_demo.py

# Benchmarks (docs/benchmarks.md): `make bench` writes benchmarks/results/*.json; `make bench-quick`
# is the smoke test (small sizes; *.quick.json, not committed).
.PHONY: bench bench-quick
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/triggerer_scale.py --floor
	$(BIN)/python benchmarks/download_throughput.py
	$(BIN)/python benchmarks/import_cost.py
	$(BIN)/python benchmarks/poll_layers.py

bench-quick: $(BENCH_STAMP)
	$(BIN)/python benchmarks/triggerer_scale.py --quick --floor
	$(BIN)/python benchmarks/download_throughput.py --quick
	$(BIN)/python benchmarks/import_cost.py --quick
	$(BIN)/python benchmarks/poll_layers.py --quick
