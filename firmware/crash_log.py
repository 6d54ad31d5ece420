# Why the board last went down, kept in flash across resets, and boot-loop protection.
#
# `boot()` runs early at every start: it counts starts that were not preceded by a clean run
# (crashes, watchdog and hard resets in a row; not power losses). After _SAFE_MODE_AFTER of them
# the firmware starts in safe mode: it connects and takes config and commands, but does not
# start the meter source that keeps crashing it. A run that stays up for app._HEALTHY_MS (2 min)
# is healthy and clears the count (app.py calls healthy()).
import json
import sys

import log
import storage
from micropython import const

_FILE = "crash.json"
_SAFE_MODE_AFTER = const(3)

_state = None


def _load():
    global _state
    if _state is None:
        text = storage.read_text(_FILE)
        try:
            _state = json.loads(text) if text else {}
        except ValueError:
            log.warning("crash_log: %s unreadable, starting afresh", _FILE)
            _state = {}
        if type(_state) is not dict:
            _state = {}
    return _state


def _save():
    try:
        storage.write_atomic(_FILE, json.dumps(_state))
    except OSError as e:  # flash full: losing the crash log must not stop the firmware
        import flash_error

        log.error("crash_log: cannot save: %s", flash_error.describe(e))


def boot(reset_cause):
    """Count unhealthy starts; returns True when the firmware should start in safe mode."""
    state = _load()
    if reset_cause == "watchdog":
        state["last"] = {"reason": "watchdog reset: the main loop stopped feeding the watchdog"}
    # The previous run neither ended cleanly nor became healthy. A crash (recorded, then the
    # firmware's own reset), a watchdog or a hard reset counts toward safe mode; a power-on
    # does not: power lost mid-run is no fault of the firmware's.
    if state.get("running") and reset_cause != "power_on":
        state["unhealthy_starts"] = state.get("unhealthy_starts", 0) + 1
    state["running"] = True
    state["reset_cause"] = reset_cause
    _save()
    return state.get("unhealthy_starts", 0) >= _SAFE_MODE_AFTER


def healthy():
    """The run has been up long enough: crashes before it no longer count towards safe mode."""
    state = _load()
    if state.get("unhealthy_starts") or state.get("running"):
        state["unhealthy_starts"] = 0
        state["running"] = False
        _save()


def clean_exit():
    state = _load()
    state["running"] = False
    _save()


def record(exc):
    """Remember the exception that is about to reset the board."""
    state = _load()
    state["last"] = {"reason": "%s: %s" % (type(exc).__name__, exc)}
    log.error("crash: %s", state["last"]["reason"])
    if hasattr(sys, "print_exception"):
        sys.print_exception(exc)
    _save()


def last():
    return _load().get("last")


def unhealthy_starts():
    return _load().get("unhealthy_starts", 0)
