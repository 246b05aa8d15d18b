# Every target works from a fresh clone: the venv and its packages are made here, nowhere else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# framework environments (scikit-learn, XGBoost, PyTorch) are built once and kept here for demos and tests
export MODELBAY_ENVIRONMENTS_DIR ?= $(CURDIR)/.cache/environments

.PHONY: install demo test lint bench bench-serving clean

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

# issue 5's serving benchmark: nginx from Debian and the classic stack's own pinned venv, then the run
CLASSIC_VENV := .cache/classic-stack
CLASSIC_STAMP := $(CLASSIC_VENV)/.installed

$(CLASSIC_STAMP): benchmarks/classic_stack/requirements.txt
	rm -rf $(CLASSIC_VENV)
	$(PYTHON) -m venv $(CLASSIC_VENV)
	$(CLASSIC_VENV)/bin/pip install --quiet --disable-pip-version-check -r benchmarks/classic_stack/requirements.txt
	touch $(CLASSIC_STAMP)

bench-serving: $(STAMP) $(CLASSIC_STAMP)
	command -v nginx >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx)
	$(BIN)/python benchmarks/serving.py

clean:
	rm -rf $(VENV) build src/*.egg-info .cache
