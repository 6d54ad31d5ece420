# portable
# PublishContext (lib/formats/publish_context.py): config keys and defaults, topics, enabled
# formats.
import json

import config_schema
from format_fixtures import FakeBoard, context, han_reading, validated
from outputs import reading_messages
from publish_context import build


def test_defaults():
    ctx = context({})
    assert ctx.device_id == "deadbeef"  # the board's unique id in hex
    assert ctx.prefix == "meters"
    assert ctx.base == "meters/deadbeef"
    assert ctx.state_topic == "meters/deadbeef/state"
    assert ctx.status_topic == "meters/deadbeef/status"
    assert ctx.sw_version == "1.2.3"
    assert ctx.model == "Simulated board"
    assert ctx.source == "han"
    assert ctx.native_enabled is True
    assert ctx.ha_enabled is True
    assert ctx.ha_prefix == "homeassistant"
    assert ctx.ct6_enabled is False and ctx.ct6_topic == "meters/deadbeef/ct6"
    assert ctx.victron_enabled is False and ctx.victron_topic == "meters/deadbeef/victron"
    assert ctx.tasmota_enabled is False
    assert ctx.tasmota_topic == "tele/deadbeef/SENSOR"
    assert ctx.tasmota_prefix == "grid"  # the object name dbus-mqtt-grid reads
    assert ctx.values_enabled is False


def test_every_setting_is_read():
    config = {
        "device_id": "house",
        "source": "atm90e32",
        "mqtt": {"prefix": "p/q"},
        "native": {"enabled": False},
        "homeassistant": {"enabled": False, "prefix": "hass"},
        "ct6": {"enabled": True, "topic": "ct6"},
        "victron": {"enabled": True, "topic": "venus/grid"},
        "tasmota": {"enabled": True, "topic": "sml1", "prefix": "MT"},
        "values": {"enabled": True},
    }
    ctx = build(validated(config), FakeBoard(), "9")
    assert ctx.base == "p/q/house"
    assert ctx.source == "atm90e32"
    assert ctx.native_enabled is False and ctx.ha_enabled is False
    assert ctx.ha_prefix == "hass"
    assert (ctx.ct6_enabled, ctx.ct6_topic) == (True, "ct6")
    assert (ctx.victron_enabled, ctx.victron_topic) == (True, "venus/grid")
    assert (ctx.tasmota_enabled, ctx.tasmota_topic) == (True, "tele/sml1/SENSOR")
    assert ctx.tasmota_prefix == "MT"
    assert ctx.values_enabled is True


def test_the_context_has_no_defaults_of_its_own():
    # the schema's are the only ones: a config that is not complete is not the firmware's
    # (build() reads every setting as it is), and the shapes build() once patched up never get
    # past the schema
    for key in ("device_id", "mqtt", "homeassistant", "tasmota"):
        partial = validated()
        del partial[key]
        try:
            build(partial, FakeBoard(), "1")
        except KeyError:
            pass
        else:
            raise AssertionError("built without " + key)
    for config in (None, [], "x", {"mqtt": "x"}, {"homeassistant": [1]},
                   {"ct6": {"enabled": "yes"}}, {"device_id": 5}, {"tasmota": {"topic": 7}},
                   {"mqtt": {"prefix": "/meters"}}, {"ct6": {"topic": "ct6/house/"}},
                   {"homeassistant": {"prefix": ""}}, {"tasmota": {"prefix": ""}}):
        assert config_schema.load_dict(config)[2] is not None, config
    # what the schema documents as derived is: "empty = the format's default", the board's id
    ctx = build(validated({"device_id": "", "ct6": {"topic": ""}}), FakeBoard(), "1")
    assert (ctx.device_id, ctx.ct6_topic) == ("deadbeef", "meters/deadbeef/ct6")


def test_board_without_unique_id():
    ctx = build(validated(), object(), "1")
    assert ctx.device_id == "meter"
    assert ctx.model == "meter reader"


def test_reading_messages_follow_the_enabled_flags():
    reading = han_reading()
    reading.channels[0].power = 100.0
    everything = {"ct6": {"enabled": True}, "victron": {"enabled": True},
                  "tasmota": {"enabled": True}, "values": {"enabled": True}}
    ctx = context(everything)
    ctx.grid_phases = 3  # what the firmware learns from this reading (app._learn_grid_phases)
    topics = [t for t, _, _ in reading_messages(reading, ctx)]
    assert topics[:4] == ["meters/deadbeef/state", "meters/deadbeef/ct6",
                          "meters/deadbeef/victron", "tele/deadbeef/SENSOR"]
    assert all(t.startswith("meters/deadbeef/values/") for t in topics[4:])
    assert len(topics) > 10

    only_native = {"homeassistant": {"enabled": False}}
    assert [t for t, _, _ in reading_messages(reading, context(only_native))] == [
        "meters/deadbeef/state"
    ]
    nothing = {"native": {"enabled": False}, "homeassistant": {"enabled": False}}
    assert list(reading_messages(reading, context(nothing))) == []
    # Home Assistant's sensors read the state topic: it goes out for them too
    ha_only = {"native": {"enabled": False}}
    messages = list(reading_messages(reading, context(ha_only)))
    assert [t for t, _, _ in messages] == ["meters/deadbeef/state"]
    assert json.loads(messages[0][1])["p"] == 1520
