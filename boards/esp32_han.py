# ESP32 dev board (NodeMCU-32S / DevKitC) reading a smart meter's HAN/P1 port on UART2.
#
# Meter data goes to GPIO16 (UART2 RX); TX is not used (GPIO17 left free). The UART inverts the
# received signal itself (UART.INV_RX), so an RJ12 P1/H1 port's inverted open-collector output
# needs only a pull-up: RJ12 pin 5 (data) to GPIO16 with 10 kOhm to 3.3 V, pin 2 (data request)
# to 5 V, pins 3/6 to GND (docs/han.md §2.1, §2.4). USB and the REPL stay on UART0.
# RJ45 M-Bus ports (Norway, Denmark, Austria) need an M-Bus slave to TTL converter (TSS721 type).
import machine

from boards import hardware
from micropython import const

NAME = "esp32_han"
MODEL = "ESP32 HAN/P1 reader"
SOURCES = ("han",)
HEAP_BYTES = 100000  # about 100 KB on an ESP32 without SPIRAM (MicroPython esp32 docs)

_UART_ID = const(2)
_RX = const(16)
_TX = const(17)
_RXBUF = const(2048)  # room for a whole 2047-byte HDLC frame while the loop is busy
_LED = const(2)  # NodeMCU-32S on-board LED
_WIFI_TIMEOUT_MS = const(4000)
_PARITY = {"none": None, "even": 0, "odd": 1}


unique_id = hardware.unique_id


def watchdog(timeout_ms):
    return machine.WDT(timeout=timeout_ms)


def network_up(config):
    return hardware.network_up(config, _WIFI_TIMEOUT_MS)


def _invert(han):
    # RJ12 P1/H1 ports drive inverted logic; an M-Bus to TTL converter's output is not inverted
    return machine.UART.INV_RX if han.get("invert", True) else 0


def han_uart(config):
    han = config["han"]
    return machine.UART(_UART_ID, baudrate=han["baud"], bits=8, parity=_PARITY[han["parity"]],
                        stop=1, rx=_RX, tx=_TX, invert=_invert(han), timeout=0,
                        rxbuf=_RXBUF)


def spi_chips(config):
    raise OSError("%s has no ATM90E32 (source must be han)" % NAME)


def identify(seconds):
    """Blink the on-board LED for `seconds` (from a timer: the loop keeps running)."""
    hardware.blink(machine.Pin(_LED, machine.Pin.OUT), seconds, 0)


reset = hardware.reset
reset_cause = hardware.reset_cause
