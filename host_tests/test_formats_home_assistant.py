# portable
# Home Assistant discovery (lib/formats/home_assistant.py): topics, config payloads, key sets,
# removals. Template rendering with Jinja2 is in test_formats_ha_templates.py (CPython).
import json

import ha_removals
import home_assistant
from format_fixtures import atm_config, atm_reading, context, han_reading
from reading import Reading


def _configs(reading, ctx):
    out = {}
    for topic, payload, retain in home_assistant.discovery(reading, ctx):
        assert retain is True
        assert type(payload) is bytes
        assert topic not in out
        out[topic] = json.loads(payload.decode("utf-8"))
    return out


def _valid_entity_id(entity_id):
    # HA's valid_entity_id: <domain>.<object id>, lowercase letters, digits, single inner "_"
    domain, dot, object_id = entity_id.partition(".")
    if domain != "sensor" or not dot or not object_id:
        return False
    if object_id.startswith("_") or object_id.endswith("_") or "__" in object_id:
        return False
    for ch in object_id:
        if not ("a" <= ch <= "z" or "0" <= ch <= "9" or ch == "_"):
            return False
    return True


def _topic_id_ok(object_id):
    for ch in object_id:
        if not ("a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9" or ch in "_-"):
            return False
    return True


def test_han_sensor_set_and_topics():
    configs = _configs(han_reading(), context())
    expected_keys = [
        "p", "p_imp", "p_exp", "q", "e_imp", "e_exp", "eq_imp", "eq_exp",
        "L1_u", "L1_i", "L2_u", "L2_i", "L3_u", "L3_i",
    ]
    expected = sorted("homeassistant/sensor/deadbeef_%s/config" % k for k in expected_keys)
    assert sorted(configs) == expected


def test_energy_import_config_golden():
    configs = _configs(han_reading(), context())
    assert configs["homeassistant/sensor/deadbeef_e_imp/config"] == {
        "~": "meters/deadbeef",
        "name": "Energy import",
        "uniq_id": "deadbeef_e_imp",
        "def_ent_id": "sensor.deadbeef_e_imp",
        "stat_t": "~/state",
        "val_tpl": "{{ value_json.get('e_imp','') }}",
        "dev_cla": "energy",
        "unit_of_meas": "Wh",
        "stat_cla": "total_increasing",
        "sug_dsp_prc": 0,
        "avty_t": "~/status",
        "dev": {
            "ids": ["deadbeef"],
            "name": "Meter deadbeef",
            "mf": "meter-reader",
            "mdl": "Simulated board",
            "sw": "1.2.3",
        },
        "o": {"name": "meter-reader", "sw": "1.2.3"},
    }


def test_classes_and_units_per_quantity():
    configs = _configs(atm_reading(), context(atm_config()))
    by_id = {}
    for config in configs.values():
        by_id[config["uniq_id"]] = config
    expect = {
        "deadbeef_f": ("frequency", "Hz", "measurement"),
        "deadbeef_t": ("temperature", "°C", "measurement"),
        "deadbeef_CT1_u": ("voltage", "V", "measurement"),
        "deadbeef_CT1_i": ("current", "A", "measurement"),
        "deadbeef_CT1_p": ("power", "W", "measurement"),
        "deadbeef_CT1_p_imp": ("power", "W", "measurement"),
        "deadbeef_CT1_p_exp": ("power", "W", "measurement"),
        "deadbeef_CT1_q": ("reactive_power", "var", "measurement"),
        "deadbeef_CT1_s": ("apparent_power", "VA", "measurement"),
        "deadbeef_CT1_pf": ("power_factor", None, "measurement"),
        "deadbeef_CT1_e_imp": ("energy", "Wh", "total_increasing"),
        "deadbeef_CT1_e_exp": ("energy", "Wh", "total_increasing"),
    }
    for unique_id, (device_class, unit, state_class) in expect.items():
        config = by_id[unique_id]
        assert config["dev_cla"] == device_class, unique_id
        assert config.get("unit_of_meas") == unit, unique_id
        assert config["stat_cla"] == state_class, unique_id
    assert by_id["deadbeef_t"]["ent_cat"] == "diagnostic"
    assert "ent_cat" not in by_id["deadbeef_CT1_p"]


def test_grid_channel_is_split_solar_and_load_are_not():
    ctx = context(atm_config())
    keys = ha_removals.entity_keys(atm_reading(), ctx)
    assert "CT1_p_imp" in keys and "CT1_p_exp" in keys
    assert "CT2_p" in keys and "CT2_p_imp" not in keys and "CT2_p_exp" not in keys
    assert "CT3_p" in keys and "CT3_p_imp" not in keys


def atm_reading_without_roles():
    reading = atm_reading()
    for channel in reading.channels:
        channel.role = None
    return reading


def test_without_roles_a_channel_counting_export_is_split():
    ctx = context()  # no roles configured: the source's export counter decides
    keys = ha_removals.entity_keys(atm_reading(), ctx)
    keys = ha_removals.entity_keys(atm_reading_without_roles(), ctx)
    assert "CT1_p_imp" in keys and "CT2_p_exp" in keys
    assert "CT3_p_imp" not in keys  # no export counter: one-way


def test_every_config_is_well_formed():
    for reading, ctx in ((han_reading(), context()), (atm_reading(), context(atm_config()))):
        configs = _configs(reading, ctx)
        assert configs
        for topic, config in configs.items():
            object_id = topic.split("/")[2]
            assert topic == "homeassistant/sensor/%s/config" % object_id
            assert _topic_id_ok(object_id), topic
            assert object_id == config["uniq_id"]
            assert _valid_entity_id(config["def_ent_id"]), config["def_ent_id"]
            assert "obj_id" not in config and "object_id" not in config
            assert config["stat_t"] == "~/state" and config["avty_t"] == "~/status"
            assert config["~"] == ctx.base
            assert config["dev"]["ids"] == [ctx.device_id]
            assert config["val_tpl"].startswith("{")


def test_non_ascii_channel_name_in_names_and_ids():
    ctx = context(atm_config())
    configs = _configs(atm_reading(), ctx)
    heat = [c for c in configs.values() if c["name"] == "Varmepumpe ø° voltage"]
    assert len(heat) == 1
    config = heat[0]
    # the port is the id, the state key and the template's key; the label is the name only
    assert config["uniq_id"] == "deadbeef_CT3_u"
    assert config["val_tpl"] == "{{ value_json.get('ch',{}).get('CT3',{}).get('u','') }}"
    raw = b""
    for topic, payload, _ in home_assistant.discovery(atm_reading(), ctx):
        if topic.endswith("_CT3_u/config"):
            raw = payload
    assert "Varmepumpe ø° voltage".encode("utf-8") in raw


def test_renaming_a_port_renames_entities_and_keeps_every_id_and_topic():
    ctx = context(atm_config())
    before = _configs(atm_reading(), ctx)
    renamed = atm_reading()
    renamed.channels[2].label = "Heat pump"
    after = _configs(renamed, ctx)
    assert sorted(after) == sorted(before)  # the same discovery topics
    for topic, config in after.items():
        old = before[topic]
        assert config["uniq_id"] == old["uniq_id"] and config["val_tpl"] == old["val_tpl"]
        assert config["def_ent_id"] == old["def_ent_id"]
        if "_CT3_" in topic:
            assert config["name"].startswith("Heat pump ")
        else:
            assert config["name"] == old["name"]


def test_slug_is_injective_and_keeps_plain_names():
    assert home_assistant.slug("CT1") == "CT1"
    assert home_assistant.slug("a-b") == "a-b"
    names = ["ø", "å", "a b", "a_b", "a_5fb", "_", "__", "a/b", "a+b", "a#b", "", "ø1", "_c3_b81"]
    slugs = [home_assistant.slug(n) for n in names]
    assert len(set(slugs)) == len(names)
    for s in slugs:
        assert _topic_id_ok(s)


def test_quote_in_channel_name_is_escaped_in_template():
    r = Reading("atm90e32", ("it's \\ here",))
    r.channels[0].voltage = 230.0
    configs = _configs(r, context())
    (config,) = configs.values()
    assert config["val_tpl"] == (
        "{{ value_json.get('ch',{}).get('it\\'s \\\\ here',{}).get('u','') }}"
    )


def test_key_set_round_trips_through_keys():
    ctx = context(atm_config())
    reading = atm_reading()
    signature = home_assistant.key_set(reading, ctx)
    assert type(signature) is str
    announced = sorted(
        topic.split("/")[2][len("deadbeef_") :]
        for topic, _, _ in home_assistant.discovery(reading, ctx)
    )
    assert sorted(ha_removals.keys(signature)) == announced
    assert sorted(ha_removals.entity_keys(reading, ctx)) == announced


def test_key_set_changes_when_a_quantity_appears():
    ctx = context()
    reading = han_reading()
    before = home_assistant.key_set(reading, ctx)
    assert home_assistant.key_set(reading, ctx) == before
    reading.channels[0].power = 12.5
    after = home_assistant.key_set(reading, ctx)
    assert after != before
    assert "L1_p" in list(ha_removals.keys(after))


def test_removals_for_gone_entities_only():
    ctx = context()
    three = han_reading()
    previous = home_assistant.key_set(three, ctx)
    one = han_reading()
    one.set_channels(("L1",))
    one.channels[0].voltage = 230.0
    one.reactive_power = None
    current = home_assistant.key_set(one, ctx)
    removed = list(ha_removals.removals(previous, current, ctx))
    for _topic, payload, retain in removed:
        assert payload == b"" and retain is True
    topics = sorted(t for t, _, _ in removed)
    assert topics == sorted(
        "homeassistant/sensor/deadbeef_%s/config" % k
        for k in ("q", "L1_i", "L2_u", "L2_i", "L3_u", "L3_i")
    )
    # lists from entity_keys() work the same
    listed = list(
        ha_removals.removals(
            ha_removals.entity_keys(three, ctx), ha_removals.entity_keys(one, ctx), ctx
        )
    )
    assert sorted(t for t, _, _ in listed) == topics


def test_removals_with_nothing_or_garbage_previous():
    ctx = context()
    current = home_assistant.key_set(han_reading(), ctx)
    assert list(ha_removals.removals(None, current, ctx)) == []
    assert list(ha_removals.removals("", current, ctx)) == []
    assert list(ha_removals.removals(42, current, ctx)) == []
    assert list(ha_removals.removals("zz,:1,L1:xyz,L2", current, ctx)) == []
    bad = ["p", "a/b", "#", "", 7, "L9_u"]
    topics = [t for t, _, _ in ha_removals.removals(bad, current, ctx)]
    assert topics == ["homeassistant/sensor/deadbeef_L9_u/config"]


def test_removing_everything_when_disabled():
    enabled = context()
    reading = han_reading()
    previous = ha_removals.entity_keys(reading, enabled)
    disabled = context({"homeassistant": {"enabled": False}})
    assert list(home_assistant.discovery(reading, disabled)) == []
    removed = list(ha_removals.removals(previous, "", disabled))
    assert len(removed) == len(previous)


def test_custom_prefixes_and_device_id():
    ctx = context({"device_id": "kitchen-1", "homeassistant": {"prefix": "ha"}})
    configs = _configs(han_reading(), ctx)
    assert "ha/sensor/kitchen-1_p/config" in configs
    config = configs["ha/sensor/kitchen-1_p/config"]
    assert config["~"] == "meters/kitchen-1"
    assert config["def_ent_id"] == "sensor.kitchen_1_p"
    assert config["dev"]["ids"] == ["kitchen-1"]


def test_source_labels_name_entities_and_roles_decide_the_split():
    from format_fixtures import atm_source_reading

    ctx = context()  # no config: the channels carry label and role themselves
    configs = _configs(atm_source_reading(), ctx)
    names = {}
    for config in configs.values():
        names[config["uniq_id"]] = config["name"]
    assert names["deadbeef_CT2_p"] == "Solar power"
    assert names["deadbeef_CT3_u"] == "Varmepumpe ø° voltage"
    assert names["deadbeef_CT1_u"] == "CT1 voltage"  # no label: the channel's name
    assert "deadbeef_CT1_p_imp" in names and "deadbeef_CT1_p_exp" in names
    assert "deadbeef_CT2_p_exp" not in names  # solar: one way, though it counts export
    assert names["deadbeef_p_exp"] == "Power export"  # the total is signed (export counter)


def test_merge_key_sets_is_a_union():
    ctx = context()
    short = Reading("han", ("L1", "L2", "L3"))  # a HAN list 1: power only
    short.import_power = 500
    full = han_reading()  # a list 3: energy, phases
    a = home_assistant.key_set(short, ctx)
    b = home_assistant.key_set(full, ctx)
    merged = home_assistant.merge_key_sets(a, b)
    expect = set(ha_removals.keys(a)) | set(ha_removals.keys(b))
    assert set(ha_removals.keys(merged)) == expect
    # nothing new: the same string, so "did the union grow?" is one comparison
    assert home_assistant.merge_key_sets(merged, a) == merged
    assert home_assistant.merge_key_sets(merged, b) == merged
    again = home_assistant.merge_key_sets(merged, a)
    assert list(ha_removals.removals(merged, again, ctx)) == []
    assert set(ha_removals.keys(home_assistant.merge_key_sets("", b))) == set(
        ha_removals.keys(b)
    )
    assert set(ha_removals.keys(home_assistant.merge_key_sets("0,L1:3", "1"))) == {
        "p", "L1_u", "L1_i"
    }


def test_streamed_discovery_is_the_same_payloads_in_pieces():
    # The firmware publishes discovery streamed from the writer's buffer (no copy of a
    # payload): read twice, as MqttLink.publish_pieces does, each gives the same bytes.
    ctx = context(atm_config())
    reading = atm_reading()
    copies = list(home_assistant.discovery(reading, ctx))
    streamed = []
    for topic, pieces, retain in home_assistant.discovery(reading, ctx, streamed=True):
        first = b"".join(bytes(piece) for piece in pieces())
        again = b"".join(bytes(piece) for piece in pieces())
        assert first == again
        assert max(len(piece) for piece in pieces()) <= 64
        streamed.append((topic, first, retain))
    assert streamed == copies
    assert len(copies) > 5 and all(len(payload) > 64 for _, payload, _ in copies)
