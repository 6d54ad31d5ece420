# Frozen as boards/__init__.py into the 32-bit sim binaries that hold only the emulated hardware
# (boards/manifests/sim_stock.py); never deployed, never imported on CPython.
#
# Why: on a board the hardware is silicon and costs no heap. On the unix port the sim board's
# hardware is two modules of the `boards` package (boards/sim_uart.py, boards/sim_atm90e32.py),
# frozen into the binary; the rest of the package (boards/sim.py, ...) is firmware and comes from
# MICROPYPATH as source, .mpy or ROMFS. MicroPython looks a package's submodules up in one folder
# only (its __path__), and the frozen `boards` comes first (.frozen leads the path, as on a board),
# so by itself it would hide boards/sim.py. This stand-in for boards/__init__.py (which holds
# only comments) points __path__ at the firmware's boards folder and puts a placeholder in
# sys.modules for each frozen hardware module; the first attribute taken from a placeholder
# (`from boards.sim_uart import ReplayUart`) imports the frozen module, so an emulator the run
# does not use costs only its placeholder.
import sys

_FROZEN = __path__  # set by MicroPython's import before this runs: ".frozen/boards"


def _firmware_folder():
    import os

    for entry in sys.path:
        if entry.startswith(".frozen"):
            continue
        folder = (entry or ".") + "/boards"
        try:
            if os.stat(folder)[0] & 0x4000:  # S_IFDIR
                return folder
        except OSError:
            pass
    return _FROZEN


class _Frozen:
    def __init__(self, name):
        self._frozen_name = name
        self._frozen_module = None

    def __getattr__(self, attr):
        global __path__
        module = self._frozen_module
        if module is None:
            full = "boards." + self._frozen_name
            firmware = __path__
            sys.modules.pop(full, None)
            __path__ = _FROZEN
            try:
                module = __import__(full, None, None, (self._frozen_name,))
            finally:
                __path__ = firmware
            self._frozen_module = module
        return getattr(module, attr)


__path__ = _firmware_folder()
for _name in ("sim_uart", "sim_atm90e32"):
    sys.modules["boards." + _name] = globals()[_name] = _Frozen(_name)
