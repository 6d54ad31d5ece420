# CPython stand-ins for MicroPython's time.ticks_* (host tests and tools only; never deployed).
# Host ticks do not wrap, so the arithmetic is plain.
import time


def ticks_ms():
    return int(time.monotonic() * 1000)


def ticks_diff(end, start):
    return end - start


def ticks_add(ticks, delta):
    return ticks + delta
