# claimbridge: the two commands a new machine needs are `make demo` and `make test`.
# Both create .venv and install the project (and its dev tools) on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test install lint typecheck unit bench examples clean fuzz

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "claimbridge needs Python >= 3.11 (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/claimbridge demo $(DEMO_ARGS)

test: lint typecheck unit

# schemathesis against the live API (admin and intake operations, bounded: ~1 min). Its own
# virtualenv: schemathesis 4 pins jsonschema-rs<0.61 and 3.x starlette<1, both below our pins.
FUZZ_VENV := .venv-fuzz
$(FUZZ_VENV)/.stamp:
	$(PYTHON) -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/python -m pip install --quiet 'schemathesis==4.32.5'
	@touch $@

fuzz: $(STAMP) $(FUZZ_VENV)/.stamp
	$(BIN)/python tools/fuzz_api.py --st $(FUZZ_VENV)/bin/st

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check app tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Two processes (this project's machines have 2 cores); each test file stays in one process so its
# module-scoped fixtures (the browser, seeded services) are built once. PYTEST_WORKERS=0 runs in one.
PYTEST_WORKERS ?= 2
unit: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/rules.py
	$(BIN)/python bench/x12.py
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/console.py

examples: $(STAMP)
	$(BIN)/python examples/generate.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
