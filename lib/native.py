# The native state JSON on <prefix>/<id>/state: the contract Home Assistant's value templates,
# the dashboard and the recorder read. Shape and example: docs/state.md. Short keys keep the
# payload small (a 6-channel reading is about 1 KB); absent values are left out, never null.

from json_writer import is_number

# (JSON key, Channel attribute) in the order they are written; home_assistant.py, values.py and
# docs/state.md use the same keys.
CHANNEL_FIELDS = (
    (b"u", "voltage"),
    (b"i", "current"),
    (b"p", "power"),
    (b"q", "reactive_power"),
    (b"s", "apparent_power"),
    (b"pf", "power_factor"),
    (b"f", "frequency"),
    (b"t", "temperature"),
    (b"e_imp", "import_wh"),
    (b"e_exp", "export_wh"),
)

TOTAL_FIELDS = (
    (b"p", "power"),
    (b"p_imp", "import_power"),
    (b"p_exp", "export_power"),
    (b"q", "reactive_power"),
    (b"e_imp", "import_wh"),
    (b"e_exp", "export_wh"),
    (b"eq_imp", "reactive_import_varh"),
    (b"eq_exp", "reactive_export_varh"),
    (b"f", "frequency"),
    (b"t", "temperature"),
)


def channel_has_values(channel):
    for _key, attr in CHANNEL_FIELDS:
        if is_number(getattr(channel, attr)):
            return True
    return False


def write_state(reading, writer):
    """Writes the state document of `reading` into `writer` (a JsonWriter)."""
    writer.begin()
    writer.number(b"seq", reading.seq)
    writer.number(b"ts", reading.timestamp)
    writer.string(b"src", reading.source)
    writer.string(b"id", reading.meter_id)
    writer.string(b"model", reading.meter_model)
    writer.string(b"mtime", reading.meter_time)
    for key, attr in TOTAL_FIELDS:
        writer.number(key, getattr(reading, attr))
    opened = False
    for channel in reading.channels:
        # a channel without a single value (an unused CT port) is left out, not sent as {}
        if type(channel.name) is not str or not channel_has_values(channel):
            continue
        if not opened:
            writer.begin_object(b"ch")
            opened = True
        writer.begin_object(channel.name)
        for key, attr in CHANNEL_FIELDS:
            writer.number(key, getattr(channel, attr))
        writer.end()
    if opened:
        writer.end()
    writer.end()


def state_payload(reading, ctx):
    """The state JSON as bytes."""
    write_state(reading, ctx.writer)
    return ctx.writer.payload()


def messages(reading, ctx):
    """Yields the one state message: (state topic, payload, retain=False).

    Not retained: a reader that is gone shows as `offline` on the status topic, and a stale
    retained state would look like a live one to anything that ignores the status.
    """
    yield ctx.state_topic, state_payload(reading, ctx), False
