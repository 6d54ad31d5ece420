# What the publishing formats need to know besides the reading, built once at boot.
#
# The formats (native, home_assistant, ct6, victron, tasmota, values) are pure functions of
# (reading, ctx): topics, names and enabled flags are resolved here from the validated config and
# the board once, so the per-publish path does no config lookups and no topic string building.
import binascii

from json_writer import JsonWriter

# The firmware's name as Home Assistant shows it in the discovery "origin" (`o`).
FIRMWARE_NAME = "meter-reader"


class PublishContext:
    """Topics, identity and per-format settings for one reader, made by build().

    Attributes (all plain values, read by the formats on every publish):
      device_id, prefix, base (<prefix>/<device_id>), state_topic, status_topic, sw_version,
      model, manufacturer, source, name,
      native_enabled, ha_enabled, ha_prefix, ct6_enabled, ct6_topic, victron_enabled,
      victron_topic, tasmota_enabled, tasmota_topic (the full tele/<topic>/SENSOR),
      tasmota_prefix, values_enabled, grid_phases, writer (the shared JsonWriter).
    """


def build(config, board, sw_version):
    """The PublishContext for a validated config: config_schema.defaults() or a config that
    config_schema validated (the firmware runs no other; firmware/config_saved.py reads one that
    was validated when saved). Every setting is read as it is: the schema holds the defaults
    and the rules (topics without outer "/", prefixes not empty); this derives only what the
    schema says is derived (an empty device_id or format topic).

    Runs at boot and after a config change only: this module is then dropped again
    (app._RARE_MODULES), and the context, an object of a class without methods, keeps nothing
    of its code in the heap (a board that loads .mpy files into RAM holds the steady state's
    code only)."""
    ctx = PublishContext()
    device_id = config["device_id"]
    if not device_id:
        # the board's unique id in hex: stable across reflashes, unique per chip
        try:
            device_id = binascii.hexlify(board.unique_id()).decode()
        except (AttributeError, TypeError, ValueError, OSError):
            device_id = "meter"
    ctx.device_id = device_id
    ctx.prefix = config["mqtt"]["prefix"]
    ctx.base = ctx.prefix + "/" + device_id
    ctx.state_topic = ctx.base + "/state"
    ctx.status_topic = ctx.base + "/status"
    ctx.sw_version = sw_version if type(sw_version) is str else str(sw_version)
    ctx.model = getattr(board, "MODEL", None) or "meter reader"
    # boards may name their maker; otherwise the firmware stands in for it
    ctx.manufacturer = getattr(board, "MANUFACTURER", None) or FIRMWARE_NAME
    ctx.source = config["source"]
    ctx.name = "Meter " + device_id

    ctx.native_enabled = config["native"]["enabled"]

    ha = config["homeassistant"]
    ctx.ha_enabled = ha["enabled"]
    ctx.ha_prefix = ha["prefix"]

    ct6 = config["ct6"]
    ctx.ct6_enabled = ct6["enabled"]
    ctx.ct6_topic = ct6["topic"] or ctx.base + "/ct6"

    victron = config["victron"]
    ctx.victron_enabled = victron["enabled"]
    ctx.victron_topic = victron["topic"] or ctx.base + "/victron"

    tasmota = config["tasmota"]
    ctx.tasmota_enabled = tasmota["enabled"]
    # Tasmota telemetry goes to tele/<topic>/SENSOR (default FullTopic %prefix%/%topic%/)
    ctx.tasmota_topic = "tele/" + (tasmota["topic"] or device_id) + "/SENSOR"
    ctx.tasmota_prefix = tasmota["prefix"]

    ctx.values_enabled = config["values"]["enabled"]

    # The grid's phase count for the Victron format (victron.py): None until the firmware
    # knows it (app.py learns it from the reading's grid phases, reading.grid, and for a HAN
    # meter keeps it in flash)
    ctx.grid_phases = None

    ctx.writer = JsonWriter()
    return ctx
