# Closebook: `make run` serves the app with a worker on 127.0.0.1:8000, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := config.settings

.PHONY: run test test-postgres lint bench install migrate demo clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --noinput

demo: migrate
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py load_demo

run: demo
	DEBUG=$${DEBUG:-1} $(BIN)/python -m scripts.run_dev --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -n $${PYTEST_WORKERS:-2} $(PYTEST_ARGS)

# ruff, then types (mypy loads config.settings_typecheck: no DEBUG or SECRET_KEY needed),
# then the layers of docs/architecture.md (import-linter).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/recalc.py

clean:
	rm -rf $(VENV) db.sqlite3* media archive staticfiles .pytest_cache
