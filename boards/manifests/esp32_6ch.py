# ruff: noqa: F821  (include() is given by MicroPython's manifest tools)
# The esp32_6ch custom ESP32 image (make firmware BOARD=esp32_6ch): the firmware frozen in.
import os

include("firmware.py", board="esp32_6ch")
if not os.environ.get("MP32_UNIX_BUILD"):
    # The port's own frozen modules; the ESP32 port's manifest already freezes umqtt.simple.
    include("$(PORT_DIR)/boards/manifest.py")
