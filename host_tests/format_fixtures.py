# portable
# Fixed readings and contexts for the publishing-format tests (test_formats_*.py): the inputs of
# the golden tests. Values are chosen so every field is distinguishable from every other one.
import json

import config_schema
from publish_context import build
from reading import Reading

TS = 1744733271  # 2025-04-15 16:07:51 UTC, a Tuesday (weekday 1), day 105 of the year


class FakeBoard:
    NAME = "sim"
    MODEL = "Simulated board"

    @staticmethod
    def unique_id():
        return b"\xde\xad\xbe\xef"


def validated(config=None, source="han"):
    """The complete config the firmware would run for `config`, a partial dict (source: `source`
    unless it names one): through the schema, like every config the firmware gets (the
    publishing context reads a validated config and has no defaults of its own)."""
    partial = {"source": source}
    partial.update(config or {})
    complete, dropped, error = config_schema.load_dict(partial)
    assert error is None and not dropped, (error, dropped)
    return complete


def context(config=None, source="han"):
    return build(validated(config, source), FakeBoard(), "1.2.3")


def han_reading():
    """A three-phase HAN meter push (Kaifa-like list 3): totals, energy, per-phase U and I. Its
    grid phases are its channels, as lib/han/han_source.py sets them."""
    r = Reading("han", ("L1", "L2", "L3"))
    r.grid = r.channels
    r.timestamp = TS
    r.meter_id = "6970631401234567"
    r.meter_model = "MA304H3E"
    r.meter_time = "2025-04-15T18:07:50"
    r.power = 1520
    r.import_power = 1520
    r.export_power = 0
    r.reactive_power = 310
    r.import_wh = 12345678
    r.export_wh = 4321
    r.reactive_import_varh = 234567
    r.reactive_export_varh = 8765
    volts = (231.2, 229.8, 232.5)
    amps = (2.21, 3.4, 1.05)
    for channel, u, i in zip(r.channels, volts, amps):
        channel.voltage = u
        channel.current = i
    return r


def atm_config():
    """Config for a 3-port ATM90E32 board: a grid clamp, a solar clamp, a load with a
    non-ASCII name."""
    return {
        "atm90e32": {
            "ct1": {"name": "", "role": "grid"},
            "ct2": {"name": "Solar", "role": "solar"},
            "ct3": {"name": "Varmepumpe ø°", "role": "load"},
        }
    }


def atm_reading():
    """A 3-port ATM90E32 reading the way lib/atm90e32/atm90e32_source.py fills it (config
    atm_config()):
    channels are named by their port, CT1..CT3, and carry the configured `label` and `role`;
    the grid's one phase and the totals are the "grid" channel's."""
    r = Reading("atm90e32", ("CT1", "CT2", "CT3"))
    r.timestamp = TS
    r.frequency = 50.01
    r.temperature = 31
    grid, solar, heat = r.channels
    for channel, label, role in zip(r.channels, ("", "Solar", "Varmepumpe ø°"),
                                    ("grid", "solar", "load")):
        channel.port = channel.name
        channel.label = label
        channel.role = role
    grid.voltage = 241.37
    grid.current = 6.452
    grid.power = -1523.41
    grid.reactive_power = -322.6
    grid.apparent_power = 1557.38
    grid.power_factor = -0.978
    grid.import_wh = 987654
    grid.export_wh = 123456
    solar.voltage = 241.35
    solar.current = 5.04
    solar.power = 1210.52
    solar.power_factor = 0.995
    solar.import_wh = 15
    solar.export_wh = 54321
    heat.voltage = 241.12
    heat.current = 12.31
    heat.power = 2890.77
    heat.import_wh = 4567
    r.grid = [grid]
    r.power = grid.power
    r.reactive_power = grid.reactive_power
    r.import_wh = grid.import_wh
    r.export_wh = grid.export_wh
    return r


def grid_by_hand():
    """A reading whose grid facts (phases, net power, energy) are set by hand to disagree with
    everything a format could work them out from: channel names, roles, import and export
    power, the channels' sums. A format that renders the source's facts shows these."""
    r = Reading("atm90e32", ("L1", "L2", "L3"))
    for channel, role, p in zip(r.channels, ("load", "grid", "solar"), (100.0, 200.0, 300.0)):
        channel.role = role
        channel.power = p
        channel.voltage = 230.0
        channel.import_wh = 1000
        channel.export_wh = 10
    r.grid = [r.channels[2], r.channels[0]]  # the source's phases: L1 is the channel "L3"
    r.power = 1234.0
    r.import_power = 50.0
    r.export_power = 7.0
    r.import_wh = 5000
    r.export_wh = 7
    return r


# the same reading: kept as a name for the tests written against the source's shape
atm_source_reading = atm_reading


def single_message(format_module, reading, ctx):
    """(topic, parsed JSON) of the one non-retained bytes message a format yields."""
    messages = list(format_module.messages(reading, ctx))
    assert len(messages) == 1
    topic, payload, retain = messages[0]
    assert type(payload) is bytes and retain is False
    return topic, json.loads(payload)
