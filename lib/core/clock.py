# Millisecond ticks and wall-clock time, the same on MicroPython boards, the unix port and CPython.
#
# Ticks wrap on the boards (ticks_diff handles it); wall-clock epochs differ: ESP32/ESP8266 count
# from 2000-01-01, unix and rp2 from 1970 (MicroPython docs, library/time.rst).
import time

# Re-exported for the rest of the firmware (hence noqa F401).
try:
    from time import ticks_add, ticks_diff, ticks_ms
except ImportError:  # CPython: host tests and tools
    from cpython_ticks import ticks_add, ticks_diff, ticks_ms  # type: ignore[no-redef,assignment]  # noqa: F401


_EPOCH_2000 = 946684800
_EPOCH_OFFSET = _EPOCH_2000 if time.gmtime(0)[0] == 2000 else 0
# Before NTP has set the clock a board starts in 2000; a reading then carries no timestamp.
_PLAUSIBLE_UNIX_TIME = 1704067200  # 2024-01-01


def unix_time():
    """Seconds since 1970-01-01 UTC as an int, or None while the clock is obviously unset."""
    now = int(time.time()) + _EPOCH_OFFSET
    return now if now >= _PLAUSIBLE_UNIX_TIME else None


def iso_utc(unix_seconds):
    """'YYYY-MM-DDTHH:MM:SSZ' for a Unix time (MicroPython has no strftime)."""
    t = time.gmtime(unix_seconds - _EPOCH_OFFSET)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (t[0], t[1], t[2], t[3], t[4], t[5])
