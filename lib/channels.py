# What the formats say about channels beyond their values: names as topic-safe slugs, the label
# to show, the role (grid, load, solar), and the grid's phases and totals. Imported by the
# optional formats only (Home Assistant, CT6, Victron, Tasmota, values), so the always-loaded
# publishing path (publish_context, native) does not hold it.
from json_writer import is_number

HEX_DIGITS = "0123456789abcdef"  # also used by home_assistant


def slug(text):
    """`text` as a topic level / id part HA accepts ([A-Za-z0-9-]); other bytes become _xx.

    Injective, so two channel names never share a unique_id; ASCII names such as "CT1" come
    back unchanged (and without allocating a copy).
    """
    if type(text) is not str:
        text = str(text)
    for ch in text:  # iterating a str allocates nothing on MicroPython
        if not slug_safe(ord(ch)):
            break
    else:
        return text
    out = []
    for byte in text.encode("utf-8"):
        if slug_safe(byte):
            out.append(chr(byte))
        else:
            out.append("_" + HEX_DIGITS[byte >> 4] + HEX_DIGITS[byte & 15])
    return "".join(out)


def slug_safe(code):
    """True for the characters slug() keeps as they are (A-Z a-z 0-9 -), by code."""
    return 0x30 <= code <= 0x39 or 0x41 <= code <= 0x5A or 0x61 <= code <= 0x7A or code == 0x2D


_PHASE_NAMES = ("L1", "L2", "L3")


def channel_role(channel, ctx):
    """"grid" | "load" | "solar" | "off" | None: the role the source put on the channel (the
    ATM90E32 source sets `channel.role`), else the configured one for its name."""
    role = getattr(channel, "role", None)
    if type(role) is str:
        return role
    return ctx.roles.get(channel.name)


def channel_label(channel):
    """The name to show for a channel: its configured label (`channel.label`, set by the
    ATM90E32 source) when it has one, else its name ("CT2", "L1")."""
    label = getattr(channel, "label", None)
    if type(label) is str and label:
        return label
    return channel.name


def grid_phases(reading, ctx):
    """The channels that are the grid's phases, as [(label "L1".."L3", channel)]: channels named
    L1..L3 (HAN meters), else the ATM90E32 channels whose role is "grid", in order (a split-phase
    board's two legs become L1 and L2). At most three."""
    phases = []
    for channel in reading.channels:
        if channel.name in _PHASE_NAMES:
            phases.append((channel.name, channel))
    if phases:
        return phases
    for channel in reading.channels:
        if len(phases) < 3 and channel_role(channel, ctx) == "grid":
            phases.append((_PHASE_NAMES[len(phases)], channel))
    return phases


def net_power(reading, phases=None):
    """Net grid power in W (+ import), else None: the reading's own; or import minus export
    (HAN meters send those two separately); or the sum over `phases` when each has power."""
    if is_number(reading.power):
        return reading.power
    if is_number(reading.import_power) and is_number(reading.export_power):
        return reading.import_power - reading.export_power
    if not phases:
        return None
    total = 0
    for _label, channel in phases:
        if not is_number(channel.power):
            return None
        total += channel.power
    return total


def grid_energy(reading, phases, attr):
    """A lifetime counter (attr "import_wh" / "export_wh") of the grid: the reading's own, or
    the sum over `phases` when each has it; None otherwise."""
    own = getattr(reading, attr)
    if type(own) is int:
        return own
    if not phases:
        return None
    total = 0
    for _label, channel in phases:
        value = getattr(channel, attr)
        if type(value) is not int:
            return None
        total += value
    return total
