# Ripple — every target creates .venv and installs what it needs.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
ARGS    ?=
# pytest workers (pytest-xdist): test files are spread over them, each file on one worker
# (its module fixtures, e.g. a running stack, are built once); 0 runs in this process
WORKERS ?= 2

.PHONY: help venv demo test lint typecheck imports unit schemas check-schemas crds check-crds \
        test-scale bench bench-eval bench-templates bench-fleet bench-helm clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) (Python 3.11)"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## create .venv and install Ripple with its dev tools

demo: $(STAMP) ## run the spec's story on the embedded default (ARGS=--once to exit)
	$(BIN)/ripple demo $(ARGS)

lint: $(STAMP) ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy --strict on shared/ and services/
	$(BIN)/mypy shared services

imports: $(STAMP) ## import-linter layer contracts
	$(BIN)/lint-imports

unit: $(STAMP) ## pytest (unit, contract, fleet conformance, scenarios; WORKERS=2 in parallel), scale tests excepted
	$(BIN)/pytest -q -n $(WORKERS) --dist loadfile -m "not scale" $(ARGS)

test-scale: $(STAMP) ## the scale-out tests (3-node NATS cluster, failover, shards, hundreds of clusters)
	$(BIN)/pytest -q -n $(WORKERS) --dist loadfile -m scale $(ARGS)

test: lint typecheck imports check-schemas check-crds unit ## every gate and every test

schemas: $(STAMP) ## regenerate the NATS contract JSON Schemas into docs/schemas
	$(BIN)/python -m shared.contract.schemas write docs/schemas

check-schemas: $(STAMP) ## fail when docs/schemas is stale
	$(BIN)/python -m shared.contract.schemas check docs/schemas

crds: $(STAMP) ## regenerate the CRDs from the models (shared/api/crds, charts/ripple/crds, templates/_crds.tpl)
	$(BIN)/python -m shared.api.crdgen write

check-crds: $(STAMP) ## fail when a generated CRD is stale
	$(BIN)/python -m shared.api.crdgen check

bench: bench-eval bench-templates bench-fleet bench-manager bench-agent bench-e2e bench-helm ## every benchmark

bench-eval: $(STAMP) ## evaluation engine throughput (label filters, Lua, CEL)
	$(BIN)/python tests/benchmarks/bench_eval.py $(ARGS)

bench-templates: $(STAMP) ## template engine throughput
	$(BIN)/python tests/benchmarks/bench_templates.py $(ARGS)

bench-fleet: $(STAMP) ## simulated fleet memory, latencies and watch delivery
	$(BIN)/python tests/benchmarks/bench_fleet.py $(ARGS)

bench-manager: $(STAMP) ## manager decision code: report changes/s, scaling, memory per 10k instances
	$(BIN)/python tests/benchmarks/bench_manager.py $(ARGS)

bench-agent: $(STAMP) ## agent idle RSS/PSS/USS, memory per matching object, agents per host; hosted agents: ARGS="--hosted 10,100,1000"
	$(BIN)/python tests/benchmarks/bench_agent.py $(ARGS)

bench-e2e: $(STAMP) ## event -> add-on applied, p50/p99 over the real processes (ARGS="--clusters 10 --rate 100")
	$(BIN)/python tests/benchmarks/bench_e2e.py $(ARGS)

bench-helm: $(STAMP) ## event -> Helm release installed/upgraded/uninstalled, p50/p99 (ARGS="--services 20 --rate 2")
	$(BIN)/python tests/benchmarks/bench_helm.py $(ARGS)

clean: ## remove .venv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
