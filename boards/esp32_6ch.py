# CircuitSetup "Expandable 6 Channel ESP32 Energy Meter" main board: two ATM90E32AS on the VSPI
# pins SCK 18, MISO 19, MOSI 23, CS GPIO5 for CT1-CT3 and GPIO4 for CT4-CT6 (docs/atm90e32.md
# §11.2). Each chip's phases A, B, C are its three CT inputs in order. Add-on boards
# (more chips on selectable CS pins) are not supported here.
#
# Gains: CircuitSetup's 6-channel ESPHome table for the 9 VAC Jameco transformer (Ugain 7305) and
# SCT-013-000 100A/50mA clamps (Igain 27518) (docs/atm90e32.md §10.2). Other parts: set
# atm90e32.ctN.ugain/igain or run `calibrate`.
import machine

from boards import hardware
from micropython import const

NAME = "esp32_6ch"
MODEL = "CircuitSetup expandable 6-channel energy meter (ESP32)"
SOURCES = ("atm90e32",)
HEAP_BYTES = 100000  # about 100 KB on an ESP32 without SPIRAM (MicroPython esp32 docs)

_SCK = const(18)
_MOSI = const(23)
_MISO = const(19)
_CS_CT1_3 = const(5)
_CS_CT4_6 = const(4)
_SPI_ID = const(2)  # VSPI: its default pins are 18/23/19, so no GPIO-matrix clock limit
_SPI_BAUD = const(1000000)  # DS max 1.1 Mbps; ESPHome runs these at 1 MHz (docs/atm90e32.md §3.2)
_LED = const(2)
_WIFI_TIMEOUT_MS = const(4000)
_CHIP_DEFAULTS = {"ugain": 7305, "igain": 27518}


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
    first = machine.Pin(_CS_CT1_3, machine.Pin.OUT, value=1)
    second = machine.Pin(_CS_CT4_6, machine.Pin.OUT, value=1)
    return [
        (spi, first, ("CT1", "CT2", "CT3"), _CHIP_DEFAULTS),
        (spi, second, ("CT4", "CT5", "CT6"), _CHIP_DEFAULTS),
    ]


def identify(seconds):
    """Blink the on-board LED for `seconds` (from a timer: the loop keeps running)."""
    hardware.blink(machine.Pin(_LED, machine.Pin.OUT), seconds, 0)


reset = hardware.reset
reset_cause = hardware.reset_cause
