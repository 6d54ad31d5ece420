# The CT6 (pjaos/ct6_meter_os, firmware 3.1) MQTT JSON, so dashboards and Home Assistant setups
# written for a CT6 (`value_json.CT1.PRMS`, ...) keep working. Shape: docs/atm90e32.md §11.4.
#
# - One object per port, "CT1".."CT6", with VRMS V, IRMS A, PRMS W, PREACT var, PAPPARENT VA,
#   PF -1..1, FREQ Hz, TEMP degC (the chip's), and NAME (the user's port name, "" by default).
# - Top level: YDEV_UNIT_NAME, FIRMWARE_VERSION, ACTIVE (1), TIMESENT (gmtime 8-tuple + Unix s).
# - Left out because this reader does not measure them: TYPE (CT model), IPEAK, RSSI,
#   BOARD_TEMPERATURE, READ_TIME_NS, ASSY, PF_WATTS_THRESHOLD; and, as in every format here, any
#   value the reading does not have.
# - Sign: PRMS/PREACT carry the reading's sign (+ import). A stock CT6 reports the chip's raw sign,
#   which depends on the clamp's orientation (its README: clamp facing the grid -> import
#   negative); a user migrating such a dashboard sets the channel's "reversed" flag instead.
from civil_time import civil
from channels import channel_label

_PORTS = 6

# (CT6 key, Channel attribute)
_FIELDS = (
    (b"VRMS", "voltage"),
    (b"IRMS", "current"),
    (b"PRMS", "power"),
    (b"PREACT", "reactive_power"),
    (b"PAPPARENT", "apparent_power"),
    (b"PF", "power_factor"),
    (b"FREQ", "frequency"),
    (b"TEMP", "temperature"),
)

_PORT_KEYS = ("CT1", "CT2", "CT3", "CT4", "CT5", "CT6")


def _named_port(channel, ctx):
    """The port number (1..6) a channel's name gives: "CTn" or a configured
    atm90e32.ct<n>.name (publish_context); None for other names (a HAN meter's "L1")."""
    number = ctx.ct_numbers.get(channel.name)
    if number is None and channel.name in _PORT_KEYS:
        number = _PORT_KEYS.index(channel.name) + 1
    return number


def _write_port(writer, key, channel):
    writer.begin_object(key)
    # NAME is the user's label, "" when the port has none (CT6's default)
    label = channel_label(channel)
    writer.string(b"NAME", "" if label == key else label)
    for field, attr in _FIELDS:
        writer.number(field, getattr(channel, attr))
    writer.end()


def write(reading, ctx):
    writer = ctx.writer
    writer.begin()
    used = 0  # bit per port written
    # named channels first, so that a channel placed by position never takes their port
    for channel in reading.channels:
        number = _named_port(channel, ctx)
        if number is not None and not used & (1 << number):
            used |= 1 << number
            _write_port(writer, _PORT_KEYS[number - 1], channel)
    number = 1
    for channel in reading.channels:
        if _named_port(channel, ctx) is not None:
            continue
        while number <= _PORTS and used & (1 << number):
            number += 1
        if number > _PORTS:
            break  # a CT6 has six ports: the rest has nowhere to go
        used |= 1 << number
        _write_port(writer, _PORT_KEYS[number - 1], channel)
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
