# ruff: noqa: F821  (module(), package() are given by MicroPython's manifest tools)
# The 32-bit sim binaries' "stock firmware": what a real board has before anything is deployed.
# The emulated hardware (a real board's hardware costs no heap) and umqtt.simple (frozen into the
# stock ESP32 and ESP8266 images; the Pico W's rp2 image lacks it, so a Pico W emulated with
# --target esp32 gets it for free here: a small inaccuracy). The firmware's own modules,
# boards/sim.py included, come from MICROPYPATH in the chosen module mode (tools/mp_env.py);
# sim_stock/boards/__init__.py explains how the two halves of the `boards` package meet.
module("boards/__init__.py", base_path="sim_stock")
module("boards/sim_uart.py", base_path="../..")
module("boards/sim_atm90e32.py", base_path="../..")
package("umqtt", base_path="../../.deps")
