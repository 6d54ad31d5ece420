# Tasmota's Smart Meter Interface telemetry as dbus-mqtt-grid's Tasmota mode reads it (the
# Victron grid-meter set-up this format is for): tele/<topic>/SENSOR =
#   {"Time":"YYYY-MM-DDTHH:MM:SS","<tasmota.prefix>":{"power":W,"power_L1":W,..,
#    "energy_forward":kWh,"energy_reverse":kWh}}
# The driver needs the meter's JSON object to be named "grid" (tasmota.prefix, default "grid")
# and reads exactly these keys (its README: power, power_L1..power_L3 in W, energy_forward /
# energy_reverse in kWh); anything else in the object is noise to it, so nothing else is sent.
# - power: the net grid power, signed (+ import), W (reading.power);
# - power_L<n>: a grid phase's power, for each phase this push gives one for (reading.grid:
#   L1..L3 of a HAN meter, or the "grid" CT channels);
# - energy_forward / energy_reverse: the grid's lifetime counters (reading.import_wh /
#   export_wh), kWh with 3 decimals written exactly from the integer Wh (no float on the boards).
# The source works these out (reading.py); this module only renders them.
# Keys and resolutions come from the quantity table (quantities.QUANTITIES, column grid).
# Tasmota's "Time" is the device's local time; this reader knows UTC only (the reading's Unix
# timestamp), and without a timestamp it passes on the meter's own clock when it has one.
from civil_time import iso_utc
from quantities import quantity

_PHASE_KEYS = ("power_L1", "power_L2", "power_L3")


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
    decimals = quantity("p")[5]  # dec: the resolution of W
    writer.begin()
    writer.string(b"Time", _time(reading))
    writer.begin_object(ctx.tasmota_prefix)
    writer.quantity(quantity("p")[9], reading.power, decimals)  # grid key
    phases = reading.grid
    for index in range(min(len(phases), 3)):
        writer.quantity(_PHASE_KEYS[index], phases[index].power, decimals)
    _write_kwh(writer, quantity("e_imp")[9], reading.import_wh)
    _write_kwh(writer, quantity("e_exp")[9], reading.export_wh)
    writer.end()
    writer.end()
    return writer.payload()


def messages(reading, ctx):
    """Yields (tele/<topic>/SENSOR, payload, retain=False)."""
    yield ctx.tasmota_topic, write(reading, ctx), False
