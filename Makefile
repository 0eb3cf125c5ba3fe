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

# Debian packages the suite drives: kcat, the Kafka command-line client that proves the topics are readable by any
# client, and chromium, the headless browser that renders the status page and the replay report. One apt call
# installs whichever is missing (Chromium takes about 1.5 min and 124 MB on a clean machine).
system-deps:
	@missing=""; \
	command -v kcat >/dev/null 2>&1 || missing="kcat"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq --no-install-recommends $$missing >/dev/null 2>&1 \
	      || (apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing)) >/dev/null; \
	  else echo "note: not installed:$$missing (apt-get install$$missing); the tests that use them are skipped here and fail in CI"; fi; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install model system-deps
	$(BIN)/python -m monitor broker fetch
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# The fault-tolerance suite (tests/system) on its own, with the long variants `make test` shortens: a 60 s webhook
# outage (5 s in `make test`) and a burst of 10,000 items on 1,000 feeds (2,000 on 200).
test-system: install model
	$(BIN)/python -m monitor broker fetch
	$(BIN)/pytest tests/system --outage-s 60 --burst-feeds 1000 $(PYTEST_ARGS)

bench: install model
	$(BIN)/python -m bench.run_all

lock:
	$(BIN)/uv pip compile -q pyproject.toml --extra dev --python $(BIN)/python -o requirements.lock

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
