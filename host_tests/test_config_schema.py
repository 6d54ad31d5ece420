# portable
# The config schema: defaults, validation of config/set messages (every kind of bad message is
# refused and changes nothing), nested merges, restart/connectivity flags, redaction.
import json

import config_schema as cs

SECRET = "0123456789abcdef0123456789abcdef"


def _copy(config):
    return json.loads(json.dumps(config))


def _change(config, obj, **kw):
    return cs.apply_change(config, json.dumps(obj).encode(), **kw)


def test_defaults_are_a_complete_valid_config():
    config = cs.defaults()
    assert cs.validate(config) is None
    keys = list(cs.keys())
    assert len(keys) == len(set(keys))
    for key in keys:
        cs.get(config, key)  # every key resolves
    # A fresh object each time: changing one must not change the next.
    config["mqtt"]["port"] = 1
    assert cs.defaults()["mqtt"]["port"] == 1883


def test_contract_keys_and_defaults():
    d = cs.defaults()
    expected = {
        "device_id": "", "board": "sim", "source": "atm90e32", "publish_interval_s": 10,
        "wifi.ssid": "", "wifi.password": "", "mqtt.host": "localhost", "mqtt.port": 1883,
        "mqtt.user": "", "mqtt.password": "", "mqtt.prefix": "meters", "mqtt.keepalive_s": 60,
        "mqtt.tls": False, "native.enabled": True, "homeassistant.enabled": True,
        "homeassistant.prefix": "homeassistant", "ct6.enabled": False, "ct6.topic": "",
        "victron.enabled": False, "victron.topic": "", "tasmota.enabled": False,
        "tasmota.topic": "", "tasmota.prefix": "grid", "values.enabled": False,
        "han.baud": 115200, "han.parity": "none", "han.invert": True, "han.key": "",
        "han.auth_key": "",
        "han.min_interval_s": 0, "han.energy_multiplier": 1.0, "han.power_multiplier": 1.0,
        "han.voltage_multiplier": 1.0, "han.current_multiplier": 1.0,
        "atm90e32.line_freq": 50, "atm90e32.pga_gain": 1, "atm90e32.addon_chip": False,
        "security.secret": "",
    }
    for n in range(1, 7):
        p = "atm90e32.ct%d." % n
        expected.update({p + "name": "", p + "ugain": 0, p + "igain": 0, p + "reversed": False,
                         p + "role": "grid"})
    assert sorted(cs.keys()) == sorted(expected)
    for key, value in expected.items():
        got = cs.get(d, key)
        assert got == value and type(got) is type(value), key


def test_flags():
    for key in ("wifi.password", "mqtt.password", "han.key", "han.auth_key", "security.secret"):
        assert cs.is_secret(key), key
    for key in ("mqtt.user", "mqtt.host", "device_id", "atm90e32.ct1.name"):
        assert not cs.is_secret(key), key
    for key in ("device_id", "board", "source", "han.baud", "han.parity", "atm90e32.line_freq",
                "atm90e32.pga_gain"):
        assert cs.needs_restart(key), key
    assert not cs.needs_restart("publish_interval_s")
    link = ("wifi.ssid", "wifi.password", "mqtt.host", "mqtt.port", "mqtt.user",
            "mqtt.password", "mqtt.tls")
    for key in cs.keys():
        assert cs.is_connectivity(key) == (key in link), key
    assert cs.touches_connectivity(["publish_interval_s", "mqtt.port"])
    assert not cs.touches_connectivity(["publish_interval_s", "mqtt.prefix"])
    assert not cs.touches_connectivity([])
    assert not cs.is_secret("nonexistent") and not cs.is_connectivity("mqtt")


BAD = (
    # (payload, a phrase the error must contain)
    (b"", "empty"),
    (b'{"device_id": "x"' + b" " * 1100 + b"}", "too large"),  # valid JSON, still too large
    (b"{", "invalid JSON"),
    (b"{'mqtt': {}}", "invalid JSON"),
    (b"\xff\xfe{}", "UTF-8"),
    (b"[]", "JSON object"),
    (b'"mqtt"', "JSON object"),
    (b"42", "JSON object"),
    (b"null", "JSON object"),
    (b'{"nope": 1}', "unknown key: nope"),
    (b'{"mqtt": {"hots": "x"}}', "unknown key: mqtt.hots"),
    (b'{"atm90e32": {"ct7": {"name": "x"}}}', "unknown key: atm90e32.ct7"),
    (b'{"atm90e32": {"ct0": {"name": "x"}}}', "unknown key: atm90e32.ct0"),
    (b'{"atm90e32": {"ct#": {"name": "x"}}}', "unknown key: atm90e32.ct#"),
    (b'{"atm90e32": {"ct1": {"gain": 1}}}', "unknown key: atm90e32.ct1.gain"),
    (b'{"mqtt": {"port ": 1}}', "unknown key: mqtt.port "),
    (b'{"mqtt.port": 1884}', "unknown key: mqtt.port"),
    (b'{"atm90e32": {"ct1.name": "x"}}', "unknown key: atm90e32.ct1.name"),
    (b'{"a": 1, "b": 2}', "unknown keys: a, b"),
    (json.dumps({"k%02d" % i: i for i in range(30)}).encode(),
     "unknown keys: k00, k01, k02, k03, k04, k05, k06, k07 (and 22 more)"),
    (b'{"mqtt": 1883}', "mqtt: expected an object"),
    (b'{"atm90e32": {"ct1": "x"}}', "atm90e32.ct1: expected an object"),
    (b'{"mqtt": {"port": "1883"}}', "mqtt.port: expected an integer"),
    (b'{"mqtt": {"port": true}}', "mqtt.port: expected an integer"),
    (b'{"mqtt": {"port": 1883.0}}', "mqtt.port: expected an integer"),
    (b'{"mqtt": {"port": null}}', "mqtt.port: expected an integer"),
    (b'{"mqtt": {"port": [1883]}}', "mqtt.port: expected an integer"),
    (b'{"mqtt": {"tls": 1}}', "mqtt.tls: expected true or false"),
    (b'{"mqtt": {"tls": "true"}}', "mqtt.tls: expected true or false"),
    (b'{"mqtt": {"host": 5}}', "mqtt.host: expected a string"),
    (b'{"han": {"energy_multiplier": "2"}}', "han.energy_multiplier: expected a number"),
    (b'{"han": {"energy_multiplier": false}}', "han.energy_multiplier: expected a number"),
    (b'{"mqtt": {"port": 0}}', "mqtt.port: 0 out of range 1..65535"),
    (b'{"mqtt": {"port": 65536}}', "out of range"),
    (b'{"publish_interval_s": -1}', "out of range"),
    (b'{"publish_interval_s": 123456789012345678901234567890}', "out of range"),
    (b'{"han": {"energy_multiplier": 0}}', "out of range"),
    (b'{"han": {"energy_multiplier": 1e400}}', "out of range"),  # inf
    (b'{"han": {"energy_multiplier": -1e400}}', "out of range"),
    (b'{"han": {"energy_multiplier": 1' + b"0" * 400 + b'}}', "out of range"),  # a huge int
    (b'{"board": "esp8266"}', "board: not one of"),
    (b'{"source": "HAN"}', "source: not one of"),
    (b'{"han": {"baud": 1200}}', "han.baud: 1200 not one of"),
    (b'{"han": {"baud": "9600"}}', "han.baud: expected an integer"),
    (b'{"han": {"baud": 9600.0}}', "han.baud: expected an integer"),
    (b'{"han": {"baud": true}}', "han.baud: expected an integer"),
    (b'{"atm90e32": {"pga_gain": 3}}', "not one of"),
    (b'{"atm90e32": {"ct2": {"role": 1}}}', "atm90e32.ct2.role: expected a string"),
    (b'{"device_id": "has space"}', "device_id: only letters"),
    (b'{"device_id": "' + b"x" * 33 + b'"}', "device_id: too long"),
    (b'{"mqtt": {"host": ""}}', "mqtt.host: too short"),
    (b'{"mqtt": {"prefix": "a/+/b"}}', "wildcards"),
    (b'{"mqtt": {"prefix": "a/#"}}', "wildcards"),
    (b'{"mqtt": {"prefix": "/meters"}}', "start or end"),
    (b'{"mqtt": {"prefix": "meters/"}}', "start or end"),
    (b'{"homeassistant": {"prefix": ""}}', "too short"),
    (b'{"atm90e32": {"ct1": {"name": "a\\nb"}}}', "control characters"),
    (b'{"atm90e32": {"ct1": {"name": "' + b"n" * 25 + b'"}}}', "too long"),
    (b'{"wifi": {"ssid": "' + b"s" * 33 + b'"}}', "too long"),
    (b'{"han": {"key": "0011"}}', "han.key: must be empty or 32 or 64 hex digits"),
    (b'{"han": {"key": "' + b"ab" * 24 + b'"}}', "han.key: must be empty or 32 or 64 hex digits"),
    (b'{"han": {"auth_key": "' + b"zz" * 16 + b'"}}',
     "han.auth_key: must be empty or 32 or 64 hex digits"),
    (b'{"han": {"key": "0011223344556677889900aabbccddeg"}}', "hex digits"),
    (b'{"han": {"key": "' + b"0a" * 32 + b'", "auth_key": "1b"}}', "han.auth_key: must be empty"),
    (b'{"security": {"secret": "abc"}}', "security.secret: must be empty or 32..128"),
    (b'{"security": {"secret": "' + b"a" * 33 + b'"}}', "hex digits"),
)


def test_every_kind_of_bad_message_is_refused_and_changes_nothing():
    current = cs.defaults()
    snapshot = _copy(current)
    for payload, phrase in BAD:
        result, config = cs.apply_change(current, payload)
        assert result["ok"] is False, payload
        assert phrase in result["error"], (payload, result["error"])
        assert sorted(result) == ["error", "ok"]
        assert config is current, payload
        assert current == snapshot, payload
        json.dumps(result)  # the answer is publishable


def test_all_or_nothing():
    current = cs.defaults()
    snapshot = _copy(current)
    payload = {"publish_interval_s": 30, "mqtt": {"port": 1884, "tls": "yes"},
               "atm90e32": {"ct1": {"name": "Heat pump"}}}
    result, config = _change(current, payload)
    assert not result["ok"] and "mqtt.tls" in result["error"]
    assert config is current and current == snapshot
    assert "publish_interval_s" not in result["error"]  # only the bad part is named


def test_several_errors_are_named_in_a_stable_order():
    result, _ = _change(cs.defaults(), {"zz": 1, "mqtt": {"port": 0, "tls": 2},
                                        "publish_interval_s": "x", "han": {"baud": 1}})
    error = result["error"]
    # Sorted, at most three named, the rest counted: the same text on every implementation.
    assert error.index("han.baud") < error.index("mqtt.port") < error.index("mqtt.tls")
    assert "(and 2 more)" in error


def test_nested_objects_merge():
    current = cs.defaults()
    snapshot = _copy(current)
    result, new = _change(current, {"atm90e32": {"ct2": {"name": "Oven", "role": "load"}},
                                    "mqtt": {"port": 1884}})
    assert result == {"ok": True, "changed": ["atm90e32.ct2.name", "atm90e32.ct2.role",
                                              "mqtt.port"], "restart": False}
    assert current == snapshot  # the old config is untouched (the firmware may roll back to it)
    for key in cs.keys():
        if key in result["changed"]:
            assert cs.get(new, key) != cs.get(current, key)
        else:
            assert cs.get(new, key) == cs.get(current, key), key
    assert new["atm90e32"]["ct2"] == {"name": "Oven", "role": "load", "ugain": 0, "igain": 0,
                                      "reversed": False}
    assert cs.validate(new) is None
    # Untouched groups may be shared with the old config, changed ones never are.
    assert new["atm90e32"] is not current["atm90e32"]
    assert new["atm90e32"]["ct2"] is not current["atm90e32"]["ct2"]
    assert new["mqtt"] is not current["mqtt"]


def test_changed_lists_only_real_changes():
    current = cs.defaults()
    result, new = _change(current, {"mqtt": {"port": 1883, "host": "localhost"}})
    assert result == {"ok": True, "changed": [], "restart": False}
    result, new = _change(current, {"mqtt": {"port": 1883, "host": "broker.lan"},
                                    "han": {"energy_multiplier": 1}})  # 1 == 1.0: no change
    assert result["changed"] == ["mqtt.host"]
    assert cs.get(new, "han.energy_multiplier") == 1.0
    result, _ = cs.apply_change(current, b"{}")
    assert result == {"ok": True, "changed": [], "restart": False}


def test_int_is_accepted_for_float_and_stored_as_float():
    result, new = _change(cs.defaults(), {"han": {"power_multiplier": 10}})
    assert result["ok"] and result["changed"] == ["han.power_multiplier"]
    value = cs.get(new, "han.power_multiplier")
    assert value == 10.0 and type(value) is float


def test_restart_flag():
    current = cs.defaults()
    assert _change(current, {"publish_interval_s": 5})[0]["restart"] is False
    assert _change(current, {"source": "han"})[0]["restart"] is True
    assert _change(current, {"han": {"baud": 2400}, "publish_interval_s": 5})[0]["restart"]
    # Re-sending the current value of a restart key changes nothing, so no restart.
    assert _change(current, {"source": "atm90e32"})[0] == {"ok": True, "changed": [],
                                                            "restart": False}


def test_changes_chain():
    config = cs.defaults()
    for interval in (20, 30, 40):
        result, config = _change(config, {"publish_interval_s": interval})
        assert result["changed"] == ["publish_interval_s"]
    assert config["publish_interval_s"] == 40 and cs.validate(config) is None


def test_secret_can_only_be_cleared_over_mqtt():
    current = cs.defaults()
    result, config = _change(current, {"security": {"secret": SECRET}})
    assert not result["ok"] and "deploy time" in result["error"]
    assert SECRET not in result["error"]
    assert config is current
    # From the device's own flash (deploy) it may be set...
    result, config = _change(current, {"security": {"secret": SECRET}}, local=True)
    assert result["ok"] and config["security"]["secret"] == SECRET
    # ...and over MQTT (signed, by the firmware's rules) it may be cleared.
    result, cleared = _change(config, {"security": {"secret": ""}})
    assert result["ok"] and cleared["security"]["secret"] == ""


def test_limit():
    current = cs.defaults()
    changes = {"atm90e32": {"ct%d" % n: {"name": "channel %d" % n, "role": "load",
                                         "ugain": 30000, "igain": 30000, "reversed": True}
                            for n in range(1, 7)}}
    # Pretty-printed by hand (MicroPython's json.dumps has no indent).
    big = json.dumps(changes).replace(", ", ",\n                ").encode()
    assert len(big) > cs.MAX_PAYLOAD
    result, _ = cs.apply_change(current, big)
    assert not result["ok"] and "too large" in result["error"]
    result, new = cs.apply_change(current, big, limit=None)  # e.g. a site file from deploy
    assert result["ok"] and len(result["changed"]) == 30


def test_payload_types():
    current = cs.defaults()
    body = b'{"publish_interval_s": 11}'
    for payload in (body, bytearray(body), memoryview(body), body.decode()):
        result, new = cs.apply_change(current, payload)
        assert result["ok"] and new["publish_interval_s"] == 11
    for payload in (None, 5, ["x"]):
        result, new = cs.apply_change(current, payload)
        assert not result["ok"] and new is current


def test_errors_never_echo_string_values():
    current = cs.defaults()
    leak = "hunter2-leak"
    attempts = (
        {"mqtt": {"password": leak * 10}},  # too long
        {"wifi": {"password": leak * 10}},
        {"mqtt": {"password": [leak]}},  # wrong type
        {"mqtt": {"pasword": leak}},  # typo in the key
        {"han": {"key": leak}},  # not hex
        {"security": {"secret": leak}},
        {"security": {"secret": "ab" * 20 + leak}},
        {"wifi": leak},  # a group given a string
        {"source": leak},  # not a choice
        {"mqtt": {"host": leak * 20}},  # non-secret strings are not echoed either
        {"device_id": leak + " x"},
    )
    for obj in attempts:
        result, config = _change(current, obj)
        assert not result["ok"], obj
        assert "hunter2" not in result["error"], result["error"]
        assert config is current


def test_redact_masks_every_secret():
    secrets = {"wifi": {"password": "wifi-secret-1"}, "mqtt": {"password": "mqtt-secret-2"},
               "han": {"key": "a1" * 16, "auth_key": "b2" * 16},
               "security": {"secret": "c3" * 20}}
    result, config = _change(cs.defaults(), secrets, local=True)
    assert result["ok"]
    # A key the schema does not know (e.g. a hand-edited config) must not leak either.
    config["mqtt"]["extra_password"] = "mqtt-secret-3"
    config["stray"] = "stray-secret-4"
    config[7] = "stray-secret-5"
    config["mqtt.password"] = "stray-secret-6"  # a dotted name is no spelling of a key
    redacted = cs.redact(config)
    text = json.dumps(redacted)
    for needle in ("wifi-secret", "mqtt-secret", "a1a1", "b2b2", "c3c3", "stray-secret"):
        assert needle not in text, needle
    for key in ("wifi.password", "mqtt.password", "han.key", "han.auth_key", "security.secret"):
        assert cs.get(redacted, key) == cs.MASK
    # Non-secrets are shown as they are; an empty secret shows as "" (nothing is set).
    assert cs.get(redacted, "mqtt.host") == "localhost"
    assert cs.redact(cs.defaults())["mqtt"]["password"] == ""
    assert sorted(cs.keys()) == sorted(k for k in cs.keys() if cs.get(redacted, k) is not None)
    assert config["mqtt"]["password"] == "mqtt-secret-2"  # the input is not changed
    assert sorted(redacted) == sorted(cs.defaults())  # and stray keys are left out
    # The streamed form the firmware publishes is the same JSON, piece by piece.
    streamed = b"".join(cs.redacted_json(config))
    assert json.loads(streamed) == redacted
    for needle in (b"wifi-secret", b"mqtt-secret", b"a1a1", b"b2b2", b"c3c3", b"stray-secret"):
        assert needle not in streamed, needle
    named = cs.defaults()
    named["atm90e32"]["ct2"]["name"] = "K\u00fcche \"2\""
    assert json.loads(b"".join(cs.redacted_json(named)).decode()) == cs.redact(named)


def test_load_dict_merges_partial_files_and_drops_unknown_keys():
    site = {"mqtt": {"host": "broker.lan", "password": "pw", "retired_option": 1},
            "wifi": {"ssid": "home"}, "old_feature": {"x": 1}}
    config, dropped, error = cs.load_dict(site)
    assert error is None
    assert dropped == ["mqtt.retired_option", "old_feature"]
    assert config["mqtt"]["host"] == "broker.lan" and config["wifi"]["ssid"] == "home"
    assert config["mqtt"]["port"] == 1883  # the rest from the defaults
    assert cs.validate(config) is None
    config, dropped, error = cs.load_dict({"mqtt": {"port": "1883"}, "old": 1})
    assert config is None and "mqtt.port" in error
    config, dropped, error = cs.load_dict([1, 2])
    assert config is None and error


def test_validate_whole_configs():
    good = cs.defaults()
    assert cs.validate(good) is None
    missing = _copy(good)
    del missing["atm90e32"]["ct4"]["igain"]
    assert "atm90e32.ct4.igain: missing" in cs.validate(missing)
    wrong = _copy(good)
    wrong["publish_interval_s"] = 0
    assert "publish_interval_s" in cs.validate(wrong)
    extra = _copy(good)
    extra["mqtt"]["qos"] = 1
    assert "mqtt.qos" in cs.validate(extra)
    assert cs.validate("config") == "expected a JSON object"
    assert "unknown key: 5" in cs.validate({5: 1})
    # A config missing a whole group still takes a change (the group is rebuilt, not a crash).
    partial = _copy(good)
    del partial["wifi"]
    result, new = _change(partial, {"wifi": {"ssid": "home"}})
    assert result["ok"] and new["wifi"] == {"ssid": "home"} and "wifi" not in partial
    no_group = _copy(good)
    del no_group["han"]
    assert "han.baud: missing" in cs.validate(no_group)


def test_rows_describe_every_setting():
    count = 0
    for fields in cs.rows():
        count += 1
        assert len(fields) == 5, fields
        key, kind, _, flags, spec = fields
        assert kind in ("bool", "int", "float", "str", "choice"), fields
        for letter in flags:
            assert letter in "-srlitxkd", fields
        value = cs.default(fields)
        if kind == "choice":
            assert value in cs.choices(fields), fields
        elif kind != "bool":
            lo, hi = cs.limits(fields)
            n = len(value) if kind == "str" else value
            assert lo <= n <= hi or ("x" in flags and value == ""), fields
        # The default passes the same check as any change.
        for k in ([key.replace("#", "1")] if "#" in key else [key]):
            assert cs.check(k, value)[1] is None, k
    assert count == 43  # rows in the schema table (ct# counts once)
