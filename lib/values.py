# One retained topic per value, <prefix>/<id>/values/<key> for totals and
# <prefix>/<id>/values/<channel>/<key> per channel, with a plain number as the payload: what
# simple dashboards (the seed's browser page) and emoncms-style tools subscribe to without
# parsing JSON. Keys are those of the native state (docs/state.md). Retained, so a dashboard
# that opens shows the last values at once.
from json_writer import is_number, number_text
from channels import slug

_TOTALS = (
    ("ts", "timestamp"),
    ("p", "power"),
    ("p_imp", "import_power"),
    ("p_exp", "export_power"),
    ("q", "reactive_power"),
    ("e_imp", "import_wh"),
    ("e_exp", "export_wh"),
    ("eq_imp", "reactive_import_varh"),
    ("eq_exp", "reactive_export_varh"),
    ("f", "frequency"),
    ("t", "temperature"),
)

_CHANNEL = (
    ("u", "voltage"),
    ("i", "current"),
    ("p", "power"),
    ("q", "reactive_power"),
    ("s", "apparent_power"),
    ("pf", "power_factor"),
    ("f", "frequency"),
    ("t", "temperature"),
    ("e_imp", "import_wh"),
    ("e_exp", "export_wh"),
)


def messages(reading, ctx):
    """Yields (topic, number as bytes, retain=True) per value the reading has."""
    head = ctx.base + "/values/"
    for key, attr in _TOTALS:
        value = getattr(reading, attr)
        if is_number(value):
            yield head + key, number_text(value), True
    for channel in reading.channels:
        if type(channel.name) is not str:
            continue
        # a topic level must not hold "/", "+" or "#"; slug() also keeps it ASCII, which
        # umqtt.simple needs (it counts a str topic's length in characters, not bytes)
        channel_head = head + slug(channel.name) + "/"
        for key, attr in _CHANNEL:
            value = getattr(channel, attr)
            if is_number(value):
                yield channel_head + key, number_text(value), True
