# portable
# Per-value topics (lib/formats/values.py): one retained plain-number payload per value.
from format_fixtures import TS, atm_config, atm_reading, context, han_reading
from reading import Reading
from values import messages


def _table(reading, ctx):
    out = {}
    for topic, payload, retain in messages(reading, ctx):
        assert retain is True
        assert type(payload) is bytes
        assert topic not in out
        out[topic] = float(payload) if b"." in payload or b"e" in payload else int(payload)
    return out


def test_han_golden():
    table = _table(han_reading(), context())
    base = "meters/deadbeef/values/"
    assert table == {
        base + "ts": TS,
        base + "p": 1520,
        base + "p_imp": 1520,
        base + "p_exp": 0,
        base + "q": 310,
        base + "e_imp": 12345678,
        base + "e_exp": 4321,
        base + "eq_imp": 234567,
        base + "eq_exp": 8765,
        base + "L1/u": 231.2,
        base + "L1/i": 2.21,
        base + "L2/u": 229.8,
        base + "L2/i": 3.4,
        base + "L3/u": 232.5,
        base + "L3/i": 1.05,
    }


def test_channel_topic_levels_are_ascii_and_safe():
    r = Reading("atm90e32", ("a/b", "x+#", "Varmepumpe ø°"))
    for channel in r.channels:
        channel.power = 1.5
    topics = sorted(_table(r, context()))
    assert topics == [
        "meters/deadbeef/values/Varmepumpe_20_c3_b8_c2_b0/p",
        "meters/deadbeef/values/a_2fb/p",
        "meters/deadbeef/values/x_2b_23/p",
    ]


def test_bad_values_are_left_out():
    r = atm_reading()
    r.frequency = float("nan")
    r.temperature = "31"
    r.channels[0].voltage = float("inf")
    table = _table(r, context(atm_config()))
    assert "meters/deadbeef/values/f" not in table
    assert "meters/deadbeef/values/t" not in table
    assert "meters/deadbeef/values/CT1/u" not in table
    assert table["meters/deadbeef/values/CT1/p"] == -1523.4  # W at 0.1


def test_numbers_are_the_rounded_decimal_text():
    r = Reading("atm90e32", ("CT1",))
    ch = r.channels[0]
    ch.current = 8.928000000000001
    ch.voltage = 231.05000000000004
    ch.power_factor = -0.0004
    ch.frequency = 50.0
    payloads = {topic.rsplit("/", 1)[1]: payload for topic, payload, _ in messages(r, context())}
    assert payloads == {"i": b"8.928", "u": b"231.05", "pf": b"0", "f": b"50"}
