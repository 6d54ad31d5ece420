# The sim board: the firmware on the MicroPython unix port with emulated peripherals.
#
# It implements the board interface (boards/__init__.py) with emulations instead of hardware:
# an ATM90E32 behind a machine.SPI-like bus (boards/sim_atm90e32.py), a UART replaying a HAN
# capture at the line's byte rate (boards/sim_uart.py), a watchdog that tools/sim.py enforces, and
# the current directory (tools/sim.py's --state-dir) as the flash filesystem.
# tools/sim.py passes its options in SIM_* environment variables.
import os
import sys

import log
from clock import ticks_diff, ticks_ms

NAME = "sim"
MODEL = "Simulated board (MicroPython unix port)"
SOURCES = ("han", "atm90e32")
HEAP_BYTES = 0  # whatever -X heapsize gave the unix port
MAINTENANCE_ON_INTERRUPT = False  # Ctrl-C / SIGINT from tools/sim.py means: stop cleanly
# How long a connectivity change is tried before rolling back (the firmware's default is 90 s;
# tests shorten it).
TRIAL_MS = int(os.getenv("SIM_TRIAL_MS") or "90000")
METER_QUIET_MS = int(os.getenv("SIM_METER_QUIET_MS") or "30000")
VICTRON_KEEPALIVE_MS = int(os.getenv("SIM_VICTRON_KEEPALIVE_MS") or "30000")

_RESET_EXIT_CODE = 100  # tools/sim.py restarts the firmware when it exits with this code
_WATCHDOG_FILE = ".sim_watchdog"
_UID_FILE = ".sim_uid"


def unique_id():
    """Six random bytes made on first boot and kept in the emulated flash, like a chip id."""
    try:
        with open(_UID_FILE, "rb") as f:
            uid = f.read()
        if len(uid) == 6:
            return uid
    except OSError:
        log.info("sim: first boot, making a unique id")
    uid = os.urandom(6)
    with open(_UID_FILE, "wb") as f:
        f.write(uid)
    return uid


class _Watchdog:
    """Feeding touches a file at most once a second; tools/sim.py resets the board when the
    file gets older than its watchdog timeout, as the hardware watchdog would."""

    def __init__(self, timeout_ms):
        self.timeout_ms = timeout_ms
        self.unfed = 0  # feeds that could not be written
        self._last_touch = None
        self.feed()

    def feed(self):
        now = ticks_ms()
        if self._last_touch is None or ticks_diff(now, self._last_touch) >= 1000:
            self._last_touch = now
            try:
                with open(_WATCHDOG_FILE, "w") as f:
                    f.write("fed")
            except OSError:
                # The state dir is not writable: the firmware goes on (its flash writes fail
                # like a full flash's); once the watchdog runs out, tools/sim.py finds the dir
                # unwritable and says so instead of resetting the board.
                self.unfed += 1


def watchdog(timeout_ms):
    return _Watchdog(timeout_ms)


# Fault injection for tests of the failure model (tools/sim.py passes SIM_FAULT through; see
# boards/sim_faults.py). Its code is loaded only when a fault is asked for: the sim board
# stands for hardware, whose heap cost should be what a real board module's is.
_FAULT = os.getenv("SIM_FAULT") or ""
_booted_ms = ticks_ms()


def _inject(where):
    if _FAULT:
        from boards.sim_faults import inject

        inject(_FAULT, where, _booted_ms)


def network_up(config):
    _inject("loop")
    return True  # the host's network is the sim board's WiFi


def han_uart(config):
    from boards.sim_uart import ReplayUart

    _inject("hardware")
    path = os.getenv("SIM_HAN")
    if not path:
        raise OSError("sim: no HAN capture given (tools/sim.py --han FILE)")
    han = config["han"]
    baud = os.getenv("SIM_HAN_BAUD")
    baud = int(baud) if baud else han["baud"]
    bits = 11 if han.get("parity", "none") != "none" else 10  # start + 8 data + parity + stop
    interval_ms = int(os.getenv("SIM_HAN_INTERVAL_MS") or "2000")
    # where the receive buffer lives: in the heap (ESP8266, the host) or in the UART driver's
    # memory outside it (ESP32); tools/mp_env.py sets it per target
    in_heap = os.getenv("SIM_UART_RING") != "driver"
    return ReplayUart(path, baud=baud, bits_per_byte=bits, interval_ms=interval_ms, rxbuf=1024,
                      ring_in_heap=in_heap)


def spi_chips(config):
    """One emulated chip with a house's loads on CT1-CT3 (grid, solar, heat pump); with
    atm90e32.addon_chip a second one on the same bus, CT4-CT6 (a heat pump, a second PV string
    and a steady 3 A load): the six channels of a CircuitSetup 6-channel or CT6 board."""
    from boards.sim_atm90e32 import HouseLoad, Load, house_board

    # How often the energy counters are saved (startup.py; energy_store's default 60 s): set
    # here, not at import, so the HAN sim board's module holds no more than it did.
    global ENERGY_SAVE_MS
    ENERGY_SAVE_MS = int(os.getenv("SIM_ENERGY_SAVE_MS") or 60000)
    _inject("hardware")
    chips = house_board()
    if config["atm90e32"].get("addon_chip"):
        spi = chips[0][0]
        loads = (HouseLoad("heat_pump", 14.0), HouseLoad("solar", 11.0),
                 Load(volts=231.0, amps=3.0, pf=0.92))
        chips.append((spi, spi.add_chip(loads=loads), ("CT4", "CT5", "CT6")))
    return chips


def identify(seconds):
    log.info("sim: identify requested: blinking the (imaginary) LED for %d s", seconds)


def reset():
    sys.exit(_RESET_EXIT_CODE)


def reset_cause():
    return os.getenv("SIM_RESET_CAUSE") or "power_on"
