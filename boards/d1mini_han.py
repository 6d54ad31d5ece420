# Wemos D1 mini (ESP8266) reading a smart meter's HAN/P1 port.
#
# The ESP8266 has one receiving UART: UART0, RX on GPIO3 (the pin marked RX), the same UART as
# the USB serial REPL (UART1 transmits only). han_uart() therefore detaches the REPL from it
# (os.dupterm(None, 1)); afterwards the board is reached over WiFi (MQTT commands, WebREPL),
# not over USB. The port's UART has no `invert` option (docs/han.md §2.4):
#  - RJ12 P1/H1 ports (Aidon SE/FI, DSMR, Swedish H1) drive an open-collector output with
#    inverted logic. Put an NPN transistor inverter in front of RX: meter data (RJ12 pin 5) through
#    10 kOhm to the base of a BC547 (emitter to GND), collector to RX with 10 kOhm pull-up to
#    3.3 V; RJ12 pin 2 (data request) to 5 V enables sending, pin 3/6 to GND. The same circuit
#    esphome-p1reader documents ("rx_pin inverted: false" behind the transistor).
#  - RJ45 M-Bus ports (Norway, Denmark, Austria) need an M-Bus slave to TTL converter (TSS721
#    type); its output goes to RX directly.
# rxbuf is 1024: a 581-byte Aidon frame must fit while the main loop is busy (amsreader #146).
import os

import machine

from boards import hardware
from micropython import const

NAME = "d1mini_han"
MODEL = "Wemos D1 mini HAN/P1 reader (ESP8266)"
SOURCES = ("han",)
HEAP_BYTES = 24 * 1024  # free heap the firmware can count on (GUIDE: ~24 KB on the ESP8266)

_LED = const(2)  # on-board LED, GPIO2, lit when low
_RXBUF = const(1024)
_WIFI_TIMEOUT_MS = const(2000)
_PARITY = {"none": None, "even": 0, "odd": 1}


unique_id = hardware.unique_id


def watchdog(timeout_ms):
    # The ESP8266 watchdog timeout is fixed by the system (MicroPython machine.WDT docs).
    return machine.WDT()


def network_up(config):
    return hardware.network_up(config, _WIFI_TIMEOUT_MS)


def han_uart(config):
    han = config["han"]
    os.dupterm(None, 1)  # the REPL leaves UART0 to the meter
    return machine.UART(0, baudrate=han["baud"], bits=8, parity=_PARITY[han["parity"]], stop=1,
                        timeout=0, rxbuf=_RXBUF)


def spi_chips(config):
    raise OSError("%s has no ATM90E32 (source must be han)" % NAME)


def identify(seconds):
    """Blink the on-board LED for `seconds` (from a timer: the loop keeps running)."""
    hardware.blink(machine.Pin(_LED, machine.Pin.OUT, value=1), seconds, -1, active_low=True)


reset = hardware.reset
reset_cause = hardware.reset_cause
