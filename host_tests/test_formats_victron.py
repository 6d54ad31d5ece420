# portable
# The dbus-mqtt-grid JSON (lib/formats/victron.py): golden payloads and the documented shape
# (dbus-mqtt-grid README and config.sample.ini: root "grid", power W required, kWh energies,
# L1..L3 with power).

import victron
from format_fixtures import (atm_config, atm_reading, context, grid_by_hand, han_reading,
                             single_message)
from reading import Reading

GRID_KEYS = ("power", "voltage", "current", "energy_forward", "energy_reverse", "L1", "L2", "L3")
PHASE_KEYS = ("power", "voltage", "current", "frequency", "power_factor", "energy_forward",
              "energy_reverse")


def _is_number(value):
    return type(value) in (int, float)


def validate_victron(doc):
    """The documented shape: {"grid": {...}} with numbers only, power present everywhere, phase
    power within the driver's 23000 W threshold, energies non-negative."""
    assert list(doc) == ["grid"]
    grid = doc["grid"]
    assert "power" in grid
    for key, value in grid.items():
        assert key in GRID_KEYS, key
        if key in ("L1", "L2", "L3"):
            assert type(value) is dict
            assert "power" in value, key
            assert -23000 <= value["power"] <= 23000
            for field, v in value.items():
                assert field in PHASE_KEYS, (key, field)
                assert _is_number(v), (key, field)
                if field.startswith("energy_"):
                    assert v >= 0
        else:
            assert _is_number(value), key
            if key.startswith("energy_"):
                assert value >= 0
    assert -69000 <= grid["power"] <= 69000


def _ctx(config=None, phases=3):
    """A context whose phase count is known (the firmware learns it: app._learn_grid_phases)."""
    ctx = context(config)
    ctx.grid_phases = phases
    return ctx


def _doc(reading, ctx):
    return single_message(victron, reading, ctx)


def test_han_golden():
    reading = han_reading()
    reading.frequency = 50.02
    for channel, p in zip(reading.channels, (500.5, 520, 499.5)):
        channel.power = p
    topic, doc = _doc(reading, _ctx())
    assert topic == "meters/deadbeef/victron"
    grid = doc["grid"]
    assert grid["power"] == 1520
    assert grid["voltage"] == 231.17  # the mean, at V's resolution
    assert grid["current"] == 6.66
    assert grid["energy_forward"] == 12345.678  # kWh from 12345678 Wh, exactly
    assert grid["energy_reverse"] == 4.321
    assert grid["L1"] == {"power": 500.5, "voltage": 231.2, "current": 2.21, "frequency": 50.02}
    assert grid["L2"] == {"power": 520, "voltage": 229.8, "current": 3.4, "frequency": 50.02}
    assert grid["L3"] == {"power": 499.5, "voltage": 232.5, "current": 1.05, "frequency": 50.02}
    assert sorted(grid) == sorted(GRID_KEYS)
    validate_victron(doc)


def test_nothing_before_the_phase_count_is_known():
    assert list(victron.messages(han_reading(), context())) == []


def test_every_phase_in_every_message_with_the_total_split_where_a_push_has_no_phase_power():
    # a short list (total power only) after the count is known: the driver still gets every
    # phase it set up from its first message, with power (its one required member) adding up
    # to the total and nothing the meter did not give
    r = Reading("han")
    r.power = 1500
    _, doc = _doc(r, _ctx())
    assert doc == {"grid": {"power": 1500, "L1": {"power": 500}, "L2": {"power": 500},
                            "L3": {"power": 500}}}
    validate_victron(doc)
    # a Kaifa-like full list: U and I per phase, no phase power
    _, doc = _doc(han_reading(), _ctx())
    assert doc["grid"]["L1"] == {"power": 506.7, "voltage": 231.2, "current": 2.21}
    assert sorted(k for k in doc["grid"] if k.startswith("L")) == ["L1", "L2", "L3"]
    validate_victron(doc)


def test_atm_grid_channel_is_the_phase():
    ctx = _ctx(dict(atm_config(), victron={"topic": "vic/grid"}), phases=1)
    topic, doc = _doc(atm_reading(), ctx)
    assert topic == "vic/grid"
    assert doc == {
        "grid": {
            "power": -1523.4,
            "voltage": 241.37,
            "current": 6.452,
            "energy_forward": 987.654,
            "energy_reverse": 123.456,
            "L1": {"power": -1523.4, "voltage": 241.37, "current": 6.452, "frequency": 50.01,
                   "power_factor": -0.978, "energy_forward": 987.654, "energy_reverse": 123.456},
        }
    }
    validate_victron(doc)


def test_no_grid_channel_means_no_phase_objects():
    r = Reading("atm90e32", ("CT1",))
    r.power = 100.0
    _, doc = _doc(r, _ctx(phases=0))
    assert doc == {"grid": {"power": 100}}


def test_renders_the_sources_grid_and_works_out_none_of_it():
    # the phases are reading.grid, in its order (not the channels named L1..L3, not the role)
    r = grid_by_hand()
    _, doc = _doc(r, _ctx(phases=2))
    phase = {"power": None, "voltage": 230, "energy_forward": 1.0, "energy_reverse": 0.01}
    assert doc == {"grid": {"power": 1234, "voltage": 230, "energy_forward": 5.0,
                            "energy_reverse": 0.007,
                            "L1": dict(phase, power=300), "L2": dict(phase, power=100)}}
    # without the source's net power there is no message: not import minus export, not the
    # phases' sum
    r.power = None
    assert list(victron.messages(r, _ctx(phases=2))) == []
    # without its energy, no energy: not the phases' sums
    r.power = 1234.0
    r.import_wh = r.export_wh = None
    _, doc = _doc(r, _ctx(phases=2))
    assert "energy_forward" not in doc["grid"] and "energy_reverse" not in doc["grid"]
    # no grid phases from the source: none from the channels' names or roles
    r.grid = []
    _, doc = _doc(r, _ctx(phases=0))
    assert doc == {"grid": {"power": 1234}}


def test_absurd_phase_power_is_replaced_and_absurd_total_sends_nothing():
    r = han_reading()
    for channel, p in zip(r.channels, (100.0, 23001.0, float("nan"))):
        channel.power = p
    _, doc = _doc(r, _ctx())
    assert doc["grid"]["L1"]["power"] == 100
    assert doc["grid"]["L2"]["power"] == 506.7  # the driver would drop 23001 W: the share
    assert doc["grid"]["L3"]["power"] == 506.7
    validate_victron(doc)
    r.power = 69001
    assert list(victron.messages(r, _ctx())) == []


def test_no_power_no_message():
    # without the one required value the driver would log an error for every message
    r = Reading("atm90e32", ("CT1",))
    r.channels[0].voltage = 230.0
    assert list(victron.messages(r, _ctx())) == []


def test_energy_text_is_exact_for_large_and_small_counters():
    r = Reading("han")
    r.power = 0
    r.import_wh = 987654321012
    r.export_wh = 7
    payload = list(victron.messages(r, _ctx(phases=0)))[0][1]
    assert b'"energy_forward":987654321.012' in payload
    assert b'"energy_reverse":0.007' in payload
