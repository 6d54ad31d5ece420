# What every real board does the same way (ESP32, ESP8266, rp2): blink an LED to be found,
# reset, and name the reset cause. Board modules import from here; only they know the pins.
import machine

_timer = None
# machine.reset_cause() values by name; a port lacks some (getattr below), e.g. no
# DEEPSLEEP_RESET on rp2 (MicroPython machine module docs, "Constants")
_CAUSES = (
    ("power_on", "PWRON_RESET"),
    ("watchdog", "WDT_RESET"),
    ("hard", "HARD_RESET"),
    ("soft", "SOFT_RESET"),
    ("deepsleep", "DEEPSLEEP_RESET"),
)


def blink(led, seconds, timer_id, active_low=False):
    """Blink `led` (an output Pin) for `seconds` from a timer, so the main loop keeps running
    (and keeps feeding the watchdog). timer_id -1 is a virtual timer (ESP8266, rp2)."""
    global _timer
    toggles = [max(1, int(seconds)) * 4]
    off = 1 if active_low else 0

    def step(timer):
        toggles[0] -= 1
        led.value((toggles[0] & 1) ^ off if toggles[0] > 0 else off)
        if toggles[0] <= 0:
            timer.deinit()

    if _timer is not None:
        _timer.deinit()
    _timer = machine.Timer(timer_id)
    _timer.init(period=250, mode=machine.Timer.PERIODIC, callback=step)


def reset():
    machine.reset()


def reset_cause():
    cause = machine.reset_cause()
    for name, constant in _CAUSES:
        if cause == getattr(machine, constant, None):
            return name
    return "unknown"
