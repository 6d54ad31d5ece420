# What the publishing formats need to know besides the reading, built once at boot.
#
# The formats (native, home_assistant, ct6, victron, tasmota, values) are pure functions of
# (reading, ctx): topics, names and enabled flags are resolved here from the config dict and the
# board once, so the per-publish path does no config lookups and no topic string building.
import binascii

from json_writer import JsonWriter, is_number

# The firmware's name as Home Assistant shows it in the discovery "origin" (`o`).
FIRMWARE_NAME = "meter-reader"


def _section(config, name):
    section = config.get(name) if type(config) is dict else None
    return section if type(section) is dict else {}


def _text(section, key, default):
    value = section.get(key)
    return value if type(value) is str else default


def _flag(section, key, default):
    value = section.get(key)
    return value if type(value) is bool else default


def _strip_slashes(topic):
    # a trailing or leading "/" would produce "a//b" topics (an empty level: legal MQTT, but
    # never what a user meant)
    while topic.endswith("/"):
        topic = topic[:-1]
    while topic.startswith("/"):
        topic = topic[1:]
    return topic


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


class PublishContext:
    """Topics, identity and per-format settings for one reader.

    Attributes (all plain values, read by the formats on every publish):
      device_id, prefix, base (<prefix>/<device_id>), state_topic, status_topic, sw_version,
      model, manufacturer, source, name,
      native_enabled, ha_enabled, ha_prefix, ct6_enabled, ct6_topic, victron_enabled,
      victron_topic, tasmota_enabled, tasmota_topic (the full tele/<topic>/SENSOR),
      tasmota_prefix, values_enabled, writer (the shared JsonWriter).
    """

    def __init__(self, config, board=None, sw_version="0", source=None, device_id=None):
        if type(config) is not dict:
            config = {}
        if not device_id:
            device_id = config.get("device_id")
        if type(device_id) is not str or not device_id:
            # the board's unique id in hex: stable across reflashes, unique per chip
            try:
                device_id = binascii.hexlify(board.unique_id()).decode()
            except (AttributeError, TypeError, ValueError, OSError):
                device_id = "meter"
        self.device_id = device_id
        mqtt = _section(config, "mqtt")
        self.prefix = _strip_slashes(_text(mqtt, "prefix", "meters")) or "meters"
        self.base = self.prefix + "/" + device_id
        self.state_topic = self.base + "/state"
        self.status_topic = self.base + "/status"
        self.sw_version = sw_version if type(sw_version) is str else str(sw_version)
        self.model = getattr(board, "MODEL", None) or "meter reader"
        # boards may name their maker; otherwise the firmware stands in for it
        self.manufacturer = getattr(board, "MANUFACTURER", None) or FIRMWARE_NAME
        if source is None:
            source = config.get("source")
        self.source = source if type(source) is str else None
        name = config.get("name")
        self.name = name if type(name) is str and name else "Meter " + device_id

        native = _section(config, "native")
        self.native_enabled = _flag(native, "enabled", True)

        ha = _section(config, "homeassistant")
        self.ha_enabled = _flag(ha, "enabled", True)
        self.ha_prefix = _strip_slashes(_text(ha, "prefix", "")) or "homeassistant"

        ct6 = _section(config, "ct6")
        self.ct6_enabled = _flag(ct6, "enabled", False)
        self.ct6_topic = _strip_slashes(_text(ct6, "topic", "")) or self.base + "/ct6"

        victron = _section(config, "victron")
        self.victron_enabled = _flag(victron, "enabled", False)
        self.victron_topic = _strip_slashes(_text(victron, "topic", "")) or self.base + "/victron"

        tasmota = _section(config, "tasmota")
        self.tasmota_enabled = _flag(tasmota, "enabled", False)
        # Tasmota telemetry goes to tele/<topic>/SENSOR (default FullTopic %prefix%/%topic%/)
        topic = _strip_slashes(_text(tasmota, "topic", "")) or device_id
        self.tasmota_topic = "tele/" + topic + "/SENSOR"
        self.tasmota_prefix = _text(tasmota, "prefix", "") or "SML"

        values = _section(config, "values")
        self.values_enabled = _flag(values, "enabled", False)

        # ATM90E32 channels (config atm90e32.ct<n>.name / .role): the CT port number per channel
        # name, "CT<n>" or the configured name, for the CT6 format; and the role ("grid"
        # channels are signed and make up the grid for Victron and Tasmota) for sources that do
        # not put it on the channel themselves (see channel_role).
        self.ct_numbers = {}
        self.roles = {}
        atm = _section(config, "atm90e32")
        for n in range(1, 7 if atm else 1):
            ct = _section(atm, "ct" + str(n))
            names = ["CT" + str(n)]
            label = _text(ct, "name", "")
            if label:
                names.append(label)
            role = ct.get("role")
            for name in names:
                self.ct_numbers[name] = n
                if type(role) is str:
                    self.roles[name] = role

        self.writer = JsonWriter()


def reading_messages(reading, ctx):
    """Every enabled per-reading format's messages, one (topic, payload, retain) at a time.

    Home Assistant discovery is not per reading: the firmware sends home_assistant.discovery()
    at connect, when HA comes online and when home_assistant.key_set() changes.
    Modules are imported here, only when enabled, so a disabled format costs no RAM.
    """
    # Home Assistant's sensors read the state topic, so it goes out whenever either needs it
    if ctx.native_enabled or ctx.ha_enabled:
        import native

        yield from native.messages(reading, ctx)
    if ctx.ct6_enabled:
        import ct6

        yield from ct6.messages(reading, ctx)
    if ctx.victron_enabled:
        import victron

        yield from victron.messages(reading, ctx)
    if ctx.tasmota_enabled:
        import tasmota

        yield from tasmota.messages(reading, ctx)
    if ctx.values_enabled:
        import values

        yield from values.messages(reading, ctx)
