# What the formats say about channels beyond their values: names as topic-safe slugs and the
# label to show (a channel's role is the source's: Channel.role in reading.py). Imported by the
# optional formats only (Home Assistant, CT6, values), so the always-loaded publishing path
# (native) does not hold it.

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


def channel_label(channel):
    """The name to show for a channel: its configured label (`channel.label`, set by the
    ATM90E32 source) when it has one, else its name ("CT2", "L1")."""
    label = getattr(channel, "label", None)
    if type(label) is str and label:
        return label
    return channel.name
