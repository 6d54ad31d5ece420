# The firmware's ATM90E32 meter source: the board's chips on one SPI bus, read on a fixed cadence
# into one Reading (lib/core/reading.py), with lifetime energy, calibration and persistence.
#
#   source = Atm90e32Source(board.spi_chips(config), config["atm90e32"], reading,
#                           interval_ms=publish_interval_ms)
#   source.poll()              # from the main loop: True when a new reading is due and fresh
#   source.read()              # a reading now (a cycle unless one ran < 250 ms ago); True if fresh
#   source.energy_counters()   # -> {"counts_per_wh": 320, "CT1": [import, export], ...}
#   source.restore_energy(saved)               # at boot; ValueError if unusable
#   source.calibrate("CT1", voltage=231.4)     # -> {"ugain": 41230}; ValueError if refused
#
# chips: the board's spi_chips(config) list of (spi, cs, channel_ids) with one id per phase A, B,
# C ("CT1".., None for an unused phase), optionally a 4th element: a dict of driver keywords for
# that chip (board defaults: ugain, igain, uoffset, ioffset, channel_map_u).
#
# Settings (lib/atm90e32/atm90e32_config.py): the config's "atm90e32" object: line_freq
# (50/60), pga_gain (1/2/4) and per channel ct1..ct6 {name, ugain, igain, reversed, role};
# ugain/igain 0 = the board's default, else the chip's reset value 0x8000. They are trusted: the
# config schema (lib/config/config_schema.py) validated them; a key left out takes its default.
#
# Reading channels: named by their port, the channel id ("CT1"..), whatever the user calls them
# (so ids and keys survive a rename); each channel also carries `port` (the same id), `label`
# (the configured name, shown by Home Assistant and the CT6 format) and `role`. Role "off"
# channels stay all None. The grid's phases (reading.grid) are the first three "grid" channels.
# Totals: power, reactive power and lifetime energy are sums over the channels with role "grid",
# or over all active channels if none is "grid"; when a channel of that set has no value this
# cycle the power totals are None, never a partial sum. Powers are summed as the driver's integer
# hundredths and divided once (exact on float32 boards). Energy totals add each channel's own
# import and export. Frequency: the first chip's; temperature: the hottest chip's.
#
# Cadence: a reading is due every interval_ms (the firmware's publish interval); poll() then runs
# one read cycle (every measurement and energy register) and returns True if it gave fresh
# values, so the chips are read once per published reading. The energy registers are 16-bit
# counts of 1/320 Wh (docs/atm90e32.md §6.7), so one holds 65535 / 320 = 204.8 Wh. The largest
# power the chip can show on a phase is 655.35 V x 65.535 A = 42.9 kW (RMS register limits,
# docs/atm90e32.md §6.1-6.2), which fills a register in 204.8 Wh / 42.9 kW = 17.2 s. So
# between due readings poll() collects the
# energy registers alone whenever ENERGY_MAX_INTERVAL_MS = 8 s passed since the last cycle, under
# half that bound, which leaves room for a late loop turn (GC, a slow publish).
#
# Chips are initialised when their driver is built (construction, a settings change that needs
# it), while the set-up code is loaded anyway. Failures: a chip that stops answering (OSError from
# the driver) has its channels' measurements None (their lifetime energy stays), is counted in
# `errors` / `last_error`, and is re-initialised REINIT_MS later. Nothing here raises OSError out
# of the constructor, poll() or read().
#
# Memory: settings, energy restore and calibration run in atm90e32_config, the driver's set-up in
# atm90e32_setup and its calibration in atm90e32_calibration; they are imported when needed and
# dropped again (_forget), so their code holds no heap while the chips are only read.
import gc
import sys

from atm90e32 import ATM90E32, COUNTS_PER_WH
from micropython import const

DEFAULT_INTERVAL_MS = const(1000)
MIN_INTERVAL_MS = const(250)  # the chip's registers change every ~320 ms (docs/atm90e32.md §7.1)
ENERGY_MAX_INTERVAL_MS = const(8000)  # see the energy bound above
SETTLE_MS = const(400)  # after init the measurement registers read 0 for one ~320 ms window
REINIT_MS = const(10000)  # a failed chip is tried again this long after its failure
_GRID = const(0)  # role codes: indexes into atm90e32_config.ROLES
_OFF = const(3)


def _forget():
    """Drop the rarely used modules and collect at once, so that their code's heap is free for
    what comes next (a second import lands in the same place, not above it)."""
    for name in ("atm90e32_calibration", "atm90e32_config", "atm90e32_setup"):
        if name in sys.modules:
            del sys.modules[name]
    gc.collect()


class Atm90e32Source:
    def __init__(self, chips, settings=None, reading=None, interval_ms=DEFAULT_INTERVAL_MS,
                 clock=None, clock_diff=None, sleep_ms=None, log=None):
        # what boot left behind goes first, so that the objects below, which live as long as
        # the firmware, are placed low in the heap instead of above that garbage (where they
        # would split the free heap once it is collected)
        gc.collect()
        self._clock = clock
        self._diff = clock_diff
        self._sleep_ms = sleep_ms
        self._log = log
        self.reading = reading
        self.set_interval(interval_ms)
        self.errors = 0  # chip failures (init or read) since start
        self.last_error = None
        self.last_calibration = None  # every channel a calibrate() changed, config-shaped
        # Readings publish no more lifetime energy than this energy_counters() dict (what the
        # firmware last saved to flash; None: no cap), so a power loss, which restarts the
        # counters from the saved values, never makes published energy go backwards.
        self.energy_cap = None
        self.cycles = 0  # full read cycles
        self._last_due = None  # when poll() last ran a due reading
        self._last_cycle = None  # when the last cycle (full or energy only) ran
        self._last_full = None
        self._fresh = 0  # bit i: chip i gave fresh values in the last full cycle
        self._driver = ATM90E32  # the class atm90e32_config builds the chips' drivers with
        self._rare("build", chips, settings)

    @classmethod
    def from_board(cls, board, config, reading=None, **kwargs):
        return cls(board.spi_chips(config), config.get("atm90e32"), reading, **kwargs)

    def _rare(self, name, *args):
        """Run atm90e32_config.<name>(self, *args), then drop the rarely used modules."""
        import atm90e32_config

        try:
            return getattr(atm90e32_config, name)(self, *args)
        finally:
            _forget()

    def set_interval(self, interval_ms):
        """How often a reading is due (the firmware's publish interval), >= MIN_INTERVAL_MS."""
        self.interval_ms = max(int(interval_ms), MIN_INTERVAL_MS)

    def apply_settings(self, settings):
        """Take a (new) atm90e32 settings object. Names, roles and reversed flags apply at once;
        a change of line frequency, PGA or gains rebuilds the chip's driver (pending energy is
        collected first, lifetime counters carry over) and re-initialises the chip. The
        settings are validated ones (the config schema's)."""
        self._rare("apply_settings", settings)

    def restore_energy(self, state):
        """Seed the lifetime counters from a saved energy_counters() (at boot). All or nothing:
        ValueError with the reason (and nothing changed) for a state that does not fit; returns
        the ids restored. Channels the state does not mention keep their counters; channels this
        board does not have (an add-on chip switched off) are skipped, not fatal."""
        return self._rare("restore_energy", state)

    def reset_energy(self):
        """Zero every lifetime counter (the reset_energy command)."""
        self._rare("reset_energy")

    def calibrate(self, channel, voltage=None, current=None, write=True, max_change=None):
        """Calibrate a channel (its id, "CT1"..) against a reference meter reading: exactly one
        of voltage (V) or current (A). Returns the channel's new gain, {"ugain": n} or
        {"igain": n}, for the firmware to persist as atm90e32.<channel>; `last_calibration`
        lists every changed channel config-shaped ({"ct1": {"ugain": n}, ...}: a voltage gain
        also goes to every channel on the same voltage input). ValueError if refused (nothing
        written then), OSError if the chip stops answering. write=False only measures: the
        firmware saves the gains first and applies them with apply_settings(), so a calibration
        that cannot be saved changes nothing. max_change (a fraction, e.g. 0.2) refuses a gain
        further than that from the gain in force (a wrong reference)."""
        return self._rare("calibrate", channel, voltage, current, write, max_change)

    # --- cycle ---

    def start(self):
        """Initialise every chip now; True if all answered (poll()/read() retry the others)."""
        ok = True
        now = self._clock()
        for index in range(len(self._meters)):
            ok = self._init_chip(index, now) and ok
        _forget()
        return ok

    def poll(self):
        """From the main loop: a read cycle when a reading is due (every interval_ms); True if
        it gave fresh values, i.e. a new reading. In between, the energy registers alone are
        collected once ENERGY_MAX_INTERVAL_MS passed since the last cycle (energy bound)."""
        now = self._clock()
        due = self._last_due
        if due is None or self._diff(now, due) >= self.interval_ms:
            # A due reading that no chip could give (settling after init, failing) stays due:
            # tried again once the registers can have changed, not only an interval later.
            last = self._last_full
            if last is not None and self._diff(now, last) < MIN_INTERVAL_MS:
                return False
            # on the interval's grid, so readings do not drift by a loop turn each; after a
            # stall of more than one interval the grid restarts from now
            late = due is None or self._diff(now, due) >= 2 * self.interval_ms
            if not self._cycle(now, True):
                return False
            self._last_due = now if late else due + self.interval_ms
            return True
        if self._diff(now, self._last_cycle) >= ENERGY_MAX_INTERVAL_MS:
            self._cycle(now, False)
        return False

    def read(self):
        """A reading now: one read cycle over every chip (liveness, measurement registers,
        energy registers, then the Reading), unless the last one ran under MIN_INTERVAL_MS ago
        (the registers change only every ~320 ms), whose result stands. True if at least one
        chip gave fresh values (see `errors`/`last_error` for the others). Never raises
        OSError."""
        now = self._clock()
        if self._last_full is not None and self._diff(now, self._last_full) < MIN_INTERVAL_MS:
            return self._fresh != 0
        return self._cycle(now, True)

    def _cycle(self, now, full):
        self._last_cycle = now
        fresh = 0
        for index in range(len(self._meters)):
            if not self._ready[index]:
                retry_at = self._retry_at[index]
                if retry_at is not None and self._diff(now, retry_at) < 0:
                    continue
                ready = self._init_chip(index, now)
                _forget()
                if not ready:
                    continue
            meter = self._meters[index]
            try:
                if full:
                    meter.sweep()
                meter.update_energy()
            except OSError as error:
                self._failed(index, error)
                continue
            # the first window after init is not measured yet: no zeros passed off as values
            if self._diff(now, self._settle_at[index]) >= 0:
                fresh |= 1 << index
        if not full:
            return False
        self._last_full = now
        self._fresh = fresh
        self._fill(fresh)
        self.cycles += 1
        return fresh != 0

    def _init_chip(self, index, now):
        try:
            self._meters[index].init()
        except OSError as error:
            self._failed(index, error)
            return False
        self._ready[index] = 1
        self._retry_at[index] = None
        self._settle_at[index] = now + SETTLE_MS
        return True

    def _failed(self, index, error):
        self._ready[index] = 0
        self._retry_at[index] = self._clock() + REINIT_MS
        self.errors += 1
        self.last_error = "chip %d: %s" % (index + 1, error)
        self._note(self.last_error)

    def _note(self, message):
        if self._log is not None:
            self._log("atm90e32: " + message)

    def _fill(self, fresh):
        reading = self.reading
        reading.clear()
        roles = self._roles
        has_grid = False
        for role in roles:
            if role == _GRID:
                has_grid = True
        temperature = None
        power = reactive = imported = exported = 0  # power in hundredths (driver's centi)
        counted = False
        complete = True
        for i in range(len(roles)):
            role = roles[i]
            if role == _OFF:
                continue
            chip, phase, port = self._slots[i]
            channel = reading.channels[i]
            meter = self._meters[chip]
            channel.import_wh = meter.import_wh(phase)
            channel.export_wh = meter.export_wh(phase)
            cap = self.energy_cap.get(port) if self.energy_cap else None
            if cap:
                channel.import_wh = min(channel.import_wh, cap[0] // COUNTS_PER_WH)
                channel.export_wh = min(channel.export_wh, cap[1] // COUNTS_PER_WH)
            total = role == _GRID or not has_grid
            if total:
                counted = True
                imported += channel.import_wh
                exported += channel.export_wh
            if not fresh >> chip & 1:
                if total:
                    complete = False
                continue
            channel.voltage = meter.voltage(phase, True)
            channel.current = meter.current(phase, True)
            channel.power = meter.active_power(phase, True)
            channel.reactive_power = meter.reactive_power(phase, True)
            channel.apparent_power = meter.apparent_power(phase, True)
            channel.power_factor = meter.power_factor(phase, True)
            channel.frequency = meter.frequency(True)
            channel.temperature = meter.temperature(True)
            if reading.frequency is None:
                reading.frequency = channel.frequency
            if temperature is None or channel.temperature > temperature:
                temperature = channel.temperature
            if total:
                power += meter.power_centi(phase, 0)
                reactive += meter.power_centi(phase, 1)
        reading.temperature = temperature
        if not counted:
            return
        reading.import_wh = imported
        reading.export_wh = exported
        if complete:
            reading.power = power / 100
            reading.reactive_power = reactive / 100
            reading.import_power = power / 100 if power > 0 else 0.0
            reading.export_power = -power / 100 if power < 0 else 0.0

    def condition(self, quiet_ms=None):
        """"ok" while every chip answers, else "chip_error" (see diagnostics()/last_error)."""
        return "ok" if 0 not in self._ready else "chip_error"

    def diagnostics(self):
        """A small JSON-ready dict for the firmware's diag message."""
        retries = 0
        for meter in self._meters:
            retries += meter.write_retries
        return {
            "chips": len(self._meters),
            "chips_ready": sum(self._ready),
            "write_retries": retries,
            "cycles": self.cycles,
            "errors": self.errors,
            "last_error": self.last_error,
        }

    def energy_counters(self):
        """Every channel's lifetime energy as exact counts, keyed by channel id, JSON-ready:
        {"counts_per_wh": 320, "CT1": [import_counts, export_counts], ...}."""
        state = {"counts_per_wh": COUNTS_PER_WH}
        for chip, phase, port in self._slots:
            imported, exported = self._meters[chip].energy_counts(phase)
            state[port] = [imported, exported]
        return state
