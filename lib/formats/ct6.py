# The CT6 (pjaos/ct6_meter_os, firmware 3.1) MQTT JSON, so dashboards and Home Assistant setups
# written for a CT6 (`value_json.CT1.PRMS`, ...) keep working. Shape: docs/atm90e32.md §11.4.
#
# - One object per port, "CT1".."CT6", with VRMS V, IRMS A, PRMS W, PREACT var, PAPPARENT VA,
#   PF -1..1, FREQ Hz, TEMP degC (the chip's), and NAME (the user's port name, "" by default).
# - Top level: YDEV_UNIT_NAME, FIRMWARE_VERSION, ACTIVE (1), TIMESENT (gmtime 8-tuple + Unix s).
# - Left out because this reader does not measure them: TYPE (CT model), IPEAK, RSSI,
#   BOARD_TEMPERATURE, READ_TIME_NS, ASSY, PF_WATTS_THRESHOLD; and, as in every format here, any
#   value the reading does not have.
# - Sign as a CT6 reports it: import negative. The CT6 Home Assistant guide splits a port's power
#   with "import = |PRMS| if PRMS < 0", so PRMS, PREACT and PF carry the opposite of the
#   reading's sign (+ import), on every port alike (a load's consumption is negative too, as on a
#   CT6 whose clamps all face the same way).
# - Every port in a message carries PRMS (the guide's templates read `CTn.PRMS` on every
#   message): a port without power in this reading is left out of this message.
# - Ports: an ATM90E32 channel keeps its own port, CTn (its name; the user's name is NAME only).
#   A HAN meter has no ports: CT1 is the meter's total (PRMS = net power, which every push
#   carries, short lists included; PREACT, FREQ), CT2..CT4 its phases L1..L3 in a message whose
#   push gives the phase's power (VRMS, IRMS, PF with it). NAME says which ("total", "L1"..).
from civil_time import civil
from channels import channel_label
from json_writer import is_number
from quantities import QUANTITIES, S_CHANNEL

_PORT_KEYS = ("CT1", "CT2", "CT3", "CT4", "CT5", "CT6")
_HAN_PHASE_PORTS = ("L1", "CT2", "L2", "CT3", "L3", "CT4")  # phase, port, ...
_NEGATED = ("p", "q", "pf")  # import negative: the CT6's sign


def _write_port(writer, key, obj, name):
    if not is_number(obj.power):
        return
    writer.begin_object(key)
    writer.string(b"NAME", name)
    for key, attr, _unit, scope, _cls, dec, _tbit, _cbit, field, _grid in QUANTITIES:
        if not field or not scope & S_CHANNEL:
            continue
        value = getattr(obj, attr, None)
        if key in _NEGATED and is_number(value):
            value = -value
        writer.quantity(field, value, dec)
    writer.end()


def write(reading, ctx):
    writer = ctx.writer
    writer.begin()
    if reading.source == "han":
        _write_port(writer, b"CT1", reading, "total")
        for i in range(0, len(_HAN_PHASE_PORTS), 2):
            channel = reading.channel(_HAN_PHASE_PORTS[i])
            if channel is not None:
                _write_port(writer, _HAN_PHASE_PORTS[i + 1], channel, channel.name)
    else:
        for channel in reading.channels:
            if channel.name in _PORT_KEYS:
                # NAME is the user's label, "" when the port has none (CT6's default)
                label = channel_label(channel)
                _write_port(writer, channel.name, channel, "" if label == channel.name else label)
    writer.string(b"YDEV_UNIT_NAME", ctx.name)
    writer.string(b"FIRMWARE_VERSION", ctx.sw_version)
    writer.number(b"ACTIVE", 1)
    if type(reading.timestamp) is int and reading.timestamp >= 0:
        # CT6 sends time.gmtime() (8 fields) followed by the Unix time in seconds
        writer.begin_array(b"TIMESENT")
        for value in civil(reading.timestamp):
            writer.item_number(value)
        writer.item_number(reading.timestamp)
        writer.end_array()
    writer.end()
    return writer.payload()


def messages(reading, ctx):
    """Yields the CT6 message: (ct6 topic, payload, retain=False)."""
    yield ctx.ct6_topic, write(reading, ctx), False
