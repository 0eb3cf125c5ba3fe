# newsmon: `make run` runs the service on the local default, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
UV_VERSION := 0.13.8

.PHONY: help install model run demo test test-system lint typecheck pytest broker-up broker-down broker-status lock bench clean system-deps

help:
	@echo "make run     - install, start the local Kafka broker, run every stage on config/"
	@echo "make demo    - the same, polling bundled sample feeds from a local HTTP server"
	@echo "make test    - install, then ruff, mypy and pytest against a real local broker"
	@echo "make test-system - the fault-tolerance suite alone, with the full 60 s webhook outage"
	@echo "make broker-up | broker-down | broker-status - manage the local broker on its own"

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# The classifier is trained from the data in the repo when no model for the current data and code exists.
model: install
	$(BIN)/newsmon train --if-stale

run: install model
	$(BIN)/newsmon run

demo: install model
	$(BIN)/newsmon run --demo

broker-up: install
	$(BIN)/newsmon broker up

broker-down: install
	$(BIN)/newsmon broker down

broker-status: install
	$(BIN)/newsmon broker status

# kcat is Debian's Kafka command-line client; the suite uses it to prove the topics are readable by any client.
system-deps:
	@command -v kcat >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq kcat >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq kcat)) >/dev/null; \
	  else echo "note: kcat is not installed (apt-get install kcat); its interoperability test will be skipped (and fail in CI)"; fi; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install model system-deps
	$(BIN)/python -m monitor broker fetch
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# The fault-tolerance suite (tests/system) on its own, with the long variants `make test` shortens.
test-system: install model
	$(BIN)/python -m monitor broker fetch
	$(BIN)/pytest tests/system --outage-s 60 $(PYTEST_ARGS)

bench: install model
	$(BIN)/python -m bench.run_all

lock:
	$(BIN)/uv pip compile -q pyproject.toml --extra dev --python $(BIN)/python -o requirements.lock

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
