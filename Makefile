# Vitrine — one entry point for newcomers: `make demo`, `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_VERSION := 0.13.9
export VITRINE_HOME ?= $(CURDIR)/.vitrine
CHROMIUM ?= /usr/bin/chromium
COMPOSE  ?= /usr/bin/docker-compose

.PHONY: install demo lint test lock bench clean

install: $(VENV)/.installed

## --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (this machine, most images) no .pyc is ever
## written, and every process (each DAG run, task, crawl) compiled TensorFlow, Keras, Airflow and Scrapy
## from source again (`import keras` 25 s → 12 s on this machine; README: A night at catalog scale).
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(UV) pip install --python $(BIN)/python --quiet --compile-bytecode -r requirements.lock
	$(UV) pip install --python $(BIN)/python --quiet --no-deps -e .
	touch $@

## Re-resolve pinned dependencies after editing pyproject.toml.
lock: $(VENV)/.installed
	$(UV) pip compile pyproject.toml --extra test --python-version 3.11 --quiet -o requirements.lock

demo: install
	$(BIN)/vitrine demo

## ruff (lint + format check) and mypy on the library, the Scrapy project and the DAGs (pyproject.toml).
LINTED := pipeline scrapers dags tests bench
lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

## The distributed Airflow test uses the machine's PostgreSQL (127.0.0.1:5432) and Redis (6379).
## Test files run on PYTEST_WORKERS processes (pytest-xdist), heavy ones first; PYTEST_WORKERS=0: one.
PYTEST_WORKERS ?= 2
test: lint $(CHROMIUM) $(COMPOSE)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

## The browser test drives Debian's Chromium through Playwright (no browser download).
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

## tests/test_docker.py validates docker/docker-compose.yaml with `docker-compose config`.
$(COMPOSE):
	docker compose version >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose; }

## Benchmarks (each prints side-by-side ratios; see the docstring at the top of each file).
bench: install
	for b in scrape dedup train embed_index; do $(BIN)/python -m bench.$$b || exit 1; done

clean:
	rm -rf $(VENV) .vitrine .pytest_cache
