# The native state JSON on <prefix>/<id>/state: the contract Home Assistant's value templates,
# the dashboard and the recorder read. Shape and example: docs/state.md. Short keys keep the
# payload small (a 6-channel reading is about 1 KB); absent values are left out, never null.

from json_writer import is_number
from reading import Q_ATTR, Q_DEC, Q_KEY, Q_SCOPE, QUANTITIES, S_CHANNEL, S_TOTAL


def _has_value(channel):
    for row in QUANTITIES:
        if row[Q_SCOPE] & S_CHANNEL and is_number(getattr(channel, row[Q_ATTR], None)):
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
    for row in QUANTITIES:
        if row[Q_SCOPE] & S_TOTAL:
            writer.quantity(row[Q_KEY], getattr(reading, row[Q_ATTR]), row[Q_DEC])
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
        for row in QUANTITIES:
            if row[Q_SCOPE] & S_CHANNEL:
                writer.quantity(row[Q_KEY], getattr(channel, row[Q_ATTR], None), row[Q_DEC])
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
