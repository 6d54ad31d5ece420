# Fault injection on the sim board, for tests of the failure model (tools/sim.py passes
# SIM_FAULT through; boards/sim.py imports this module only when it is set):
#   "crash"          the meter hardware raises an unexpected error at every start (boot loop)
#   "hang:SECONDS"   the main loop hangs once, SECONDS after boot (the watchdog must reset it)
import log
from clock import ticks_diff, ticks_ms

_HUNG_FILE = ".sim_hung"


def inject(fault, where, booted_ms):
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
