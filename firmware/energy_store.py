# Lifetime energy counters of the ATM90E32 source, kept in flash across reboots.
#
# The chip's energy registers are read-and-clear; the lifetime totals live in RAM and are saved
# atomically (storage.write_atomic) at most once per _SAVE_INTERVAL_MS while they change, and on
# every clean shutdown or deliberate reset. Flash wear: LittleFS spreads writes over its blocks;
# one small file per minute is far inside a 100k-cycle flash's life. On a sudden power loss the
# energy counted since the last save (at most a minute's worth) is lost; the counters then go on
# from the saved values. (A HAN meter keeps its own registers; nothing is saved for it.)
import json

import log
import storage
from clock import ticks_diff
from micropython import const

_FILE = "energy.json"
_SAVE_INTERVAL_MS = const(60000)


class EnergyStore:
    def __init__(self, source, path=_FILE, interval_ms=_SAVE_INTERVAL_MS):
        self.source = source
        self.path = path
        self.interval_ms = interval_ms
        self.last_save_ms = None
        self.saved = None  # the counters as last written
        self.saves = 0

    def restore(self):
        """Seed the source with the saved counters; returns a notice for MQTT, or None. Runs
        once at boot, so its code lives in atm90e32_config (imported and dropped). The file is
        parsed first: the counters it keeps then lie below that code in the heap, not amid it."""
        text = storage.read_text(self.path)
        if text is None:
            return None
        try:
            counters = json.loads(text)
        except ValueError as e:
            counters = e
        return self.source._rare("restore_saved", self, text, counters)

    def maybe_save(self, now):
        if self.last_save_ms is not None and ticks_diff(now, self.last_save_ms) < self.interval_ms:
            return
        self.last_save_ms = now
        self.save()

    def save(self):
        counters = self.source.energy_counters()
        if self.saved:
            # Counters of channels the board does not have now (an add-on chip switched off)
            # are kept, so they continue when the channel comes back.
            for key in self.saved:
                if key not in counters:
                    counters[key] = self.saved[key]
        if counters == self.saved:
            return
        try:
            storage.write_atomic(self.path, json.dumps(counters))
        except OSError as e:  # flash full: keep counting in RAM and try again next interval
            log.error("energy: cannot save counters: %s", e)
            return
        self.saved = counters
        self.saves += 1

    def reset(self):
        self.source.reset_energy()
        self.save()
