# Home Assistant MQTT discovery: one device per reader, one sensor per quantity in the reading.
#
# Facts (HA docs sensor.mqtt and mqtt discovery):
# - per-entity config on <ha_prefix>/sensor/<object_id>/config, retained; an empty retained
#   payload removes the entity;
# - abbreviated keys (uniq_id, stat_t, val_tpl, dev_cla, ...) and "~" as the base topic
#   shorthand keep each config small;
# - `object_id` is deprecated since HA 2025.10; `default_entity_id` ("def_ent_id") seeds the id;
# - a numeric sensor's template rendering "" is ignored (the state stays), "None" sets it to
#   unknown;
# - the Energy dashboard needs device_class energy, state_class total/total_increasing and an
#   energy unit; import and export each need their own counter.
#
# Every sensor reads the native state JSON (native.py, docs/state.md) with `value_json.get(...)`:
# unlike `value_json.p`, a `.get` chain never touches an undefined value, so an absent key or an
# absent channel is no template error in HA's log. It renders "": HA keeps the last state. A
# HAN meter sends short lists (power only, every 2 s) between full ones (energy, U, I every
# 10 s / hourly); "unknown" would make those sensors flicker between every full list. Whether
# the values are live is what availability (<base>/status) says.
#
# Entities that come and go: key_set() is what one reading announces. With a HAN meter's short
# and full lists alternating, the firmware keeps the union (merge_key_sets) of what it has
# announced, re-announces when the union grows, and removes (removals) only what its config or
# the meter's phase count rules out, not what one short list lacks.
from micropython import const

from channels import HEX_DIGITS, channel_label, slug
from json_writer import is_number
from publish_context import FIRMWARE_NAME

from quantities import QUANTITIES

# How a sensor gets its value from the state JSON.
_PLAIN = const(0)  # the key itself
_SPLIT_IMPORT = const(1)  # max(p, 0) for a signed power without a separate import value
_SPLIT_EXPORT = const(2)  # max(-p, 0)


# A sensor row is a quantities.QUANTITIES row: (key, attr, unit, scope, cls, dec, tbit, cbit, ct6,
# grid); the indexes read here:
_KEY = const(0)
_ATTR = const(1)
_UNIT = const(2)
_CLASS = const(4)
_DEC = const(5)


def _rows(bit_column):
    """The quantity rows a total (column 6, tbit) or a channel (7, cbit) has sensors for, each
    at the index of its key_set() bit."""
    rows = []
    for row in QUANTITIES:
        bit = row[bit_column]
        if bit >= 0:
            while len(rows) <= bit:
                rows.append(None)
            rows[bit] = row
    return tuple(rows)


# Row index = the key's bit in key_set(); row[0] is the state key (ha_removals reads it).
TOTAL_SENSORS = _rows(6)
CHANNEL_SENSORS = _rows(7)


def _name(row):
    """The entity name: the device class in words, and the direction of a split or a counter
    ("power", "energy import", "reactive energy export")."""
    key = row[_KEY]
    name = row[_CLASS].replace("_", " ")
    if key.endswith("_imp"):
        return name + " import"
    if key.endswith("_exp"):
        return name + " export"
    return name


def _state_class(row):
    # "total_increasing" (not total) for the lifetime counters (Wh, varh): a counter that drops
    # (reset_energy, a replaced meter) then starts a new cycle in HA's statistics instead of
    # counting as negative consumption
    return "total_increasing" if row[_UNIT] in ("Wh", "varh") else "measurement"


def _split(row):
    key = row[_KEY]
    return _SPLIT_IMPORT if key == "p_imp" else _SPLIT_EXPORT if key == "p_exp" else _PLAIN


def _entity_slug(text):
    # HA entity ids: lowercase a-z, 0-9 and single inner underscores (valid_entity_id)
    out = []
    gap = False
    for ch in text.lower():
        if "a" <= ch <= "z" or "0" <= ch <= "9":
            if gap and out:
                out.append("_")
            gap = False
            out.append(ch)
        else:
            gap = True
    return "".join(out) or "meter"


def _signed(obj):
    """Whether the power of `obj` (the reading or a channel) is a signed grid flow: split into
    import and export sensors. A channel's role (the source's: the ATM90E32 channels' configured
    one) decides ("grid"; "load" and "solar" flow one way); without one, a source that counts
    export energy for it says it is signed."""
    if obj is not None and hasattr(obj, "name"):  # a channel; the reading has no role
        role = obj.role
        if role is not None:
            return role == "grid"
    return is_number(obj.export_wh)


def _present(obj, row):
    """How the sensor of `row` reads `obj` (the reading or a channel), or None if it has none."""
    if is_number(getattr(obj, row[_ATTR], None)):
        return _PLAIN
    split = _split(row)
    if split != _PLAIN and is_number(obj.power) and _signed(obj):
        return split
    return None


def _mask(obj, rows):
    mask = 0
    for index in range(len(rows)):
        if _present(obj, rows[index]) is not None:
            mask |= 1 << index
    return mask


def key_set(reading, ctx):
    """The set of sensor keys `reading` announces, as one short string (cheap to keep in RAM or
    flash and to compare with ==): "<totals mask>[,<channel slug>:<mask>]..." in hex, e.g.
    "331,L1:7,L2:7,L3:7". Bits are row indexes of TOTAL_SENSORS / CHANNEL_SENSORS.
    """
    parts = ["{:x}".format(_mask(reading, TOTAL_SENSORS))]
    for channel in reading.channels:
        mask = _mask(channel, CHANNEL_SENSORS)
        if mask:
            parts.append("{}:{:x}".format(slug(channel.name), mask))
    return ",".join(parts)


def parse_key_set(signature):
    """[(channel slug or "", mask)] of a key_set() string; malformed parts are skipped."""
    parts = []
    if type(signature) is not str or not signature:
        return parts
    first = True
    for part in signature.split(","):
        if first:
            first = False
            name, text = "", part
        else:
            name, sep, text = part.partition(":")
            if not sep or not name:
                continue
        try:
            parts.append((name, int(text, 16)))
        except ValueError:
            continue
    return parts


def merge_key_sets(first, second):
    """The union of two key_set() strings, as a key_set() string (channel order: first's, then
    second's new channels). Equal to `first` when `second` adds nothing."""
    merged = parse_key_set(first)
    if not merged or merged[0][0] != "":
        merged.insert(0, ("", 0))
    for name, mask in parse_key_set(second):
        for index in range(len(merged)):
            if merged[index][0] == name:
                merged[index] = (name, merged[index][1] | mask)
                break
        else:
            merged.append((name, mask))
    out = ["{:x}".format(merged[0][1])]
    for name, mask in merged[1:]:
        if mask:
            out.append("{}:{:x}".format(name, mask))
    return ",".join(out)


def discovery_topic(key, ctx):
    return ctx.ha_prefix + "/sensor/" + slug(ctx.device_id) + "_" + key + "/config"


def _jinja_literal(text):
    # Jinja decodes its string literals like Python's unicode-escape (and turns a raw CR into
    # LF first): escape the backslash, the quote and every control character
    out = ["'"]
    for ch in text:
        code = ord(ch)
        if ch == "\\" or ch == "'":
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append("\\x" + HEX_DIGITS[code >> 4] + HEX_DIGITS[code & 15])
        else:
            out.append(ch)
    out.append("'")
    return "".join(out)


def _value_template(channel_name, key, mode):
    if channel_name is None:
        path = "value_json.get("
    else:
        path = "value_json.get('ch',{}).get(" + _jinja_literal(channel_name) + ",{}).get("
    if mode == _PLAIN:
        return "{{ " + path + "'" + key + "','') }}"
    head = "{% set v = " + path + "'p') %}"
    if mode == _SPLIT_IMPORT:
        return head + "{{ '' if v is none else (v if v > 0 else 0) }}"
    return head + "{{ '' if v is none else (-v if v < 0 else 0) }}"


def _write_config(ctx, channel, row, mode):
    writer = ctx.writer
    device = slug(ctx.device_id)
    channel_name = None
    name = _name(row)
    if channel is None:
        key = row[_KEY]
        name = name[0].upper() + name[1:]
    else:
        # ids and the state key from the channel's port name ("CT3", "L1": stable when the
        # user renames it), only the entity name from its label
        channel_name = channel.name
        key = slug(channel_name) + "_" + row[_KEY]
        name = channel_label(channel) + " " + name
    unique_id = device + "_" + key
    writer.begin()
    writer.string(b"~", ctx.base)
    writer.string(b"name", name)
    writer.string(b"uniq_id", unique_id)
    writer.string(b"def_ent_id", "sensor." + _entity_slug(unique_id))
    writer.string(b"stat_t", "~/state")
    writer.string(b"val_tpl", _value_template(channel_name, row[_KEY], mode))
    writer.string(b"dev_cla", row[_CLASS])
    writer.string(b"unit_of_meas", row[_UNIT])
    writer.string(b"stat_cla", _state_class(row))
    writer.number(b"sug_dsp_prc", row[_DEC])
    if row[_CLASS] == "temperature":  # the chip's, not the meter's: a diagnostic
        writer.string(b"ent_cat", "diagnostic")
    writer.string(b"avty_t", "~/status")
    writer.begin_object(b"dev")
    writer.begin_array(b"ids")
    writer.item_string(ctx.device_id)
    writer.end_array()
    writer.string(b"name", ctx.name)
    writer.string(b"mf", ctx.manufacturer)
    writer.string(b"mdl", ctx.model)
    writer.string(b"sw", ctx.sw_version)
    writer.end()
    writer.begin_object(b"o")
    writer.string(b"name", FIRMWARE_NAME)
    writer.string(b"sw", ctx.sw_version)
    writer.end()
    writer.end()
    return discovery_topic(key, ctx)


def discovery(reading, ctx, streamed=False):
    """Yields (topic, config payload, retain=True) for every sensor the reading has; with
    `streamed` the payload is ctx.writer.chunks() (for MqttLink.publish_pieces: no copy of it
    is made, it is valid until the next one is built), else bytes.

    Nothing when Home Assistant is disabled (use ha_removals.removals(previous, "", ctx) to
    clear).
    """
    if not ctx.ha_enabled:
        return
    writer = ctx.writer
    for row in TOTAL_SENSORS:
        mode = _present(reading, row)
        if mode is not None:
            topic = _write_config(ctx, None, row, mode)
            yield topic, writer.chunks() if streamed else writer.payload(), True
    for channel in reading.channels:
        if type(channel.name) is not str:
            continue
        for row in CHANNEL_SENSORS:
            mode = _present(channel, row)
            if mode is not None:
                topic = _write_config(ctx, channel, row, mode)
                yield topic, writer.chunks() if streamed else writer.payload(), True
