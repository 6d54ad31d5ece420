# What the publishing formats need to know besides the reading, built once at boot.
#
# The formats (native, home_assistant, ct6, victron, tasmota, values) are pure functions of
# (reading, ctx): topics, names and enabled flags are resolved here from the config dict and the
# board once, so the per-publish path does no config lookups and no topic string building.
import binascii

from json_writer import JsonWriter

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


class PublishContext:
    """Topics, identity and per-format settings for one reader.

    Attributes (all plain values, read by the formats on every publish):
      device_id, prefix, base (<prefix>/<device_id>), state_topic, status_topic, sw_version,
      model, manufacturer, source, name,
      native_enabled, ha_enabled, ha_prefix, ct6_enabled, ct6_topic, victron_enabled,
      victron_topic, tasmota_enabled, tasmota_topic (the full tele/<topic>/SENSOR),
      tasmota_prefix, values_enabled, roles, grid_phases, writer (the shared JsonWriter).
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
        self.tasmota_prefix = _text(tasmota, "prefix", "") or "grid"

        values = _section(config, "values")
        self.values_enabled = _flag(values, "enabled", False)

        # ATM90E32 channels (config atm90e32.ct<n>.role): the role per port name ("grid"
        # channels are signed and make up the grid for Victron and Tasmota) for sources that do
        # not put it on the channel themselves (see channel_role).
        self.roles = {}
        atm = _section(config, "atm90e32")
        for n in range(1, 7 if atm else 1):
            role = _section(atm, "ct" + str(n)).get("role")
            if type(role) is str:
                self.roles["CT" + str(n)] = role

        # The grid's phase count for the Victron format (victron.py): None until the firmware
        # knows it (app.py learns it from the first reading with per-phase values, or the
        # board's channel roles, and keeps it in flash)
        self.grid_phases = None

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
