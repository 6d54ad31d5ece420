# The native state JSON on <prefix>/<id>/state: the contract Home Assistant's value templates,
# the dashboard and the recorder read. Shape and example: docs/state.md. Short keys keep the
# payload small (a 6-channel reading is about 1 KB); absent values are left out, never null.

from json_writer import is_number

# JSON key, Channel attribute, JSON key, attribute, ... in the order they are written (flat:
# one tuple instead of a tuple per pair, less heap); home_assistant.py, values.py and
# docs/state.md use the same keys.
CHANNEL_FIELDS = (
    b"u", "voltage",
    b"i", "current",
    b"p", "power",
    b"q", "reactive_power",
    b"s", "apparent_power",
    b"pf", "power_factor",
    b"f", "frequency",
    b"t", "temperature",
    b"e_imp", "import_wh",
    b"e_exp", "export_wh",
)  # fmt: skip

TOTAL_FIELDS = (
    b"p", "power",
    b"p_imp", "import_power",
    b"p_exp", "export_power",
    b"q", "reactive_power",
    b"e_imp", "import_wh",
    b"e_exp", "export_wh",
    b"eq_imp", "reactive_import_varh",
    b"eq_exp", "reactive_export_varh",
    b"f", "frequency",
    b"t", "temperature",
)  # fmt: skip


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
    fields = TOTAL_FIELDS
    for i in range(0, len(fields), 2):
        writer.number(fields[i], getattr(reading, fields[i + 1]))
    fields = CHANNEL_FIELDS
    opened = False
    for channel in reading.channels:
        if type(channel.name) is not str:
            continue
        for i in range(1, len(fields), 2):
            if is_number(getattr(channel, fields[i])):
                break
        else:
            continue  # a channel without a single value (an unused CT port) is left out, not {}
        if not opened:
            writer.begin_object(b"ch")
            opened = True
        writer.begin_object(channel.name)
        for i in range(0, len(fields), 2):
            writer.number(fields[i], getattr(channel, fields[i + 1]))
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
