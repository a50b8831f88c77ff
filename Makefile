# `make run`: set-up, then the main job. `make test`: set-up, lint, the whole test suite.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done
export XDG_RUNTIME_DIR ?= $(shell d=/tmp/dexplorer-runtime-$$(id -u); mkdir -p $$d; chmod 700 $$d; echo $$d)

.PHONY: setup run test lint format models bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml .ci/setup
	bash .ci/setup
	touch $@

run: setup
	$(BIN)/dexplorer

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest -q --durations=10

models: setup
	$(BIN)/dexplorer train --all --out assets/models

bench: setup
	$(BIN)/python benchmarks/bench_sampling.py --quick --json out/bench_sampling.json
	$(BIN)/python benchmarks/bench_train.py --quick --json out/bench_train.json
	$(BIN)/python benchmarks/bench_render.py --quick --json out/bench_render.json
	$(BIN)/python benchmarks/bench_frame.py --quick --json out/bench_frame.json
	$(BIN)/python benchmarks/bench_frame_parts.py --quick --json out/bench_frame_parts.json
	$(BIN)/python benchmarks/bench_startup.py --quick --json out/bench_startup.json
	$(BIN)/python benchmarks/bench_ring.py --quick --json out/bench_ring.json
	$(BIN)/python benchmarks/bench_edit.py --quick --json out/bench_edit.json
	$(BIN)/python benchmarks/bench_exact.py --quick --json out/bench_exact.json
	$(BIN)/python benchmarks/soak.py --quick --json out/soak.json

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .hypothesis
