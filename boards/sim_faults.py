# Fault injection on the sim board, for tests of the failure model (tools/sim.py passes
# SIM_FAULT through; boards/sim.py imports this module only when it is set):
#   "crash"          the meter hardware raises an unexpected error at every start (boot loop)
#   "hang:SECONDS"   the main loop hangs once, SECONDS after boot (the watchdog must reset it)
#   "flash"          the flash fails writes while a marker file exists in the state dir:
#                    .sim_flash_full (ENOSPC, 28) or .sim_flash_readonly (EROFS, 30); a test
#                    creates and removes them while the board runs
import os

import log
from clock import ticks_diff, ticks_ms

_HUNG_FILE = ".sim_hung"
_FLASH_FAULTS = ((".sim_flash_full", 28), (".sim_flash_readonly", 30))


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _failing_flash():
    """builtins.open (the unix port lets it be replaced) failing writes as the flash says."""
    import builtins

    real_open = builtins.open

    def flash_open(name, mode="r", *args):
        if ("w" in mode or "a" in mode or "+" in mode) and not name.startswith(".sim_"):
            for marker, code in _FLASH_FAULTS:
                if _exists(marker):
                    raise OSError(code)
        return real_open(name, mode, *args)

    builtins.open = flash_open


def inject(fault, where, booted_ms):
    if fault == "flash":
        if where == "hardware":  # once, at boot: the meter source is built
            _failing_flash()
        return
    if fault == "crash" and where == "hardware":
        raise RuntimeError("sim: injected hardware fault")
    if fault.startswith("hang:") and where == "loop":
        if ticks_diff(ticks_ms(), booted_ms) >= int(fault[5:]) * 1000:
            try:
                open(_HUNG_FILE).close()
                return  # hung once already: this boot runs normally
            except OSError:
                with open(_HUNG_FILE, "w") as f:
                    f.write("hung")
            import time

            log.warning("sim: injected hang of the main loop")
            while True:
                time.sleep(1)
