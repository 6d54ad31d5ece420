# One retained topic per value, <prefix>/<id>/values/<key> for totals and
# <prefix>/<id>/values/<channel>/<key> per channel, with a plain number as the payload: what
# simple dashboards (the seed's browser page) and emoncms-style tools subscribe to without
# parsing JSON. Keys are those of the native state (docs/state.md). Retained, so a dashboard
# that opens shows the last values at once.
from channels import slug
from quantities import QUANTITIES, S_CHANNEL, S_TOTAL


def messages(reading, ctx):
    """Yields (topic, number as bytes, retain=True) per value the reading has, each rounded to
    its quantity's resolution (quantities.QUANTITIES)."""
    head = ctx.base + "/values/"
    text = ctx.writer.number_text
    if type(reading.timestamp) is int:
        yield head + "ts", b"%d" % reading.timestamp, True
    for key, attr, _unit, scope, _cls, dec, _tbit, _cbit, _ct6, _grid in QUANTITIES:
        if scope & S_TOTAL:
            payload = text(getattr(reading, attr), dec)
            if payload is not None:
                yield head + key, payload, True
    for channel in reading.channels:
        if type(channel.name) is not str:
            continue
        # a topic level must not hold "/", "+" or "#"; slug() also keeps it ASCII, which
        # umqtt.simple needs (it counts a str topic's length in characters, not bytes)
        channel_head = head + slug(channel.name) + "/"
        for key, attr, _unit, scope, _cls, dec, _tbit, _cbit, _ct6, _grid in QUANTITIES:
            if scope & S_CHANNEL:
                payload = text(getattr(channel, attr, None), dec)
                if payload is not None:
                    yield channel_head + key, payload, True
