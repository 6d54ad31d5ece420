# The native state JSON on <prefix>/<id>/state: the contract Home Assistant's value templates,
# the dashboard and the recorder read. Shape and example: docs/state.md. Short keys keep the
# payload small (a 6-channel reading is about 1 KB); absent values are left out, never null.

from json_writer import is_number
from quantities import QUANTITIES, S_CHANNEL, S_TOTAL


def _has_value(channel):
    for _key, attr, _unit, scope, _cls, _dec, _tbit, _cbit, _ct6, _grid in QUANTITIES:
        if scope & S_CHANNEL and is_number(getattr(channel, attr, None)):
            return True
    return False


def state_payload(reading, ctx):
    """The state JSON of `reading` as bytes, built in the context's shared JsonWriter."""
    writer = ctx.writer
    writer.begin()
    writer.number(b"seq", reading.seq)
    writer.number(b"ts", reading.timestamp)
    writer.string(b"src", reading.source)
    writer.string(b"id", reading.meter_id)
    writer.string(b"model", reading.meter_model)
    writer.string(b"mtime", reading.meter_time)
    for key, attr, _unit, scope, _cls, dec, _tbit, _cbit, _ct6, _grid in QUANTITIES:
        if scope & S_TOTAL:
            writer.quantity(key, getattr(reading, attr), dec)
    opened = False
    for channel in reading.channels:
        if type(channel.name) is not str or not _has_value(channel):
            continue  # a channel without a single value (an unused CT port) is left out, not {}
        if not opened:
            writer.begin_object(b"ch")
            opened = True
        # the channel's key is its port ("CT3", "L1"), never its label: templates and ids
        # written against it keep working when the user renames the port
        writer.begin_object(channel.name)
        for key, attr, _unit, scope, _cls, dec, _tbit, _cbit, _ct6, _grid in QUANTITIES:
            if scope & S_CHANNEL:
                writer.quantity(key, getattr(channel, attr, None), dec)
        writer.end()
    if opened:
        writer.end()
    writer.end()
    return writer.payload()


def messages(reading, ctx):
    """Yields the one state message: (state topic, payload, retain=False).

    Not retained: a reader that is gone shows as `offline` on the status topic, and a stale
    retained state would look like a live one to anything that ignores the status.
    """
    yield ctx.state_topic, state_payload(reading, ctx), False
