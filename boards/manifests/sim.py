# ruff: noqa: F821  (include() is given by MicroPython's manifest tools)
# The sim board with its whole firmware frozen in (tools/mp_env.py --modules frozen): what
# `make deploy BOARD=sim` installs, emulated hardware and umqtt included. Unix port only.
include("firmware.py", board="sim")
