# portable
# The one quantity table (quantities.QUANTITIES): every number every format publishes is one of its
# rows, with that row's key for the format, and is written at the row's resolution with the same
# text on CPython, the 64-bit unix port and the float32 builds.
import json

import ct6
import native
import tasmota
import values
import victron
from format_fixtures import atm_config, atm_reading, context, han_reading
from json_writer import JsonWriter
from quantities import QUANTITIES, S_CHANNEL, S_TOTAL, quantity

# the columns of a QUANTITIES row
Q_KEY, Q_ATTR, Q_UNIT, Q_SCOPE, Q_CLASS, Q_DEC, Q_TBIT, Q_CBIT, Q_CT6, Q_GRID = range(10)


def fixed_text(value, decimals):
    return JsonWriter().number_text(value, decimals)

# numbers that are not measurements: counters, clocks and flags
NATIVE_META = ("seq", "ts")
CT6_META = ("ACTIVE", "TIMESENT")


def _keys(column, scope=S_TOTAL | S_CHANNEL):
    return [row[column] for row in QUANTITIES if row[column] and row[Q_SCOPE] & scope]


def _full_readings():
    han = han_reading()
    han.frequency = 50.0
    for channel, power in zip(han.channels, (400.25, 500.5, 619.0)):
        channel.power = power
        channel.power_factor = 0.9
        channel.import_wh = 1000
    return ((han, context()), (atm_reading(), context(atm_config())))


def _numbers(obj, path=""):
    """(path, key, value) of every number in a parsed JSON object."""
    for key, value in obj.items():
        if type(value) is dict:
            yield from _numbers(value, path + key + ".")
        elif type(value) in (int, float):
            yield path, key, value


def test_native_numbers_are_table_rows():
    totals = _keys(Q_KEY, S_TOTAL)
    channel_keys = _keys(Q_KEY, S_CHANNEL)
    for reading, ctx in _full_readings():
        state = json.loads(native.state_payload(reading, ctx))
        for path, key, _value in _numbers(state):
            if path == "":
                assert key in totals or key in NATIVE_META, key
            else:
                assert path.startswith("ch.") and key in channel_keys, (path, key)


def test_values_topics_are_table_rows():
    keys = _keys(Q_KEY)
    for reading, ctx in _full_readings():
        for topic, _payload, _ in values.messages(reading, ctx):
            key = topic.rsplit("/", 1)[1]
            assert key in keys or key in NATIVE_META, topic


def test_ct6_numbers_are_table_rows():
    keys = _keys(Q_CT6, S_CHANNEL)
    for reading, ctx in _full_readings():
        doc = json.loads(ct6.write(reading, ctx))
        for path, key, _value in _numbers(doc):
            if path:
                assert key in keys, (path, key)
            else:
                assert key in CT6_META, key
        assert "PF" in json.dumps(doc) or reading.source == "han"


def test_victron_and_tasmota_numbers_are_table_rows():
    keys = _keys(Q_GRID)
    phase_power = ["power_L%d" % n for n in (1, 2, 3)]
    for reading, ctx in _full_readings():
        ctx.grid_phases = 3
        doc = json.loads(victron.write(reading, ctx))
        for _path, key, _value in _numbers(doc):
            assert key in keys, key
        doc = json.loads(tasmota.write(reading, ctx))
        for _path, key, _value in _numbers(doc):
            assert key in keys or key in phase_power, key


def test_table_rows_are_complete_and_keys_unique():
    seen = []
    for row in QUANTITIES:
        assert len(row) == 10
        assert row[Q_KEY] not in seen
        seen.append(row[Q_KEY])
        assert 0 <= row[Q_DEC] <= 3
        assert quantity(row[Q_KEY]) is row
    assert quantity("nope") is None


# (value, decimals, text): the resolutions of the table, float noise as CPython leaves it,
# ties and negatives
CASES = (
    (8.928000000000001, 3, b"8.928"),
    (0.9429999999999999, 3, b"0.943"),
    (231.05000000000004, 2, b"231.05"),
    (1523.41, 1, b"1523.4"),
    (-1523.41, 1, b"-1523.4"),
    (-0.04, 1, b"0"),
    (-0.0501, 1, b"-0.1"),
    (0.005, 3, b"0.005"),
    (-0.0012, 3, b"-0.001"),
    (50.0, 2, b"50"),
    (49.999, 2, b"50"),
    (0.1, 1, b"0.1"),
    (12.5, 0, b"12"),
    (13.5, 0, b"14"),
    (123456.7, 1, b"123456.7"),
    (7, 3, b"7"),
    (-12, 1, b"-12"),
)


def test_rounded_text_is_the_same_on_every_port():
    for value, decimals, text in CASES:
        assert fixed_text(value, decimals) == text, (value, decimals, fixed_text(value, decimals))
        writer = JsonWriter()
        writer.begin()
        assert writer.quantity(b"x", value, decimals)
        writer.end()
        assert writer.payload() == b'{"x":' + text + b"}", (value, writer.payload())


def test_rounding_rejects_what_is_no_number():
    writer = JsonWriter()
    writer.begin()
    for bad in (None, True, "1", float("nan"), float("inf"), float("-inf"), 1e308):
        assert fixed_text(bad, 3) is None
        assert not writer.quantity(b"x", bad, 3)
    writer.end()
    assert writer.payload() == b"{}"


def test_home_assistant_rows_keep_their_key_set_bits():
    # the bits are persisted (ha_keys): the sensors at each bit must never move
    import home_assistant

    assert [r[Q_KEY] for r in home_assistant.TOTAL_SENSORS] == [
        "p", "p_imp", "p_exp", "q", "e_imp", "e_exp", "eq_imp", "eq_exp", "f", "t"]
    assert [r[Q_KEY] for r in home_assistant.CHANNEL_SENSORS] == [
        "u", "i", "p", "p_imp", "p_exp", "q", "s", "pf", "f", "t", "e_imp", "e_exp"]
