# Tasmota's Smart Meter Interface telemetry, the shape evcc, ioBroker and dbus-mqtt-grid read:
# tele/<topic>/SENSOR = {"Time":"YYYY-MM-DDTHH:MM:SS","<prefix>":{...}} (tasmota docs
# Smart-Meter-Interface, evcc meter/tasmota). Names are the conventional
# ones evcc expects under the "SML" prefix: Total_in / Total_out (kWh), Power_curr (W, signed:
# negative = export), Meter_Id, power_l1..3 (W), voltage_l1..3 (V), current_l1..3 (A).
# The phases are grid.grid_phases(): L1..L3 of a HAN meter or the "grid" CT channels.
# Tasmota's "Time" is the device's local time; this reader knows UTC only (the reading's Unix
# timestamp), and without a timestamp it passes on the meter's own clock when it has one.
from civil_time import iso_utc
from grid import grid_energy, grid_phases, net_power

_PHASE_KEYS = {
    "L1": (b"power_l1", b"voltage_l1", b"current_l1"),
    "L2": (b"power_l2", b"voltage_l2", b"current_l2"),
    "L3": (b"power_l3", b"voltage_l3", b"current_l3"),
}


def _time(reading):
    if type(reading.timestamp) is int and reading.timestamp >= 0:
        return iso_utc(reading.timestamp)
    meter_time = reading.meter_time
    # "2024-05-01T12:00:05" (+ optional zone): keep the part Tasmota's shape has
    if type(meter_time) is str and len(meter_time) >= 19 and meter_time[10] == "T":
        return meter_time[:19]
    return None


def _write_kwh(writer, key, wh):
    if type(wh) is int and wh >= 0:
        writer.fixed3(key, wh)


def write(reading, ctx):
    writer = ctx.writer
    writer.begin()
    writer.string(b"Time", _time(reading))
    writer.begin_object(ctx.tasmota_prefix)
    phases = grid_phases(reading, ctx)
    # exact kWh from the integer Wh counters
    _write_kwh(writer, b"Total_in", grid_energy(reading, phases, "import_wh"))
    _write_kwh(writer, b"Total_out", grid_energy(reading, phases, "export_wh"))
    writer.number(b"Power_curr", net_power(reading, phases))
    writer.string(b"Meter_Id", reading.meter_id)
    for label, channel in phases:
        phase_keys = _PHASE_KEYS[label]
        writer.number(phase_keys[0], channel.power)
        writer.number(phase_keys[1], channel.voltage)
        writer.number(phase_keys[2], channel.current)
    writer.end()
    writer.end()
    return writer.payload()


def messages(reading, ctx):
    """Yields (tele/<topic>/SENSOR, payload, retain=False)."""
    yield ctx.tasmota_topic, write(reading, ctx), False
