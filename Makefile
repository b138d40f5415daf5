# Set-up is two commands: `make demo` and `make test`. Both create .venv with pip when it is
# missing and install with -c constraints.txt (which pins the CPU build of torch).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := -c constraints.txt

.PHONY: demo test lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install --quiet $(CONSTRAINTS) torch==2.13.0
	$(PIP) install --quiet $(CONSTRAINTS) -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/mllmsc demo --out demo-out
	@echo "To see it work in a browser (upload, intent, SNR and CBR sliders, guided against uniform):"
	@echo "  $(BIN)/mllmsc serve --insecure    # then open http://127.0.0.1:8000/"

test: $(VENV)/.installed
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(VENV)/.installed
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) demo-out .pytest_cache
