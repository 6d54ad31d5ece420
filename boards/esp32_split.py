# CircuitSetup "Split Single Phase Real Time Whole House Energy Meter" on an ESP32 (NodeMCU-32S):
# one ATM90E32AS on the VSPI pins SCK 18, MISO 19, MOSI 23 with CS on GPIO5; the optional second
# ("solar"/add-on) chip has CS on GPIO4 (docs/atm90e32.md §11.1).
#
# Channels: the board's two CT inputs are the chip's phases A and C (CircuitSetup's library
# reads IrmsA and IrmsC; phase B is not wired); the add-on chip's likewise. The add-on is used
# when config atm90e32.addon_chip is true.
#
# Gains: CircuitSetup's EmonESP table for a v1.4 rev3+ board with the 9 VAC Jameco 157041
# transformer (Ugain 3920) and SCT-013-000 100A/50mA clamps (Igain 25498) (docs/atm90e32.md
# §10.2). Other transformers, clamps or board revisions: set atm90e32.ctN.ugain/igain or run
# `calibrate`.
import machine

from boards import hardware
from micropython import const

NAME = "esp32_split"
MODEL = "CircuitSetup split single phase energy meter (ESP32)"
SOURCES = ("atm90e32",)
HEAP_BYTES = 100000  # about 100 KB on an ESP32 without SPIRAM (MicroPython esp32 docs)

_SCK = const(18)
_MOSI = const(23)
_MISO = const(19)
_CS_MAIN = const(5)
_CS_ADDON = const(4)
_SPI_ID = const(2)  # VSPI: its default pins are 18/23/19, so no GPIO-matrix clock limit
_SPI_BAUD = const(1000000)  # DS max 1.1 Mbps; ESPHome runs these at 1 MHz (docs/atm90e32.md §3.2)
_LED = const(2)  # NodeMCU-32S on-board LED
_WIFI_TIMEOUT_MS = const(4000)
_CHIP_DEFAULTS = {"ugain": 3920, "igain": 25498}


unique_id = hardware.unique_id


def watchdog(timeout_ms):
    return machine.WDT(timeout=timeout_ms)


def network_up(config):
    return hardware.network_up(config, _WIFI_TIMEOUT_MS)


def han_uart(config):
    raise OSError("%s has no HAN port (source must be atm90e32)" % NAME)


def spi_chips(config):
    # Mode 3 (CPOL=1, CPHA=1) like every ATM90E32 driver on the ESP32 (docs/atm90e32.md
    # §3.2); CS idle high.
    spi = hardware.atm90e32_spi(_SPI_ID, _SPI_BAUD, _SCK, _MOSI, _MISO)
    main_cs = machine.Pin(_CS_MAIN, machine.Pin.OUT, value=1)
    chips = [(spi, main_cs, ("CT1", None, "CT2"), _CHIP_DEFAULTS)]
    if config["atm90e32"].get("addon_chip"):  # validated by the config schema
        addon_cs = machine.Pin(_CS_ADDON, machine.Pin.OUT, value=1)
        chips.append((spi, addon_cs, ("CT3", None, "CT4"), _CHIP_DEFAULTS))
    return chips


def identify(seconds):
    """Blink the on-board LED for `seconds` (from a timer: the loop keeps running)."""
    hardware.blink(machine.Pin(_LED, machine.Pin.OUT), seconds, 0)


reset = hardware.reset
reset_cause = hardware.reset_cause
