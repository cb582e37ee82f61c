# JVP's commands. `make run` and `make test` do all the set-up on a fresh Debian 12 host (as root).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
JVP := $(VENV)/bin/jvp
PYTEST := $(VENV)/bin/pytest
export NEXT_TELEMETRY_DISABLED := 1
# Node >= 20.9 for the web build: scripts/ensure-node.sh installs JVP's own under $(JVP_NODE_PREFIX) when
# the machine's node is older (Debian 12's apt has 18); first on PATH for every target (npm, npx, node).
JVP_NODE_PREFIX ?= /opt/jvp-node
export JVP_NODE_PREFIX
export PATH := $(JVP_NODE_PREFIX)/node_modules/.bin:$(PATH)

.PHONY: help host deps venv web run demo test test-unit test-api test-fuzz test-host test-web fuzz bench load \
	guest-image clean

help:
	@echo "make run    install everything, start libvirtd, build the UI, serve API + UI on :7777"
	@echo "make demo   serve on libvirt's test driver with a seeded inventory (no root, no libvirtd)"
	@echo "make test   the same set-up, then every test tier (unit, API, real host, browser)"
	@echo "make bench  benchmarks (ratios printed from one run)"
	@echo "make fuzz   the Schemathesis gate of tests/fuzz with 10x its examples per action"
	@echo "make load   50 clients for 5 minutes against jvp serve on the test driver (LOAD_ARGS=--duration 30)"

host:            ## packages + libvirtd/virtlogd (root)
	bash scripts/host-setup.sh

deps:            ## packages only (no daemons): enough for `make demo`
	JVP_SETUP_NO_DAEMONS=1 bash scripts/host-setup.sh

$(VENV)/.installed: setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

web: venv
	$(JVP) openapi -o web/src/api/openapi.json
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build

run: host venv web
	@echo "JVP: the admin token is written at first start to $$($(PY) -c 'from jvp.settings import load_settings; print(load_settings().data_dir)')/auth/admin-token"
	$(JVP) serve

demo: deps venv web
	$(JVP) serve --demo

test: host venv web guest-image
	$(PY) scripts/clean-test-leftovers.py
	$(PYTEST) -q tests/unit tests/api tests/fuzz tests/host tests/web

test-unit: venv
	$(PYTEST) -q tests/unit
test-api: venv
	$(PYTEST) -q tests/api
test-fuzz: venv   ## the fuzz gate as CI runs it (part of `make test`)
	$(PYTEST) -q tests/fuzz
test-host: host venv guest-image
	$(PYTEST) -q tests/host
test-web: host venv web
	$(PYTEST) -q tests/web

guest-image:     ## the small Debian cloud image the real-host VM tests boot (built once, cached)
	bash tests/fixtures/build-guest-image.sh

bench: host venv
	$(PY) -m bench

# The fuzz gate, longer: FUZZ_EXAMPLES per action (JVP_FUZZ_SEED=N to replay another seed; README "Tests").
FUZZ_EXAMPLES ?= 300
fuzz: venv
	JVP_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PYTEST) -q tests/fuzz

LOAD_ARGS ?=
load: venv       ## bench/load.py: 50 clients, reads and writes, 5 minutes (LOAD_ARGS="--duration 30")
	$(PY) -m bench.load $(LOAD_ARGS)

clean:
	rm -rf $(VENV) web/node_modules web/out web/.next
