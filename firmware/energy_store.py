# Lifetime energy counters of the ATM90E32 source, kept in flash across reboots.
#
# The chip's energy registers are read-and-clear; the lifetime totals live in RAM and are saved
# atomically (storage.write_atomic) at most once per _SAVE_INTERVAL_MS while they change, and on
# every clean shutdown or deliberate reset. On a sudden power loss the energy counted since the
# last save (at most a minute's worth) is lost and the counters go on from the saved values, so
# readings publish no more than was saved (Atm90e32Source.energy_cap): published lifetime
# energy never goes backwards, which Home Assistant's total_increasing would take for a meter
# reset. The price is that published energy lags by up to a minute.
#
# Flash wear: at full load the counters change all the time, so this is one small-file write a
# minute, 1440 a day, whatever the load (the cap costs no extra writes). LittleFS (MicroPython's
# default on ESP32/ESP8266/rp2) appends small files to its metadata blocks and moves those on to
# fresh blocks as they wear. Even if every write cost a whole block erase and the erases were
# spread over only 100 of the filesystem's 4 KB blocks, that is about 14 erases per block a day:
# the NOR flash's rated 100,000 erase cycles last about 19 years. (A HAN meter keeps its own
# registers; nothing is saved or capped for it.)
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
        once at boot, so its code lives in energy_restore (imported and dropped). The file is
        parsed first: the counters it keeps then lie below that code in the heap, not amid it."""
        text = storage.read_text(self.path)
        if text is None:
            return None
        try:
            counters = json.loads(text)
        except ValueError as e:
            counters = e
        import energy_restore

        note = energy_restore.restore(self, text, counters)
        self.source.energy_cap = self.saved
        return note

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
        if counters != self.saved:
            try:
                storage.write_atomic(self.path, json.dumps(counters))
            except OSError as e:  # flash full: keep counting in RAM and try again next interval
                import flash_error

                log.error("energy: cannot save counters: %s", flash_error.describe(e))
                return False
            self.saved = counters
            self.saves += 1
        self.source.energy_cap = self.saved
        return True

    def reset(self):
        """Zero the lifetime counters (the reset_energy command): saved first, so that when the
        flash cannot take it (OSError) nothing changes."""
        zeros = self.source.energy_counters()
        for key in list(zeros) + list(self.saved or ()):
            if key != "counts_per_wh":
                zeros[key] = [0, 0]
        storage.write_atomic(self.path, json.dumps(zeros))
        self.source.reset_energy()
        self.saved = zeros
        self.saves += 1
        self.source.energy_cap = zeros
