# Meter reader firmware: host-side workflow. `make help` lists the targets.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
MICROPYTHON := $(VENV)/bin/micropython
SIM_ARGS ?=
BOARD ?=
PORT ?=
CONFIG ?=
RESET ?= 1
IMAGE ?=
FROZEN ?= 0
MICROPY_SRC ?=
PYTEST_ARGS ?=
DASHBOARD_ARGS ?=

.PHONY: help setup sim test pytest lint typecheck bench fuzz deploy flash firmware dashboard clean

help:
	@echo "make setup    install host tools (.venv, umqtt for the unix port, stubs, Mosquitto, socat)"
	@echo "make sim      run the firmware on the sim board against a private broker (SIM_ARGS='--help')"
	@echo "make test     the whole suite: lint, type checks, pytest on CPython and the unix port"
	@echo "make bench    print performance figures"
	@echo "make dashboard  live browser dashboard against the sim (DASHBOARD_ARGS='--help')"
	@echo "make deploy BOARD=<board> PORT=<device> [CONFIG=<json>] [RESET=0] [FROZEN=1]"
	@echo "make flash  BOARD=<board> PORT=<device> IMAGE=<firmware.bin> [FROZEN=1]"
	@echo "make firmware BOARD=<board> MICROPY_SRC=<MicroPython checkout>  image with the firmware frozen in"

setup:
	@bash tools/setup_host.sh

sim: setup
	$(PY) tools/sim.py $(SIM_ARGS)

test: setup lint typecheck pytest

lint: setup
	$(VENV)/bin/ruff check .

typecheck: setup
	$(PY) tools/typecheck.py

pytest: setup
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

bench: setup
	$(PY) tools/bench.py

fuzz: setup
	HAN_FUZZ_EXAMPLES=20000 $(PY) -m pytest -q host_tests -k fuzz

deploy: setup
	$(PY) tools/deploy.py --board "$(BOARD)" --port "$(PORT)" --config "$(CONFIG)" --reset "$(RESET)" --frozen "$(FROZEN)"

flash: setup
	$(PY) tools/flash.py --board "$(BOARD)" --port "$(PORT)" --image "$(IMAGE)" --config "$(CONFIG)" --reset "$(RESET)" --frozen "$(FROZEN)"

firmware: setup
	$(PY) tools/mp32_firmware.py --board "$(BOARD)" --micropy-src "$(MICROPY_SRC)"

dashboard: setup
	$(PY) tools/dashboard/serve.py $(DASHBOARD_ARGS)

clean:
	rm -rf build artifacts .pytest_cache .hypothesis .mypy_cache .ruff_cache
