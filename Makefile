# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export TEST_DATABASE_URL

.PHONY: run test lint format db clean bench bench-smoke lock mutate

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs come from the lock files (pinned, with hashes); `make lock` rewrites them.
$(VENV)/.installed-run: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.installed-run

db: $(VENV)/.installed-run
	$(FLASK) db upgrade
	$(FLASK) credits seed-packages
	$(FLASK) users demo
	$(FLASK) credits sync-stripe

# `make run PORT=5001` for a second copy (or where 5000 is taken); the return URLs follow.
PORT ?= 5000
run: export APP_BASE_URL ?= http://127.0.0.1:$(PORT)
run: db
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest
	$(MAKE) bench-smoke

# Benchmarks (benchmarks/README.md): ratios to a bare endpoint measured in the same run.
# wrk comes from Debian, installed here when missing.
WRK_INSTALL = command -v wrk >/dev/null 2>&1 || apt-get install -y -qq wrk >/dev/null 2>&1 || \
	{ apt-get update -qq && apt-get install -y -qq wrk; }

bench: $(VENV)/.installed-run
	@$(WRK_INSTALL)
	$(BIN)/python -m benchmarks

bench-smoke: $(VENV)/.installed-run
	@$(WRK_INSTALL)
	$(BIN)/python -m benchmarks --smoke

# Mutation testing of the money code (pyproject [tool.mutmut], docs/mutation-survivors.md).
# Not part of `make test`: it runs for a long time. Needs PostgreSQL at TEST_DATABASE_URL; each
# worker gets a database of its own (mut_<name>_<n>), dropped at the end. Results are cached in
# mutants/, so a second run only tests what changed; `make clean` forgets them.
MUTATE_CHILDREN ?= 2

mutate: $(VENV)/.installed-dev
	CI=true $(BIN)/mutmut run --max-children $(MUTATE_CHILDREN); status=$$?; \
	$(BIN)/python -m tests.helpers.databases; \
	$(BIN)/mutmut results --all true | $(BIN)/python -m tests.helpers.mutation_score; \
	exit $$status

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis mutants

PIP_COMPILE = $(BIN)/python -m piptools compile --quiet --generate-hashes --strip-extras \
	--allow-unsafe --no-emit-index-url --no-emit-find-links

lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet pip-tools
	$(PIP_COMPILE) -o requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev -o requirements-dev.lock pyproject.toml
