# The firmware's ATM90E32 meter source: the board's chips on one SPI bus, read on a fixed cadence
# into one Reading (lib/reading.py), with lifetime energy, calibration and persistence.
#
#   source = Atm90e32Source(board.spi_chips(config), config["atm90e32"], reading)
#   source.poll()              # from the main loop: a read cycle whenever one is due
#   source.read()              # one read cycle now; True if the reading holds fresh values
#   source.energy_counters()   # -> {"counts_per_wh": 320, "CT1": [import, export], ...}
#   source.restore_energy(saved)               # at boot; ValueError if unusable
#   source.calibrate("CT1", voltage=231.4)     # -> {"ugain": 41230}; ValueError if refused
#
# chips: the board's spi_chips(config) list of (spi, cs, channel_ids) with one id per phase A, B,
# C ("CT1".., None for an unused phase), optionally a 4th element: a dict of driver keywords for
# that chip (board defaults: ugain, igain, uoffset, ioffset, channel_map_u).
#
# Settings: the config's "atm90e32" object: line_freq (50/60), pga_gain (1/2/4) and per channel
# ct1..ct6 {name, ugain, igain, reversed, role}; ugain/igain 0 = the board's default, else the
# chip's reset value 0x8000. A bad value never raises: its default is used and the reason is in
# `problems` (and logged). Voltage inputs shared by several phases (ChannelMapU, e.g. the CT6):
# a channel whose ugain is 0 takes the first ugain set in its voltage group, so persisting the
# calibrated channel's gain is enough.
#
# Reading channels: named like the formats expect (lib/publish_context.py): the configured name,
# or the channel id when it is empty; each channel also carries `port` (the id, "CT1"..),
# `label` (the configured name) and `role`. Role "off" channels stay all None.
# Totals: power, reactive power and lifetime energy are sums over the channels with role "grid",
# or over all active channels if none is "grid"; when a channel of that set has no value this
# cycle the total is None, never a partial sum. Energy totals add each channel's own import and
# export. Frequency: the first chip's; temperature: the hottest chip's.
#
# Cadence and the energy bound: the energy registers are 16-bit counts of 1/320 Wh (R§5.9), so
# one holds 65535 / 320 = 204.8 Wh. The largest power the chip can show on a phase is
# 655.35 V x 65.535 A = 42.9 kW (RMS register limits, R§5.1-5.2), which fills a register in
# 204.8 Wh / 42.9 kW = 17.2 s. Every read cycle reads the energy registers and the cycle interval
# is capped at ENERGY_MAX_INTERVAL_MS = 8 s, under half that bound, which leaves room for a late
# loop turn (GC, a slow publish) without a register ever wrapping.
#
# Failures: a chip that stops answering (OSError from the driver) has its channels' measurements
# None (their lifetime energy stays), is counted in `errors` / `last_error`, and is
# re-initialised REINIT_MS later. Nothing here raises OSError out of poll() or read().

from micropython import const

from atm90e32 import ATM90E32, COUNTS_PER_WH, voltage_group
from reading import Reading

DEFAULT_INTERVAL_MS = const(1000)
MIN_INTERVAL_MS = const(250)  # the chip's registers change every ~320 ms (R§6.1)
ENERGY_MAX_INTERVAL_MS = const(8000)  # see the energy bound above
SETTLE_MS = const(400)  # after init the measurement registers read 0 for one ~320 ms window
REINIT_MS = const(10000)  # a failed chip is tried again this long after its failure
CALIBRATION_SAMPLES = const(4)
CALIBRATION_INTERVAL_MS = const(350)

ROLES = ("grid", "load", "solar", "off")
DEFAULT_ROLE = "grid"  # as the config schema's default
_DRIVER_OPTIONS = ("ugain", "igain", "uoffset", "ioffset", "channel_map_u")


def _clock_pair():
    from clock import ticks_diff, ticks_ms

    return ticks_ms, ticks_diff


def _subtract(a, b):
    return a - b


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return (isinstance(value, int) or isinstance(value, float)) and not isinstance(value, bool)


class _ChannelSettings:
    def __init__(self):
        self.label = ""
        self.ugain = 0
        self.igain = 0
        self.reverse = False
        self.role = DEFAULT_ROLE


class _Slot:
    """One Reading channel: where it is measured and how it is configured."""

    def __init__(self, chip, phase, port):
        self.chip = chip
        self.phase = phase
        self.port = port  # the board's channel id, "CT1"..; keys settings and saved energy
        self.settings = _ChannelSettings()
        self.channel = None  # its Channel in the Reading


class Atm90e32Source:
    def __init__(
        self,
        chips,
        settings=None,
        reading=None,
        interval_ms=DEFAULT_INTERVAL_MS,
        clock=None,
        clock_diff=None,
        sleep_ms=None,
        log=None,
    ):
        if clock is None:
            clock, clock_diff = _clock_pair()
        self._clock = clock
        self._diff = clock_diff or _subtract
        self._sleep_ms = sleep_ms
        self._log = log
        self.interval_ms = min(max(int(interval_ms), MIN_INTERVAL_MS), ENERGY_MAX_INTERVAL_MS)
        self._chips = []
        self._options = []
        self._slots = []
        for index in range(len(chips)):
            entry = chips[index]
            self._chips.append((entry[0], entry[1], tuple(entry[2])))
            options = {}
            if len(entry) > 3 and entry[3]:
                for key in entry[3]:
                    if key not in _DRIVER_OPTIONS:
                        raise ValueError("board option %r is not an ATM90E32 setting" % key)
                options = dict(entry[3])
            self._options.append(options)
            for phase in range(3):
                port = entry[2][phase] if phase < len(entry[2]) else None
                if port is not None:
                    self._slots.append(_Slot(index, phase, port))
        self.reading = reading if reading is not None else Reading("atm90e32")
        count = len(self._chips)
        self._meters = [None] * count
        self._ready = [False] * count
        self._fresh = [False] * count  # read without error in the current cycle
        self._retry_at = [None] * count  # before this clock value a failed chip is left alone
        self._settle_at = [0] * count
        self._gains = [None] * count  # (ugain, igain) lists each meter was built with
        self._line_freq = None
        self._pga_gain = None
        self.problems = []  # what was wrong with the settings last applied
        self.errors = 0  # chip failures (init or read) since start
        self.last_error = None
        self.last_calibration = None  # every channel a calibrate() changed, config-shaped
        self.cycles = 0
        self._last_read = None
        self.apply_settings(settings)

    @classmethod
    def from_board(cls, board, config, reading=None, **kwargs):
        return cls(board.spi_chips(config), config.get("atm90e32"), reading, **kwargs)

    # --- settings ---

    def apply_settings(self, settings):
        """Take a (new) atm90e32 settings object. Names, roles and reversed flags apply at once;
        a change of line frequency, PGA or gains rebuilds the chip's driver (pending energy is
        collected first, lifetime counters carry over) and re-initialises the chip on the next
        cycle. Returns the list of problems (empty when all was valid)."""
        problems = []
        if settings is None:
            settings = {}
        if not isinstance(settings, dict):
            problems.append("atm90e32 settings must be an object")
            settings = {}
        line_freq = settings.get("line_freq", 50)
        if not _is_int(line_freq) or line_freq not in (50, 60):
            problems.append("line_freq must be 50 or 60; using 50")
            line_freq = 50
        pga_gain = settings.get("pga_gain", 1)
        if not _is_int(pga_gain) or pga_gain not in (1, 2, 4):
            problems.append("pga_gain must be 1, 2 or 4; using 1")
            pga_gain = 1
        names = []
        for slot in self._slots:
            raw = settings.get(slot.port.lower())
            slot.settings = self._parse_channel(slot.port, raw, problems)
            name = slot.settings.label or slot.port
            if name in names:
                problems.append("%s: name %r is taken; using %s" % (slot.port.lower(), name,
                                                                    slot.port))
                name = slot.port
            names.append(name)
        rebuild = line_freq != self._line_freq or pga_gain != self._pga_gain
        self._line_freq = line_freq
        self._pga_gain = pga_gain
        for index in range(len(self._chips)):
            gains = self._chip_gains(index)
            if rebuild or gains != self._gains[index]:
                self._build_meter(index, gains)
        self.reading.set_channels(names)
        for i in range(len(self._slots)):
            slot = self._slots[i]
            self._meters[slot.chip].set_reversed(slot.phase, slot.settings.reverse)
            slot.channel = self.reading.channels[i]
            slot.channel.port = slot.port
            slot.channel.label = slot.settings.label
            slot.channel.role = slot.settings.role
        self.problems = problems
        for problem in problems:
            self._note(problem)
        return problems

    def _parse_channel(self, port, raw, problems):
        result = _ChannelSettings()
        key = port.lower()
        if raw is None:
            return result
        if not isinstance(raw, dict):
            problems.append("%s: settings must be an object" % key)
            return result
        label = raw.get("name", "")
        if isinstance(label, str):
            result.label = label
        else:
            problems.append("%s.name must be a string" % key)
        for gain in ("ugain", "igain"):
            value = raw.get(gain, 0)
            if _is_int(value) and 0 <= value <= 0xFFFF:
                setattr(result, gain, value)
            else:
                problems.append("%s.%s must be an int 0..65535" % (key, gain))
        reverse = raw.get("reversed", False)
        if isinstance(reverse, bool):
            result.reverse = reverse
        else:
            problems.append("%s.reversed must be true or false" % key)
        role = raw.get("role", DEFAULT_ROLE)
        if role in ROLES:
            result.role = role
        else:
            problems.append("%s.role must be one of grid, load, solar, off" % key)
        return result

    def _chip_gains(self, index):
        """Per-phase (ugain, igain) for chip `index`: configured, else the voltage group's
        first configured ugain, else the board's default, else the chip's reset value."""
        options = self._options[index]
        configured_u = [0, 0, 0]
        configured_i = [0, 0, 0]
        for slot in self._slots:
            if slot.chip == index:
                configured_u[slot.phase] = slot.settings.ugain
                configured_i[slot.phase] = slot.settings.igain
        ugain = []
        igain = []
        for phase in range(3):
            u = configured_u[phase]
            if not u:
                for other in voltage_group(options.get("channel_map_u"), phase):
                    if configured_u[other]:
                        u = configured_u[other]
                        break
            ugain.append(u or _option(options, "ugain", phase))
            igain.append(configured_i[phase] or _option(options, "igain", phase))
        return ugain, igain

    def _build_meter(self, index, gains):
        spi, cs, _ = self._chips[index]
        old = self._meters[index]
        if old is not None and self._ready[index]:
            try:
                old.update_energy()  # collect what the chip counted before it is reset
            except OSError as error:
                self._failed(index, error)
        kwargs = {}
        for key in ("uoffset", "ioffset", "channel_map_u"):
            if key in self._options[index]:
                kwargs[key] = self._options[index][key]
        meter = ATM90E32(
            spi,
            cs,
            line_freq=self._line_freq,
            pga_gain=self._pga_gain,
            ugain=gains[0],
            igain=gains[1],
            sleep_ms=self._sleep_ms,
            **kwargs,
        )
        if old is not None:
            for phase in range(3):
                imported, exported = old.energy_counts(phase)
                meter.seed_energy(phase, imported, exported)
        self._meters[index] = meter
        self._gains[index] = gains
        self._ready[index] = False
        self._retry_at[index] = None

    # --- cycle ---

    def start(self):
        """Initialise every chip now; True if all answered (read() retries the others)."""
        ok = True
        now = self._clock()
        for index in range(len(self._chips)):
            ok = self._init_chip(index, now) and ok
        return ok

    def poll(self):
        """Run a read cycle if one is due (every interval_ms). True if it ran."""
        now = self._clock()
        if self._last_read is not None and self._diff(now, self._last_read) < self.interval_ms:
            return False
        self.read()
        return True

    def read(self):
        """One cycle over every chip: liveness, measurement registers, energy registers, then
        the Reading. True if at least one chip gave fresh values (see `errors`/`last_error`
        for the others). Never raises OSError."""
        now = self._clock()
        self._last_read = now
        any_fresh = False
        for index in range(len(self._chips)):
            self._fresh[index] = False
            if not self._ready[index]:
                retry_at = self._retry_at[index]
                if retry_at is not None and self._diff(now, retry_at) < 0:
                    continue
                if not self._init_chip(index, now):
                    continue
            meter = self._meters[index]
            try:
                meter.sweep()
                meter.update_energy()
            except OSError as error:
                self._failed(index, error)
                continue
            # the first window after init is not measured yet: no zeros passed off as values
            self._fresh[index] = self._diff(now, self._settle_at[index]) >= 0
            any_fresh = any_fresh or self._fresh[index]
        self._fill()
        self.cycles += 1
        return any_fresh

    def _init_chip(self, index, now):
        try:
            self._meters[index].init()
        except OSError as error:
            self._failed(index, error)
            return False
        self._ready[index] = True
        self._retry_at[index] = None
        self._settle_at[index] = now + SETTLE_MS
        return True

    def _failed(self, index, error):
        self._ready[index] = False
        self._retry_at[index] = self._clock() + REINIT_MS
        self.errors += 1
        self.last_error = "chip %d: %s" % (index + 1, error)
        self._note(self.last_error)

    def _note(self, message):
        if self._log is not None:
            self._log("atm90e32: " + message)

    def _fill(self):
        reading = self.reading
        reading.clear()
        temperature = None
        for slot in self._slots:
            if slot.settings.role == "off":
                continue
            channel = slot.channel
            meter = self._meters[slot.chip]
            phase = slot.phase
            channel.import_wh = meter.import_wh(phase)
            channel.export_wh = meter.export_wh(phase)
            if not self._fresh[slot.chip]:
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
        reading.temperature = temperature
        self._totals()

    def _totals(self):
        reading = self.reading
        has_grid = False
        for slot in self._slots:
            if slot.settings.role == "grid":
                has_grid = True
        power = reactive = 0  # hundredths of a W / var, summed exactly, divided once
        imported = exported = 0
        counted = False
        complete = energy_complete = True
        for slot in self._slots:
            role = slot.settings.role
            if role == "off" or (has_grid and role != "grid"):
                continue
            counted = True
            channel = slot.channel
            if channel.power is None:
                complete = False
            else:
                meter = self._meters[slot.chip]
                power += meter.power_centi(slot.phase, 0)
                reactive += meter.power_centi(slot.phase, 1)
            if channel.import_wh is None:
                energy_complete = False
            else:
                imported += channel.import_wh
                exported += channel.export_wh
        if counted and complete:
            reading.power = power / 100
            reading.reactive_power = reactive / 100
            reading.import_power = power / 100 if power > 0 else 0.0
            reading.export_power = -power / 100 if power < 0 else 0.0
        if counted and energy_complete:
            reading.import_wh = imported
            reading.export_wh = exported

    def condition(self, quiet_ms=None):
        """"ok" while every chip answers, else "chip_error" (see diagnostics()/last_error)."""
        for ready in self._ready:
            if not ready:
                return "chip_error"
        return "ok"

    def diagnostics(self):
        """A small JSON-ready dict for the firmware's diag message."""
        ready = retries = 0
        for index in range(len(self._chips)):
            if self._ready[index]:
                ready += 1
            retries += self._meters[index].write_retries
        return {
            "chips": len(self._chips),
            "chips_ready": ready,
            "write_retries": retries,
            "cycles": self.cycles,
            "errors": self.errors,
            "last_error": self.last_error,
            "problems": len(self.problems),
        }

    # --- energy persistence ---

    def energy_counters(self):
        """Every channel's lifetime energy as exact counts, keyed by channel id, JSON-ready:
        {"counts_per_wh": 320, "CT1": [import_counts, export_counts], ...}."""
        state = {"counts_per_wh": COUNTS_PER_WH}
        for slot in self._slots:
            imported, exported = self._meters[slot.chip].energy_counts(slot.phase)
            state[slot.port] = [imported, exported]
        return state

    def restore_energy(self, state):
        """Seed the lifetime counters from a saved energy_counters() (at boot). All or nothing:
        ValueError with the reason (and nothing changed) for a state that does not fit; returns
        the ids restored. Channels the state does not mention keep their counters; channels this
        board does not have (an add-on chip switched off) are skipped, not fatal: the firmware
        keeps their saved counters for when they come back."""
        if not isinstance(state, dict):
            raise ValueError("energy state must be an object")
        if state.get("counts_per_wh") != COUNTS_PER_WH:
            raise ValueError("energy state counts %r per Wh, expected %d"
                             % (state.get("counts_per_wh"), COUNTS_PER_WH))
        todo = []
        for key in state:
            if key == "counts_per_wh":
                continue
            slot = self._slot(key)
            if slot is None:
                continue
            pair = state[key]
            if (
                not isinstance(pair, (list, tuple))
                or len(pair) != 2
                or not _is_int(pair[0])
                or not _is_int(pair[1])
                or pair[0] < 0
                or pair[1] < 0
            ):
                raise ValueError("energy state for %s must be [import, export] counts >= 0" % key)
            todo.append((slot, pair[0], pair[1]))
        for slot, imported, exported in todo:
            self._meters[slot.chip].seed_energy(slot.phase, imported, exported)
        return [slot.port for slot, _, _ in todo]

    def reset_energy(self):
        """Zero every lifetime counter (the reset_energy command)."""
        for slot in self._slots:
            self._meters[slot.chip].clear_energy(slot.phase)

    def _slot(self, port):
        if isinstance(port, str):
            for slot in self._slots:
                if slot.port.lower() == port.lower():
                    return slot
        return None

    # --- calibration ---

    def calibrate(self, channel, voltage=None, current=None):
        """Calibrate a channel (its id, "CT1"..) against a reference meter reading, R§8: new
        gain = reference / measured x current gain, the measurement averaged over
        CALIBRATION_SAMPLES windows. Exactly one of voltage (V) or current (A). Returns the
        channel's new gain, {"ugain": n} or {"igain": n}, for the firmware to persist as
        atm90e32.<channel>; a voltage gain also goes to every channel measured from the same
        voltage input, and `last_calibration` lists all changed channels config-shaped
        ({"ct1": {"ugain": n}, "ct2": ...}). ValueError if refused (nothing written then),
        OSError if the chip stops answering."""
        slot = self._slot(channel)
        if slot is None:
            raise ValueError("no channel %r on this board" % (channel,))
        if (voltage is None) == (current is None):
            raise ValueError("give exactly one reference: voltage or current")
        reference = voltage if current is None else current
        if not _is_number(reference):
            raise ValueError("the reference must be a number")
        if voltage is not None and not 10.0 <= reference <= 600.0:
            raise ValueError("reference voltage must be 10..600 V")
        if current is not None and not 0.05 <= reference <= 65.0:
            raise ValueError("reference current must be 0.05..65 A")
        if slot.settings.role == "off":
            raise ValueError("%s is off" % slot.port)
        if not self._ready[slot.chip]:
            raise ValueError("the chip of %s is not answering (%s)" % (slot.port, self.last_error))
        meter = self._meters[slot.chip]
        try:
            if voltage is not None:
                key = "ugain"
                gain = meter.calibrate_voltage(
                    slot.phase, reference, CALIBRATION_SAMPLES, CALIBRATION_INTERVAL_MS
                )
                phases = meter.voltage_group(slot.phase)
            else:
                key = "igain"
                gain = meter.calibrate_current(
                    slot.phase, reference, CALIBRATION_SAMPLES, CALIBRATION_INTERVAL_MS
                )
                phases = (slot.phase,)
        except ValueError as error:
            raise ValueError("%s: %s" % (slot.port, error)) from None
        except OSError as error:
            self._failed(slot.chip, error)
            raise
        changed = {}
        for other in self._slots:
            if other.chip == slot.chip and other.phase in phases:
                setattr(other.settings, key, gain)
                changed[other.port.lower()] = {key: gain}
        # the driver already runs with these gains: no rebuild when the config comes back
        self._gains[slot.chip] = self._chip_gains(slot.chip)
        self.last_calibration = changed
        return {key: gain}


def _option(options, key, phase):
    value = options.get(key)
    if value is None:
        return 0x8000
    return value if _is_int(value) else value[phase]
