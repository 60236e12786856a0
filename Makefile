# knobray: `make run` installs everything and runs the main job; `make test` installs everything and runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.knobray-installed
DEBIAN_PACKAGES := mariadb-server sysbench libdb5.3-dev gcc

.PHONY: run test test-fast install system lint format bench retrain serve clean

run: install
	$(PY) -m raytune.search

# Two test files at a time (pytest-xdist; a file's tests stay on one worker, so module fixtures start once), then
# the tests that judge a measurement (marked `isolated`) alone, as a benchmark would run; both phases always run.
test: install
	status=0; \
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=20 -m "not isolated" tests || status=$$?; \
	$(PY) -m pytest -q -m isolated tests || status=$$?; \
	exit $$status

# Pure logic only: no database server, no Ray (about 3 minutes).
test-fast: install
	$(PY) -m pytest -q -m "not slow" tests

install: system $(STAMP)

# Debian packages the servers, workloads and the Berkeley DB bindings' build need (gcc also builds the native
# db_perf client on first use); installed only when missing.
system:
	@missing=""; \
	command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing="$$missing mariadb-server"; \
	command -v sysbench >/dev/null 2>&1 || missing="$$missing sysbench"; \
	[ -f /usr/include/db.h ] || missing="$$missing libdb5.3-dev"; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then \
	    echo "knobray: missing Debian packages:$$missing; run as root or: sudo apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "knobray: installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# torch is installed first, by pip (which finds the machine's CPU wheel), and every later install is pinned by
# constraints.txt, or a multi-GB CUDA build is pulled. The rest goes in with uv, which downloads in parallel
# (cold: 30 s instead of pip's 4.5 min, the same versions; uv reads no pip.conf, and needs none once torch is
# in); --compile-bytecode, as pip does, since PYTHONDONTWRITEBYTECODE would leave every process compiling its
# imports. hebo goes in last with --no-deps: its metadata pins numpy<1.25, yet it runs on the pinned numpy 2.
# Reinstalled when pyproject.toml, constraints.txt or this Makefile change.
$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt torch==2.13.0 uv==0.13.9
	$(UV) pip install -q --compile-bytecode --python $(PY) -c constraints.txt -e '.[ray,dev]'
	$(UV) pip install -q --compile-bytecode --python $(PY) --no-deps hebo==0.3.6
	touch $(STAMP)

# Retrain the learned tuners from the (grown) corpus into results/models/; the shipped models stay as they are.
E2ETUNE ?= ../shared/data/e2etune/olap_workloads
MODELS := results/models
EXTRA_WORKLOADS := $(if $(wildcard $(E2ETUNE)),--workloads '$(E2ETUNE)/tpch_*.wg' --exclude '$(E2ETUNE)/tpch_2??.wg',)
retrain: install
	$(PY) -m trainables.train dann --corpus data/corpus --out $(MODELS)/dann
	$(PY) -m trainables.train labels --corpus data/corpus --cost-model $(MODELS)/dann --out $(MODELS)/labels \
	  $(EXTRA_WORKLOADS)
	$(PY) -m trainables.train recommender --labels $(MODELS)/labels --out $(MODELS)/recommender

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/trial_overhead.py

# The learned tuners over HTTP on 127.0.0.1:8000 until Ctrl-C (docs/serving.md).
serve: install
	$(PY) -m serve

clean:
	rm -rf $(VENV) .pytest_cache
