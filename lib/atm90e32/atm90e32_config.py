# The rarely run half of the ATM90E32 source (lib/atm90e32/atm90e32_source.py): building it from
# the board's chip list, applying settings, restoring and resetting energy, calibration. The source
# imports this module for each of these and drops it again, so its code holds no heap while the
# chips are only read. Settings rules are described in atm90e32_source.py.

from atm90e32_setup import input_group
from micropython import const
from reading import Reading

ROLES = ("grid", "load", "solar", "off")  # a channel's role code in the source's _roles: index
_DRIVER_OPTIONS = ("ugain", "igain", "uoffset", "ioffset", "channel_map_u")
_COUNTS_PER_WH = const(320)  # atm90e32.COUNTS_PER_WH (not imported: no import cycle)
_CALIBRATION_SAMPLES = const(4)  # one measurement per ~320 ms window, 350 ms apart
_CALIBRATION_INTERVAL_MS = const(350)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _subtract(a, b):
    return a - b


def build(source, chips, settings):
    """Atm90e32Source.__init__: the chips, their channels (slots), then the settings (which
    build each chip's driver and initialise the chip)."""
    if source._clock is None:
        from clock import ticks_diff, ticks_ms

        source._clock = ticks_ms
        source._diff = ticks_diff
    elif source._diff is None:
        source._diff = _subtract
    buses = []  # per chip: (spi, cs, board options)
    slots = []  # per channel: (chip index, phase, channel id)
    for index in range(len(chips)):
        entry = chips[index]
        options = {}
        if len(entry) > 3 and entry[3]:
            for key in entry[3]:
                if key not in _DRIVER_OPTIONS:
                    raise ValueError("board option %r is not an ATM90E32 setting" % key)
            options = dict(entry[3])
        buses.append((entry[0], entry[1], options))
        ports = entry[2]
        for phase in range(3):
            port = ports[phase] if phase < len(ports) else None
            if port is not None:
                slots.append((index, phase, port))
    count = len(buses)
    source._buses = buses
    source._slots = slots
    source._roles = bytearray(len(slots))  # index into ROLES
    source._labels = [""] * len(slots)
    source._gains = [0] * (2 * len(slots))  # configured ugain, igain per channel (0 = default)
    source._meters = [None] * count
    source._ready = [0] * count
    source._retry_at = [None] * count  # before this clock value a failed chip is left alone
    source._settle_at = [0] * count
    source._chip_gains = [None] * count  # (ugain, igain) lists each meter was built with
    source._line_freq = None
    source._pga_gain = None
    if source.reading is None:
        source.reading = Reading("atm90e32")
    apply_settings(source, settings)


def apply_settings(source, settings):
    """Atm90e32Source.apply_settings: `settings` is the config's "atm90e32" object, validated
    by the config schema (lib/config/config_schema.py); a key it lacks takes the schema's
    default."""
    if settings is None:
        settings = {}
    line_freq = settings.get("line_freq", 50)
    pga_gain = settings.get("pga_gain", 1)
    names = []
    reverse = []
    for i in range(len(source._slots)):
        port = source._slots[i][2]
        reverse.append(_take_channel(source, i, settings.get(port.lower()) or {}))
        # the channel is named by its port, always: topics, state keys and Home Assistant ids
        # stay when the user renames it (the name is the channel's label only)
        names.append(port)
    rebuild = line_freq != source._line_freq or pga_gain != source._pga_gain
    source._line_freq = line_freq
    source._pga_gain = pga_gain
    built = []
    for index in range(len(source._buses)):
        gains = chip_gains(source, index)
        if rebuild or gains != source._chip_gains[index]:
            _build_meter(source, index, gains)
            built.append(index)
    reading = source.reading
    reading.set_channels(names)
    for i in range(len(source._slots)):
        chip, phase, port = source._slots[i]
        source._meters[chip].set_reversed(phase, reverse[i])
        channel = reading.channels[i]
        channel.port = port
        channel.label = source._labels[i]
        channel.role = ROLES[source._roles[i]]
    # the grid's phases (reading.py): the "grid" channels in port order, at most three (a
    # split-phase board's two legs are L1 and L2)
    reading.grid = [channel for channel in reading.channels if channel.role == ROLES[0]][:3]
    # the chips are initialised (now, while the set-up code is loaded) after every driver is
    # built, so that the drivers' long-lived objects lie together in the heap
    for index in built:
        source._init_chip(index, source._clock())


def _take_channel(source, i, channel):
    """Channel i's settings (its "ctN" object) into the source's tables; returns its reversed
    flag."""
    source._labels[i] = channel.get("name", "")
    source._gains[2 * i] = channel.get("ugain", 0)
    source._gains[2 * i + 1] = channel.get("igain", 0)
    source._roles[i] = ROLES.index(channel.get("role", ROLES[0]))
    return channel.get("reversed", False)


def chip_gains(source, index):
    """Per-phase (ugain, igain) for chip `index`: configured, else the voltage group's first
    configured ugain, else the board's default, else the chip's reset value."""
    options = source._buses[index][2]
    configured_u = [0, 0, 0]
    configured_i = [0, 0, 0]
    for i in range(len(source._slots)):
        chip, phase, _ = source._slots[i]
        if chip == index:
            configured_u[phase] = source._gains[2 * i]
            configured_i[phase] = source._gains[2 * i + 1]
    ugain = []
    igain = []
    for phase in range(3):
        u = configured_u[phase]
        if not u:
            for other in input_group(options.get("channel_map_u"), phase):
                if configured_u[other]:
                    u = configured_u[other]
                    break
        ugain.append(u or _option(options, "ugain", phase))
        igain.append(configured_i[phase] or _option(options, "igain", phase))
    return ugain, igain


def _option(options, key, phase):
    value = options.get(key)
    if value is None:
        return 0x8000
    return value if _is_int(value) else value[phase]


def _build_meter(source, index, gains):
    spi, cs, options = source._buses[index]
    old = source._meters[index]
    if old is not None and source._ready[index]:
        try:
            old.update_energy()  # collect what the chip counted before it is reset
        except OSError as error:
            source._failed(index, error)
    kwargs = {}
    for key in ("uoffset", "ioffset", "channel_map_u"):
        if key in options:
            kwargs[key] = options[key]
    meter = source._driver(spi, cs, line_freq=source._line_freq, pga_gain=source._pga_gain,
                     ugain=gains[0], igain=gains[1], sleep_ms=source._sleep_ms, **kwargs)
    if old is not None:
        for phase in range(3):
            imported, exported = old.energy_counts(phase)
            meter.seed_energy(phase, imported, exported)
    source._meters[index] = meter
    source._chip_gains[index] = gains
    source._ready[index] = 0
    source._retry_at[index] = None


def _slot(source, port):
    if isinstance(port, str):
        for i in range(len(source._slots)):
            if source._slots[i][2].lower() == port.lower():
                return i
    return None


def restore_energy(source, state):
    if not isinstance(state, dict):
        raise ValueError("energy state must be an object")
    if state.get("counts_per_wh") != _COUNTS_PER_WH:
        raise ValueError("energy state counts %r per Wh, expected %d"
                         % (state.get("counts_per_wh"), _COUNTS_PER_WH))
    todo = []
    for key in state:
        if key == "counts_per_wh":
            continue
        i = _slot(source, key)
        if i is None:
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
        todo.append((i, pair[0], pair[1]))
    restored = []
    for i, imported, exported in todo:
        chip, phase, port = source._slots[i]
        source._meters[chip].seed_energy(phase, imported, exported)
        restored.append(port)
    return restored


def reset_energy(source):
    for chip, phase, _ in source._slots:
        source._meters[chip].clear_energy(phase)


def _is_number(value):
    return (isinstance(value, int) or isinstance(value, float)) and not isinstance(value, bool)


def calibrate(source, channel, voltage, current, write=True, max_change=None):
    """Atm90e32Source.calibrate (docs/atm90e32.md §10.1: new gain = reference / measured x
    current gain, the measurement averaged over _CALIBRATION_SAMPLES windows)."""
    i = _slot(source, channel)
    if i is None:
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
    chip, phase, port = source._slots[i]
    if source._roles[i] == ROLES.index("off"):
        raise ValueError("%s is off" % port)
    if not source._ready[chip]:
        raise ValueError("the chip of %s is not answering (%s)" % (port, source.last_error))
    meter = source._meters[chip]
    g = 0 if voltage is not None else 1
    try:
        if voltage is not None:
            gain = meter.calibrate_voltage(phase, reference, _CALIBRATION_SAMPLES,
                                           _CALIBRATION_INTERVAL_MS, write, max_change)
            phases = meter.voltage_group(phase)
        else:
            gain = meter.calibrate_current(phase, reference, _CALIBRATION_SAMPLES,
                                           _CALIBRATION_INTERVAL_MS, write, max_change)
            phases = (phase,)
    except ValueError as error:
        raise ValueError("%s: %s" % (port, error)) from None
    except OSError as error:
        source._failed(chip, error)
        raise
    key = ("ugain", "igain")[g]
    changed = {}
    for j in range(len(source._slots)):
        other_chip, other_phase, other_port = source._slots[j]
        if other_chip == chip and other_phase in phases:
            if write:
                source._gains[2 * j + g] = gain
            changed[other_port.lower()] = {key: gain}
    if write:
        # the driver already runs with these gains: no rebuild when the config comes back
        source._chip_gains[chip] = chip_gains(source, chip)
    source.last_calibration = changed
    return {key: gain}
