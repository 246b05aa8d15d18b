# Every target works from a fresh clone: the venv and its packages are made here, nowhere else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# framework environments (scikit-learn, XGBoost, PyTorch) are built once and kept here for demos and tests
export MODELBAY_ENVIRONMENTS_DIR ?= $(CURDIR)/.cache/environments

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: lint
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/object_store.py
	$(BIN)/python benchmarks/training_overhead.py

clean:
	rm -rf $(VENV) build src/*.egg-info .cache
