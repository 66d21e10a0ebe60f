# Two commands a newcomer needs (README): `make demo` and `make test`.
# Both create the virtual environment on first use and reinstall when a pyproject changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
STAMP := $(VENV)/.installed
# Plugin tests (the test kit's govsvc_database_url) also run on this PostgreSQL when it is up.
export GOVSVC_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo test lint typecheck pytest docs bench clean

$(STAMP): pyproject.toml reference_host/pyproject.toml $(wildcard plugins/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]' -e './reference_host[test]' $(foreach d,$(PLUGIN_DIRS),-e ./$(d))
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/govsvc-host demo

test: lint typecheck pytest docs

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --strict reference_host/src $(wildcard plugins/*/src)

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py --db sqlite
	$(BIN)/python bench/pipeline.py --db postgres

clean:
	rm -rf $(VENV) site .mypy_cache .ruff_cache .pytest_cache
