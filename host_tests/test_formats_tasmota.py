# portable
# Tasmota SML telemetry (lib/formats/tasmota.py) as dbus-mqtt-grid's Tasmota mode reads it
# (its README: a "grid" object holding power, power_L1..power_L3 in W, energy_forward /
# energy_reverse in kWh).

import tasmota
from civil_time import civil, iso_utc
from format_fixtures import (atm_config, atm_reading, context, grid_by_hand, han_reading,
                             single_message)
from reading import Reading

DRIVER_KEYS = ("power", "power_L1", "power_L2", "power_L3", "energy_forward", "energy_reverse")


def _doc(reading, ctx):
    topic, doc = single_message(tasmota, reading, ctx)
    for key in doc[ctx.tasmota_prefix]:
        assert key in DRIVER_KEYS, key  # exactly the keys the driver reads
    return topic, doc


def test_han_golden():
    reading = han_reading()
    reading.channels[0].power = 60
    reading.channels[1].power = -111.04
    reading.channels[2].power = 14
    topic, doc = _doc(reading, context())
    assert topic == "tele/deadbeef/SENSOR"
    assert doc == {
        "Time": "2025-04-15T16:07:51",
        "grid": {
            "power": 1520,
            "power_L1": 60,
            "power_L2": -111,
            "power_L3": 14,
            "energy_forward": 12345.678,
            "energy_reverse": 4.321,
        },
    }


def test_phases_without_power_in_this_push_have_no_key():
    _, doc = _doc(han_reading(), context())  # Kaifa-like: per phase U and I only
    assert doc["grid"] == {"power": 1520, "energy_forward": 12345.678, "energy_reverse": 4.321}


def test_topic_and_prefix_settings():
    topic, doc = _doc(han_reading(), context({"tasmota": {"topic": "meter_1", "prefix": "MT"}}))
    assert topic == "tele/meter_1/SENSOR"
    assert sorted(doc) == ["MT", "Time"]
    assert doc["MT"]["power"] == 1520


def test_atm_grid_channel_feeds_the_totals():
    _, doc = _doc(atm_reading(), context(atm_config()))
    assert doc["grid"] == {
        "power": -1523.4,
        "power_L1": -1523.4,
        "energy_forward": 987.654,
        "energy_reverse": 123.456,
    }


def test_renders_the_sources_grid_and_works_out_none_of_it():
    # the phases are reading.grid, in its order (not the channels named L1..L3, not the role)
    r = grid_by_hand()
    r.timestamp = None
    _, doc = _doc(r, context())
    assert doc == {"grid": {"power": 1234, "power_L1": 300, "power_L2": 100,
                            "energy_forward": 5.0, "energy_reverse": 0.007}}
    # nothing the source did not give: no import minus export, no sums over the phases
    r.power = r.import_wh = r.export_wh = None
    r.grid = []
    _, doc = _doc(r, context())
    assert doc == {"grid": {}}


def test_time_falls_back_to_the_meter_clock_then_to_nothing():
    r = Reading("han")
    r.power = 5
    r.meter_time = "2025-04-15T18:07:50+02:00"
    _, doc = _doc(r, context())
    assert doc["Time"] == "2025-04-15T18:07:50"
    r.meter_time = "garbage"
    _, doc = _doc(r, context())
    assert "Time" not in doc
    assert doc["grid"] == {"power": 5}


def test_civil_time_known_dates():
    assert civil(0) == (1970, 1, 1, 0, 0, 0, 3, 1)
    assert civil(951782400) == (2000, 2, 29, 0, 0, 0, 1, 60)  # a leap day in a 400-year leap
    assert civil(4107456000) == (2100, 2, 28, 0, 0, 0, 6, 59)  # 2100 is not a leap year
    assert civil(1735689599) == (2024, 12, 31, 23, 59, 59, 1, 366)
    assert iso_utc(1744733271) == "2025-04-15T16:07:51"
