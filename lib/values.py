# One retained topic per value, <prefix>/<id>/values/<key> for totals and
# <prefix>/<id>/values/<channel>/<key> per channel, with a plain number as the payload: what
# simple dashboards (the seed's browser page) and emoncms-style tools subscribe to without
# parsing JSON. Keys are those of the native state (docs/state.md). Retained, so a dashboard
# that opens shows the last values at once.
from json_writer import fixed_text
from channels import slug
from reading import Q_ATTR, Q_DEC, Q_KEY, Q_SCOPE, QUANTITIES, S_CHANNEL, S_TOTAL


def messages(reading, ctx):
    """Yields (topic, number as bytes, retain=True) per value the reading has, each rounded to
    its quantity's resolution (reading.QUANTITIES)."""
    head = ctx.base + "/values/"
    if type(reading.timestamp) is int:
        yield head + "ts", b"%d" % reading.timestamp, True
    for row in QUANTITIES:
        if row[Q_SCOPE] & S_TOTAL:
            text = fixed_text(getattr(reading, row[Q_ATTR]), row[Q_DEC])
            if text is not None:
                yield head + row[Q_KEY], text, True
    for channel in reading.channels:
        if type(channel.name) is not str:
            continue
        # a topic level must not hold "/", "+" or "#"; slug() also keeps it ASCII, which
        # umqtt.simple needs (it counts a str topic's length in characters, not bytes)
        channel_head = head + slug(channel.name) + "/"
        for row in QUANTITIES:
            if row[Q_SCOPE] & S_CHANNEL:
                text = fixed_text(getattr(channel, row[Q_ATTR], None), row[Q_DEC])
                if text is not None:
                    yield channel_head + row[Q_KEY], text, True
