# portable
# The CT6 JSON (lib/formats/ct6.py): golden payload and the documented shape (docs/atm90e32.md
# §11.4).
import json

import ct6
from format_fixtures import TS, atm_config, atm_reading, context, han_reading
from reading import Reading

PORT_KEYS = ("CT1", "CT2", "CT3", "CT4", "CT5", "CT6")
# every key a CT6 (firmware 3.1) port object has, and which of them are text
PORT_FIELDS = ("TYPE", "NAME", "VRMS", "IRMS", "IPEAK", "PRMS", "PREACT", "PAPPARENT", "PF",
               "TEMP", "FREQ")
PORT_TEXT = ("TYPE", "NAME")
TOP_FIELDS = ("READ_TIME_NS", "RSSI", "BOARD_TEMPERATURE", "ASSY", "YDEV_UNIT_NAME",
              "FIRMWARE_VERSION", "ACTIVE", "PF_WATTS_THRESHOLD", "TIMESENT")
TOP_TEXT = ("ASSY", "YDEV_UNIT_NAME", "FIRMWARE_VERSION")


def _is_number(value):
    return type(value) in (int, float)


def validate_ct6(doc):
    """Checks `doc` against the documented CT6 shape: keys, types, units' plausible ranges."""
    assert type(doc) is dict
    for key, value in doc.items():
        if key in PORT_KEYS:
            assert type(value) is dict, key
            for field, v in value.items():
                assert field in PORT_FIELDS, (key, field)
                if field in PORT_TEXT:
                    assert type(v) is str
                else:
                    assert _is_number(v), (key, field, v)
            if "PF" in value:
                assert -1 <= value["PF"] <= 1
            if "FREQ" in value:
                assert 40 <= value["FREQ"] <= 70
            if "VRMS" in value:
                assert 0 <= value["VRMS"] <= 500
            if "IRMS" in value:
                assert value["IRMS"] >= 0
        else:
            assert key in TOP_FIELDS, key
            if key in TOP_TEXT:
                assert type(value) is str
            elif key == "TIMESENT":
                assert type(value) is list and len(value) == 9
                for v in value:
                    assert type(v) is int
            else:
                assert _is_number(value)


def _doc(reading, ctx):
    messages = list(ct6.messages(reading, ctx))
    assert len(messages) == 1
    topic, payload, retain = messages[0]
    assert type(payload) is bytes and retain is False
    return topic, json.loads(payload.decode("utf-8"))


def test_atm_golden():
    # the CT6's sign (import negative): the grid clamp exporting 1523.4 W reads +1523.4
    topic, doc = _doc(atm_reading(), context(atm_config()))
    assert topic == "meters/deadbeef/ct6"
    assert doc == {
        "CT1": {"NAME": "", "VRMS": 241.37, "IRMS": 6.452, "PRMS": 1523.4, "PREACT": 322.6,
                "PAPPARENT": 1557.4, "PF": 0.978},
        "CT2": {"NAME": "Solar", "VRMS": 241.35, "IRMS": 5.04, "PRMS": -1210.5, "PF": -0.995},
        "CT3": {"NAME": "Varmepumpe ø°", "VRMS": 241.12, "IRMS": 12.31, "PRMS": -2890.8},
        "YDEV_UNIT_NAME": "Meter deadbeef",
        "FIRMWARE_VERSION": "1.2.3",
        "ACTIVE": 1,
        "TIMESENT": [2025, 4, 15, 16, 7, 51, 1, 105, TS],
    }
    validate_ct6(doc)


def test_ports_are_the_channels_ports_whatever_their_names():
    r = Reading("atm90e32", ("CT4", "CT2"))
    r.channels[0].power = 10.0
    r.channels[0].label = "Garage"
    r.channels[1].power = 20.0
    _, doc = _doc(r, context())
    assert doc["CT4"] == {"NAME": "Garage", "PRMS": -10.0}
    assert doc["CT2"] == {"NAME": "", "PRMS": -20.0}
    assert "CT1" not in doc


def test_han_total_is_ct1_and_phases_with_power_are_ct2_to_ct4():
    r = han_reading()
    _, doc = _doc(r, context())
    # Kaifa-like list: per phase only U and I, no phase power: the phases have no port
    assert doc["CT1"] == {"NAME": "total", "PRMS": -1520, "PREACT": -310}
    assert not [k for k in doc if k in PORT_KEYS and k != "CT1"]
    for channel, power in zip(r.channels, (500.5, 600.24, 419.0)):
        channel.power = power
    r.frequency = 50.02
    _, doc = _doc(r, context())
    assert doc["CT1"] == {"NAME": "total", "PRMS": -1520, "PREACT": -310, "FREQ": 50.02}
    assert doc["CT2"] == {"NAME": "L1", "VRMS": 231.2, "IRMS": 2.21, "PRMS": -500.5}
    assert doc["CT3"] == {"NAME": "L2", "VRMS": 229.8, "IRMS": 3.4, "PRMS": -600.2}
    assert doc["CT4"] == {"NAME": "L3", "VRMS": 232.5, "IRMS": 1.05, "PRMS": -419}
    validate_ct6(doc)


def test_every_port_carries_prms():
    r = atm_reading()
    r.timestamp = None
    r.channels[0].power = float("nan")  # a chip that did not answer this cycle
    r.channels[1].power_factor = None
    topic, doc = _doc(r, context({"ct6": {"topic": "ct6/house"}}))
    assert topic == "ct6/house"
    assert "TIMESENT" not in doc
    assert "CT1" not in doc  # no power, no port in this message
    assert "PF" not in doc["CT2"]
    for key in PORT_KEYS:
        if key in doc:
            assert "PRMS" in doc[key]
    validate_ct6(doc)
