# CT6 (pjaos/ct6_meter_os hardware) on its Raspberry Pi Pico W: two ATM90E32AS on SPI0 (SCK GP2,
# MOSI GP3, MISO GP4); CS GP22 for the chip of CT1-CT3, GP5 for CT4-CT6; both chips' active-low
# RESET on GP19 (docs/atm90e32.md §11.3).
#
# Each chip measures voltage on its V1 input only, so ChannelMapU = 0x0444 routes U0 to all three
# phases (as the CT6 firmware does); a voltage calibration of any CT then applies to its chip's
# three CTs. Gains are per unit: CT6s are calibrated at the factory, so copy the unit's
# CS4_VOLTAGE_GAIN (CT1-3) and CS0_VOLTAGE_GAIN (CT4-6) to atm90e32.ctN.ugain and CTn_IGAIN to
# atm90e32.ctN.igain from its factory.cfg, or run `calibrate`; note the CT6 firmware changed its
# PGA from 4 to 1 in version 2.8, so match atm90e32.pga_gain to the firmware the values came from.
import time

import machine

from boards import hardware
from micropython import const

NAME = "picow_ct6"
MODEL = "CT6 six-channel CT meter (Pico W)"
SOURCES = ("atm90e32",)
HEAP_BYTES = 160000  # approximate: the Pico W's CYW43 driver takes part of the RP2040's RAM

_SCK = const(2)
_MOSI = const(3)
_MISO = const(4)
_CS_CT1_3 = const(22)
_CS_CT4_6 = const(5)
_RESET = const(19)
_SPI_ID = const(0)
_SPI_BAUD = const(200000)  # what the CT6 firmware uses on this layout (docs/atm90e32.md §3.2)
_WDT_MAX_MS = const(8388)  # RP2040 watchdog limit
_WIFI_TIMEOUT_MS = const(4000)
_CHIP_OPTIONS = {"channel_map_u": 0x0444}


unique_id = hardware.unique_id


def watchdog(timeout_ms):
    # The RP2040 cannot wait longer than 8.3 s: the main loop must feed it at least that often.
    return machine.WDT(timeout=min(timeout_ms, _WDT_MAX_MS))


def network_up(config):
    return hardware.network_up(config, _WIFI_TIMEOUT_MS)


def han_uart(config):
    raise OSError("%s has no HAN port (source must be atm90e32)" % NAME)


def spi_chips(config):
    # Hardware reset of both chips (the CT6 firmware holds RESET low 10 ms); the driver's
    # init() then soft-resets and waits out the power-on delay itself.
    reset_pin = machine.Pin(_RESET, machine.Pin.OUT, value=0)
    time.sleep_ms(10)
    reset_pin.value(1)
    # Mode 3 (CPOL=1, CPHA=1); SPI.MSB, not a literal 0, which rp2 reads as LSB first
    # (docs/atm90e32.md §3.5).
    spi = hardware.atm90e32_spi(_SPI_ID, _SPI_BAUD, _SCK, _MOSI, _MISO)
    first = machine.Pin(_CS_CT1_3, machine.Pin.OUT, value=1)
    second = machine.Pin(_CS_CT4_6, machine.Pin.OUT, value=1)
    return [
        (spi, first, ("CT1", "CT2", "CT3"), _CHIP_OPTIONS),
        (spi, second, ("CT4", "CT5", "CT6"), _CHIP_OPTIONS),
    ]


def identify(seconds):
    """Blink the on-board LED for `seconds` (from a timer: the loop keeps running)."""
    hardware.blink(machine.Pin("LED", machine.Pin.OUT), seconds, -1)


reset = hardware.reset
reset_cause = hardware.reset_cause
