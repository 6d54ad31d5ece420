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
    """Topics, identity and per-format settings for one reader, made by build().

    Attributes (all plain values, read by the formats on every publish):
      device_id, prefix, base (<prefix>/<device_id>), state_topic, status_topic, sw_version,
      model, manufacturer, source, name,
      native_enabled, ha_enabled, ha_prefix, ct6_enabled, ct6_topic, victron_enabled,
      victron_topic, tasmota_enabled, tasmota_topic (the full tele/<topic>/SENSOR),
      tasmota_prefix, values_enabled, roles, grid_phases, writer (the shared JsonWriter).
    """


def build(config, board=None, sw_version="0", source=None, device_id=None):
    """The PublishContext for a config (a dict; a missing or odd key takes its default).

    Runs at boot and after a config change only: this module is then dropped again
    (app._RARE_MODULES), and the context, an object of a class without methods, keeps nothing
    of its code in the heap (a board that loads .mpy files into RAM holds the steady state's
    code only)."""
    ctx = PublishContext()
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
    ctx.device_id = device_id
    mqtt = _section(config, "mqtt")
    ctx.prefix = _strip_slashes(_text(mqtt, "prefix", "meters")) or "meters"
    ctx.base = ctx.prefix + "/" + device_id
    ctx.state_topic = ctx.base + "/state"
    ctx.status_topic = ctx.base + "/status"
    ctx.sw_version = sw_version if type(sw_version) is str else str(sw_version)
    ctx.model = getattr(board, "MODEL", None) or "meter reader"
    # boards may name their maker; otherwise the firmware stands in for it
    ctx.manufacturer = getattr(board, "MANUFACTURER", None) or FIRMWARE_NAME
    if source is None:
        source = config.get("source")
    ctx.source = source if type(source) is str else None
    name = config.get("name")
    ctx.name = name if type(name) is str and name else "Meter " + device_id

    native = _section(config, "native")
    ctx.native_enabled = _flag(native, "enabled", True)

    ha = _section(config, "homeassistant")
    ctx.ha_enabled = _flag(ha, "enabled", True)
    ctx.ha_prefix = _strip_slashes(_text(ha, "prefix", "")) or "homeassistant"

    ct6 = _section(config, "ct6")
    ctx.ct6_enabled = _flag(ct6, "enabled", False)
    ctx.ct6_topic = _strip_slashes(_text(ct6, "topic", "")) or ctx.base + "/ct6"

    victron = _section(config, "victron")
    ctx.victron_enabled = _flag(victron, "enabled", False)
    ctx.victron_topic = _strip_slashes(_text(victron, "topic", "")) or ctx.base + "/victron"

    tasmota = _section(config, "tasmota")
    ctx.tasmota_enabled = _flag(tasmota, "enabled", False)
    # Tasmota telemetry goes to tele/<topic>/SENSOR (default FullTopic %prefix%/%topic%/)
    topic = _strip_slashes(_text(tasmota, "topic", "")) or device_id
    ctx.tasmota_topic = "tele/" + topic + "/SENSOR"
    ctx.tasmota_prefix = _text(tasmota, "prefix", "") or "grid"

    values = _section(config, "values")
    ctx.values_enabled = _flag(values, "enabled", False)

    # ATM90E32 channels (config atm90e32.ct<n>.role): the role per port name ("grid"
    # channels are signed and make up the grid for Victron and Tasmota) for sources that do
    # not put it on the channel themselves (see channel_role).
    ctx.roles = {}
    atm = _section(config, "atm90e32")
    for n in range(1, 7 if atm else 1):
        role = _section(atm, "ct" + str(n)).get("role")
        if type(role) is str:
            ctx.roles["CT" + str(n)] = role

    # The grid's phase count for the Victron format (victron.py): None until the firmware
    # knows it (app.py learns it from the first reading with per-phase values, or the
    # board's channel roles, and keeps it in flash)
    ctx.grid_phases = None

    ctx.writer = JsonWriter()
    return ctx
