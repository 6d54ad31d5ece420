# portable
# Tasmota SML telemetry (lib/tasmota.py): golden payloads with the names evcc reads
# (Tasmota docs, Smart-Meter-Interface).

import tasmota
from civil_time import civil, iso_utc
from format_fixtures import atm_config, atm_reading, context, han_reading, single_message
from reading import Reading


def _doc(reading, ctx):
    return single_message(tasmota, reading, ctx)


def test_han_golden():
    reading = han_reading()
    reading.channels[0].power = 60
    reading.channels[1].power = -111
    reading.channels[2].power = 14
    topic, doc = _doc(reading, context())
    assert topic == "tele/deadbeef/SENSOR"
    assert doc == {
        "Time": "2025-04-15T16:07:51",
        "SML": {
            "Total_in": 12345.678,
            "Total_out": 4.321,
            "Power_curr": 1520,
            "Meter_Id": "6970631401234567",
            "power_l1": 60, "voltage_l1": 231.2, "current_l1": 2.21,
            "power_l2": -111, "voltage_l2": 229.8, "current_l2": 3.4,
            "power_l3": 14, "voltage_l3": 232.5, "current_l3": 1.05,
        },
    }


def test_topic_and_prefix_settings():
    topic, doc = _doc(han_reading(), context({"tasmota": {"topic": "meter_1", "prefix": "grid"}}))
    assert topic == "tele/meter_1/SENSOR"
    assert list(doc) == ["Time", "grid"] or sorted(doc) == ["Time", "grid"]
    assert doc["grid"]["Power_curr"] == 1520


def test_atm_grid_channel_feeds_the_totals():
    _, doc = _doc(atm_reading(), context(atm_config()))
    assert doc["SML"] == {
        "Total_in": 987.654,
        "Total_out": 123.456,
        "Power_curr": -1523.41,
        "power_l1": -1523.41,
        "voltage_l1": 241.37,
        "current_l1": 6.452,
    }


def test_time_falls_back_to_the_meter_clock_then_to_nothing():
    r = Reading("han")
    r.power = 5
    r.meter_time = "2025-04-15T18:07:50+02:00"
    _, doc = _doc(r, context())
    assert doc["Time"] == "2025-04-15T18:07:50"
    r.meter_time = "garbage"
    _, doc = _doc(r, context())
    assert "Time" not in doc
    assert doc["SML"] == {"Power_curr": 5}


def test_civil_time_known_dates():
    assert civil(0) == (1970, 1, 1, 0, 0, 0, 3, 1)
    assert civil(951782400) == (2000, 2, 29, 0, 0, 0, 1, 60)  # a leap day in a 400-year leap
    assert civil(4107456000) == (2100, 2, 28, 0, 0, 0, 6, 59)  # 2100 is not a leap year
    assert civil(1735689599) == (2024, 12, 31, 23, 59, 59, 1, 366)
    assert iso_utc(1744733271) == "2025-04-15T16:07:51"
