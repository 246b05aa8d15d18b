# Every target works from a fresh clone: the venv and its packages are made here, nowhere else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AWSCLI_V2 := .cache/awscli-v2
AWSCLI_V2_STAMP := $(AWSCLI_V2)/.installed
# Debian packages the instance runtimes use (nftables: instances' outbound traffic, see runtime/network.py; podman and
# what it runs with, for MODELBAY_RUNTIME=podman and the base images, see runtime/podman.py; nginx for
# the bring-your-own serving tests; haproxy for MODELBAY_DATA_PLANE=haproxy, see front_door_proxy.py); apt-get needs
# root, as the runtime's networks do
SYSTEM_PACKAGES := nftables podman runc netavark aardvark-dns slirp4netns uidmap catatonit iptables mmdebstrap nginx haproxy
SYSTEM_STAMP := .cache/system-packages.installed
# framework environments (scikit-learn, XGBoost, PyTorch) are built once per user in ~/.cache/modelbay/environments
# (or $XDG_CACHE_HOME/modelbay/environments) and shared by every server; the tests keep theirs in the clone
test: export MODELBAY_ENVIRONMENTS_DIR ?= $(CURDIR)/.cache/environments

.PHONY: install demo test lint bench bench-serving bench-front-door-cores bench-operations bench-containers bench-search clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -e '.[dev,edge,cluster]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

# The unit tests keep the CPUs busy: a worker each. The integration tests mostly wait (for jobs, endpoints, the SDK's
# polls), so twice as many workers, each with a module's tests (whose fixtures it then makes once): four keep both CPUs
# busy, and six took the same time (CONTRIBUTING.md). The Ray cluster's tests, whose nodes share this machine, run alone
# after them. First, modelbay's bytecode is written once: an editable install leaves it to each import, and where
# PYTHONDONTWRITEBYTECODE is set (this project's machines set it) no import writes it, so every process compiled what
# it imported of src/ anew (0.5 s of CPU of each server's start, and a run starts about 80).
test: lint $(AWSCLI_V2_STAMP) $(SYSTEM_STAMP)
	$(BIN)/python -m compileall -q src
	$(BIN)/python -m pytest -n 2 -q tests/unit
	$(BIN)/python -m pytest -n 4 --dist loadscope -q tests/integration --deselect tests/integration/test_ray_cluster.py
	$(BIN)/python -m pytest -n 0 -q tests/integration/test_ray_cluster.py
	# the training and hosting suites once more, their server's instances on one Ray cluster (tests/conftest.py)
	MODELBAY_TEST_RUNTIME=ray $(BIN)/python -m pytest -n 0 -q tests/integration/test_training_jobs.py \
	    tests/integration/test_endpoints.py tests/integration/test_invoke_endpoint.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy

$(SYSTEM_STAMP): Makefile
	dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES))
	mkdir -p .cache && touch $(SYSTEM_STAMP)

# AWS CLI v2, for `aws logs tail` (PyPI has only v1, which lacks it): Debian's package, unpacked (no system
# install), run by a venv of its own holding the packages the .deb depends on, at versions it works with.
$(AWSCLI_V2_STAMP): tests/awscli-v2-requirements.txt
	rm -rf $(AWSCLI_V2) && mkdir -p $(AWSCLI_V2)
	cd $(AWSCLI_V2) && apt-get download -qq awscli=2.9.19-1 2>/dev/null || (apt-get update -qq && cd $(AWSCLI_V2) && apt-get download -qq awscli=2.9.19-1)
	dpkg -x $(AWSCLI_V2)/awscli_2.9.19-1_all.deb $(AWSCLI_V2)/deb
	$(PYTHON) -m venv $(AWSCLI_V2)/venv
	$(AWSCLI_V2)/venv/bin/pip install --quiet --disable-pip-version-check -r tests/awscli-v2-requirements.txt
	printf '#!/bin/sh\nPYTHONPATH="%s" exec "%s" -m awscli "$$@"\n' "$(CURDIR)/$(AWSCLI_V2)/deb/usr/lib/python3/dist-packages" \
	    "$(CURDIR)/$(AWSCLI_V2)/venv/bin/python" > $(AWSCLI_V2)/aws && chmod +x $(AWSCLI_V2)/aws
	touch $(AWSCLI_V2_STAMP)

bench: $(STAMP)
	$(BIN)/python benchmarks/object_store.py
	$(BIN)/python benchmarks/training_overhead.py
	$(BIN)/python benchmarks/sdk_roundtrip.py
	$(BIN)/python benchmarks/auth_overhead.py
	$(BIN)/python benchmarks/compilation.py
	$(BIN)/python benchmarks/edge_agent.py

# issues 5's and 22's serving benchmark: every peer in its own pinned venv (benchmarks/peers/<name>/requirements.txt),
# nginx from Debian for the classic stack's, then the run
PEERS := classic kserve mlserver bentoml litserve rayserve

.cache/peers/%/.installed: benchmarks/peers/%/requirements.txt
	rm -rf .cache/peers/$*
	$(PYTHON) -m venv .cache/peers/$*
	.cache/peers/$*/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

bench-serving: $(STAMP) $(PEERS:%=.cache/peers/%/.installed)
	command -v nginx >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx)
	$(BIN)/python benchmarks/serving.py

# issue 22's front door on every CPU: --workers 1 against one per CPU, side by side
bench-front-door-cores: $(STAMP)
	$(BIN)/python benchmarks/front_door_cores.py

# issue 16's cost of data capture and a shadow variant per invocation, alone: no classic stack, no nginx
bench-operations: $(STAMP)
	$(BIN)/python benchmarks/serving.py --operations-cost

# issue 18's search benchmark: 100,000 training jobs on SQLite and on the local PostgreSQL (a schema of its own)
bench-search: $(STAMP)
	$(BIN)/python benchmarks/search.py

# issue 14's container benchmark: podman (installed by `make test`'s system packages) and Debian's docker-registry,
# the reference registry the push and pull are measured against
bench-containers: $(STAMP) $(SYSTEM_STAMP)
	command -v docker-registry >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry)
	$(BIN)/python benchmarks/containers.py

clean:
	rm -rf $(VENV) build src/*.egg-info .cache
