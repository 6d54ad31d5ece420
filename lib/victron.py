# The JSON of mr-manuel/venus-os_dbus-mqtt-grid, which turns one MQTT topic into a Victron grid
# meter on Venus OS. Shape and rules: its README, config.sample.ini and dbus-mqtt-grid.py:
# - root key always "grid"; "power" (W, + import) is the one required member;
#   "voltage" V, "current" A, "energy_forward" / "energy_reverse" kWh lifetime;
# - "L1".."L3" objects with power, voltage, current, frequency, power_factor, energy_forward,
#   energy_reverse; a phase counts only if it has "power", and the phases the driver sees in its
#   first message are the ones it sets up (a phase appearing later makes it restart);
# - power_threshold_per_phase = 23000 W (3x for the total): the driver drops values beyond it,
#   so they are left out here;
# - the driver exits after 60 s without a message: the firmware publishes at least that often.
# The phases are grid.grid_phases(): L1..L3 of a HAN meter or the "grid" CT channels.
from json_writer import is_number
from grid import grid_energy, grid_phases, net_power

PHASE_LIMIT_W = 23000
TOTAL_LIMIT_W = 3 * PHASE_LIMIT_W


def _within(power, limit):
    return is_number(power) and -limit <= power <= limit


def _phase_summary(phases):
    """(mean voltage, summed current) over the phases, None where a phase lacks the value."""
    volts = 0.0
    n_volts = 0
    amps = 0.0
    n_amps = 0
    for _label, channel in phases:
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


def write(reading, ctx):
    """The payload, or None when the reading has no total power (the one required value)."""
    phases = grid_phases(reading, ctx)
    power = net_power(reading, phases)
    if not _within(power, TOTAL_LIMIT_W):
        return None
    voltage, current = _phase_summary(phases)
    writer = ctx.writer
    writer.begin()
    writer.begin_object(b"grid")
    writer.number(b"power", power)
    writer.number(b"voltage", voltage)
    writer.number(b"current", current)
    _write_kwh(writer, b"energy_forward", grid_energy(reading, phases, "import_wh"))
    _write_kwh(writer, b"energy_reverse", grid_energy(reading, phases, "export_wh"))
    for label, channel in phases:
        if not _within(channel.power, PHASE_LIMIT_W):
            continue
        writer.begin_object(label)
        writer.number(b"power", channel.power)
        writer.number(b"voltage", channel.voltage)
        writer.number(b"current", channel.current)
        # the line frequency is one value for all phases on most meters
        if not writer.number(b"frequency", channel.frequency):
            writer.number(b"frequency", reading.frequency)
        writer.number(b"power_factor", channel.power_factor)
        _write_kwh(writer, b"energy_forward", channel.import_wh)
        _write_kwh(writer, b"energy_reverse", channel.export_wh)
        writer.end()
    writer.end()
    writer.end()
    return writer.payload()


def messages(reading, ctx):
    """Yields (victron topic, payload, retain=False), or nothing without a total power."""
    payload = write(reading, ctx)
    if payload is not None:
        yield ctx.victron_topic, payload, False
