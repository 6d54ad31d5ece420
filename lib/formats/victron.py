# The JSON of mr-manuel/venus-os_dbus-mqtt-grid, which turns one MQTT topic into a Victron grid
# meter on Venus OS. Shape and rules: its README, config.sample.ini and dbus-mqtt-grid.py:
# - root key always "grid"; "power" (W, + import) is the one required member;
#   "voltage" V, "current" A, "energy_forward" / "energy_reverse" kWh lifetime;
# - "L1".."L3" objects with power, voltage, current, frequency, power_factor, energy_forward,
#   energy_reverse; a phase counts only if it has "power";
# - power_threshold_per_phase = 23000 W (3x for the total): the driver drops values beyond it,
#   so a phase power beyond it is replaced by the share below, and a total beyond it sends
#   nothing;
# - the driver exits after 60 s without a message: the firmware publishes at least that often;
# - a phase object without energy_forward/energy_reverse is read as 0 kWh: per-phase energy is
#   sent only where the meter counts it (the driver's 0 is then its own default, not ours).
# The grid's phases, net power and energy are the source's (reading.grid, reading.power,
# reading.import_wh / export_wh: reading.py); this module renders them and works out none.
# Phases: the driver creates its phase paths from the *first* message it gets and ignores phases
# that appear later, so every message carries every phase from the first one on. ctx.grid_phases
# is the phase count, learnt once (app.py: the first reading with per-phase values, or the
# ATM90E32 board's "grid" channels) and kept in flash; until it is known nothing is published.
# Each phase object has the driver's one required member, power: the phase's own when this push
# gives it; when it does not (a HAN meter's short list carries the total only) the net power
# split evenly over the phases, the one estimate whose phases still add up to the total. Voltage,
# current, frequency and power factor only as measured (the driver has its own defaults).
# Numbers are rounded to their quantity's resolution (quantities.QUANTITIES).
from json_writer import is_number
from quantities import QUANTITIES, quantity

PHASE_LIMIT_W = 23000
TOTAL_LIMIT_W = 3 * PHASE_LIMIT_W
_PHASE_LABELS = ("L1", "L2", "L3")


def _within(power, limit):
    return is_number(power) and -limit <= power <= limit


def _phase_summary(phases):
    """(mean voltage, summed current) over the phases, None where a phase lacks the value."""
    volts = 0.0
    n_volts = 0
    amps = 0.0
    n_amps = 0
    for channel in phases:
        if is_number(channel.voltage):
            volts += channel.voltage
            n_volts += 1
        if is_number(channel.current):
            amps += channel.current
            n_amps += 1
    voltage = volts / n_volts if n_volts else None
    # a sum over some phases only would understate the current: all or nothing
    current = amps if n_amps and n_amps == len(phases) else None
    return voltage, current


def _write_kwh(writer, key, wh):
    # kWh as an exact decimal of the integer Wh counter (no float rounding on the boards)
    if type(wh) is int and wh >= 0:
        writer.fixed3(key, wh)


def _decimals(key):
    return quantity(key)[5]  # dec


def _write_phase(writer, reading, channel, power):
    """One L<n> object: its members are the quantities with a dbus-mqtt-grid key."""
    for name, attr, unit, _scope, _cls, dec, _tbit, _cbit, _ct6, key in QUANTITIES:
        if not key:
            continue
        if name == "p":
            writer.quantity(key, power, dec)
            continue
        if channel is None:
            continue
        value = getattr(channel, attr, None)
        if unit == "Wh":  # lifetime energy: kWh for the driver
            _write_kwh(writer, key, value)
        elif not writer.quantity(key, value, dec) and name == "f":
            # the line frequency is one value for all phases on most meters
            writer.quantity(key, reading.frequency, dec)


def write(reading, ctx):
    """The payload, or None before the phase count is known or when the reading has no total
    power (the one required value)."""
    count = ctx.grid_phases
    if count is None:
        return None
    phases = reading.grid
    power = reading.power
    if not _within(power, TOTAL_LIMIT_W):
        return None
    voltage, current = _phase_summary(phases)
    writer = ctx.writer
    writer.begin()
    writer.begin_object(b"grid")
    writer.quantity(b"power", power, _decimals("p"))
    writer.quantity(b"voltage", voltage, _decimals("u"))
    writer.quantity(b"current", current, _decimals("i"))
    _write_kwh(writer, b"energy_forward", reading.import_wh)
    _write_kwh(writer, b"energy_reverse", reading.export_wh)
    for index in range(min(count, 3)):
        channel = phases[index] if index < len(phases) else None
        writer.begin_object(_PHASE_LABELS[index])
        if channel is not None and _within(channel.power, PHASE_LIMIT_W):
            _write_phase(writer, reading, channel, channel.power)
        else:
            _write_phase(writer, reading, channel, power / count)
        writer.end()
    writer.end()
    writer.end()
    return writer.payload()


def messages(reading, ctx):
    """Yields (victron topic, payload, retain=False), or nothing (see write())."""
    payload = write(reading, ctx)
    if payload is not None:
        yield ctx.victron_topic, payload, False
