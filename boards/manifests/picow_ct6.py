# ruff: noqa: F821  (include(), require() are given by MicroPython's manifest tools)
# The CT6 (Pico W) custom rp2 image (make firmware BOARD=picow_ct6): the firmware frozen in.
import os

include("firmware.py", board="picow_ct6")
if not os.environ.get("MP32_UNIX_BUILD"):
    # RPI_PICO_W's own manifest: the rp2 port's frozen modules and the CYW43 networking bundle.
    include("$(BOARD_DIR)/manifest.py")
    # The stock rp2 image has no umqtt (make deploy installs it to /lib); frozen here instead.
    require("umqtt.simple")
