# ruff: noqa: F821  (include(), require() are given by MicroPython's manifest tools)
# The Wemos D1 mini HAN reader's custom ESP8266 image (make firmware BOARD=d1mini_han): the
# firmware frozen in, so its bytecode and names stay in flash and the 38 KB heap is left to data.
import os

include("firmware.py", board="d1mini_han")
if not os.environ.get("MP32_UNIX_BUILD"):
    # The port's own frozen modules (_boot: filesystem mount, flashbdev, inisetup, ...).
    include("$(PORT_DIR)/boards/manifest.py")
    # ESP8266_GENERIC's 2 MiB manifest freezes umqtt.simple beside the port's modules; this image
    # replaces that manifest, so it brings umqtt itself (micropython-lib in the checkout).
    require("umqtt.simple")
