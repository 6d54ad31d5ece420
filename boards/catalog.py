# The board list, in one place (issue 14): what each board is, which modules `make deploy` puts
# on it, and which MicroPython port and image it runs. Read by tools/deploy.py, flash.py,
# typecheck.py, ram_report.py, mp_env.py and the frozen manifests (boards/manifests/); never
# deployed to a board (plain data for the host; lib/config/config_schema.py keeps its own copy
# of the names, checked against this one by host_tests/test_targets.py).
#
# Per board:
#   modules  the board's own modules in boards/ (besides boards/__init__.py)
#   umqtt    True where the stock firmware lacks umqtt.simple, so deploy adds it: the official
#            ESP32 and ESP8266 (2 MiB+) images freeze it and frozen modules win over /lib; the
#            unix port and the Pico W (rp2) image do not have it
#   port     the MicroPython port it runs on ("unix" for the sim board)
#   image    that port's board name in the MicroPython source (make firmware)
BOARDS = {
    "sim": {"modules": ("sim", "sim_faults", "sim_uart", "sim_atm90e32"), "umqtt": True,
            "port": "unix", "image": None},
    "d1mini_han": {"modules": ("d1mini_han", "wifi", "hardware"), "umqtt": False,
                   "port": "esp8266", "image": "ESP8266_GENERIC"},
    "esp32_han": {"modules": ("esp32_han", "wifi", "hardware"), "umqtt": False,
                  "port": "esp32", "image": "ESP32_GENERIC"},
    "esp32_split": {"modules": ("esp32_split", "wifi", "hardware"), "umqtt": False,
                    "port": "esp32", "image": "ESP32_GENERIC"},
    "esp32_6ch": {"modules": ("esp32_6ch", "wifi", "hardware"), "umqtt": False,
                  "port": "esp32", "image": "ESP32_GENERIC"},
    "picow_ct6": {"modules": ("picow_ct6", "wifi", "hardware"), "umqtt": True,
                  "port": "rp2", "image": "RPI_PICO_W"},
}

# The emulated hardware of the sim board: on the 32-bit unix builds it is frozen into the binary
# in every module mode, as a real board's hardware costs no heap (tools/mp_env.py).
SIM_HARDWARE = ("sim_uart", "sim_atm90e32")

# Per port: the 32-bit unix build configured like it (../shared/micropython32/build.sh
# --flavour; the RP2040 has the ESP32's object model and float32), and where esptool writes
# the image (MicroPython docs, "Deploying the firmware": the ESP32's bootloader at 0x1000, the
# ESP8266's image at 0; the Pico W takes a .uf2 on its BOOTSEL drive instead).
PORTS = {
    "unix": {"flavour": None, "flash": None},
    "esp8266": {"flavour": "esp8266", "flash": ("esp8266", "0x0")},
    "esp32": {"flavour": "esp32", "flash": ("esp32", "0x1000")},
    "rp2": {"flavour": "esp32", "flash": None},
}


def boards_on(port):
    return tuple(name for name, spec in BOARDS.items() if spec["port"] == port)

# Where the firmware's modules live, in the order of the module path the host puts them on
# (tools/mp_env.py, host_tests/conftest.py). Each lib/ folder is one subsystem (see
# docs/architecture.md); module names are unique across all of them, so `make deploy` and the
# frozen manifests flatten them into one /lib on the board at no RAM cost, and lib/ itself is
# never on a path (a folder there would shadow its module: lib/atm90e32 vs atm90e32.py).
MODULE_FOLDERS = ("firmware", "lib/core", "lib/han", "lib/atm90e32", "lib/formats", "lib/mqtt",
                  "lib/config")

# lib/ and firmware/ files that never go on a board: CPython stand-ins for MicroPython built-ins.
HOST_ONLY = ("micropython.py", "cpython_ticks.py")
# firmware/ files a board runs as source from its filesystem root (never compiled or frozen).
SOURCE_FILES = ("main.py", "boot.py")
