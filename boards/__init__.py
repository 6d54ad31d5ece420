# Board modules: the only code that knows pins, buses and radios.
#
# The firmware imports `boards.<config["board"]>` at boot and uses only this interface, so the
# code path on the sim board is the one that runs on hardware. Every board module defines:
#
#   NAME                      the config value that selects it ("d1mini_han", "sim", ...)
#   MODEL                     human-readable hardware name (Home Assistant device "model")
#   SOURCES                   tuple of meter sources it can run: ("han",), ("atm90e32",), or both
#   HEAP_BYTES                the usable MicroPython heap of the target (for RAM reports)
#   unique_id()               bytes: the chip's unique id (machine.unique_id() on hardware)
#   watchdog(timeout_ms)      object with feed(); started once, never stopped
#   network_up(config)        bring the network up (WiFi) or confirm it is up; returns bool,
#                             never blocks longer than a few seconds per call
#   han_uart(config)          HAN boards: an object with readinto(buf) -> int | None and any();
#                             opened with config["han"]["baud"] / ["parity"]
#   spi_chips(config)         ATM90E32 boards: list of (spi, cs, channel_names) per chip, e.g.
#                             [(spi, Pin(5), ("CT1", "CT2", "CT3"))]; channel names in the order
#                             of the chip's phases A, B, C (None for an unused phase); an optional
#                             4th element is a dict of driver keywords for that chip (defaults
#                             for ugain, igain, uoffset, ioffset, channel_map_u)
#   identify(seconds)         blink an LED (or log, on the sim) so a user can find the board
#   reset()                   hard reset (machine.reset() on hardware)
#   reset_cause()             str: "power_on" | "watchdog" | "hard" | "soft" | "deepsleep" |
#                             "unknown"
#   MAINTENANCE_ON_INTERRUPT  optional, default True: Ctrl-C at the console resets the board into
#                             maintenance mode (no firmware, no watchdog) for mpremote; the sim
#                             board sets False (Ctrl-C there means: stop)
#   OUTBOX_LEN                optional: state messages kept through a broker outage (default 8)
#
# Files (config, energy counters, crash log) live in the current directory: "/" on a board,
# the state directory on the sim board.
