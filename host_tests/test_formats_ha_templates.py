"""Every Home Assistant value template, rendered with Jinja2 the way HA renders it
(host_tests/ha_render.py), yields the reading's value in the sensor's unit; absent values render
as unknown without template errors or undefined-variable warnings."""

import json
import math

import ha_render
import ha_removals
import home_assistant
import native
from format_fixtures import atm_config, atm_reading, context, han_reading
from hypothesis import given, settings
from hypothesis import strategies as st
from reading import Reading

# (reading attribute, unit) per total key; per channel key for channels
TOTAL_ATTR = {
    "p": "power", "p_imp": "import_power", "p_exp": "export_power", "q": "reactive_power",
    "e_imp": "import_wh", "e_exp": "export_wh", "eq_imp": "reactive_import_varh",
    "eq_exp": "reactive_export_varh", "f": "frequency", "t": "temperature",
}
CHANNEL_ATTR = {
    "u": "voltage", "i": "current", "p": "power", "q": "reactive_power", "s": "apparent_power",
    "pf": "power_factor", "f": "frequency", "t": "temperature", "e_imp": "import_wh",
    "e_exp": "export_wh",
}
UNITS = {
    "p": "W", "p_imp": "W", "p_exp": "W", "q": "var", "s": "VA", "e_imp": "Wh", "e_exp": "Wh",
    "eq_imp": "varh", "eq_exp": "varh", "f": "Hz", "t": "°C", "u": "V", "i": "A", "pf": None,
}

# resolution of the published numbers per unit (issue 15: W 0.1, V 0.01, A 0.001, PF 0.001, Hz
# 0.01, energy integer Wh); a state shows the reading's value rounded to it
STEP = {"W": 0.1, "var": 0.1, "VA": 0.1, "V": 0.01, "A": 0.001, None: 0.001, "Hz": 0.01,
        "°C": 0.1, "Wh": 1, "varh": 1}


def close(shown, value, unit):
    """Whether `shown` is `value` at its unit's resolution (a tie may round either way)."""
    return abs(shown - value) <= STEP[unit] / 2 + 1e-9 * max(1, abs(value))


def assert_states(states, expected):
    assert sorted(states) == sorted(expected)
    for key, (value, unit) in expected.items():
        shown, shown_unit = states[key]
        assert shown_unit == unit, key
        assert close(shown, value, unit), (key, shown, value)


def expected_states(reading, ctx):
    """What each sensor must show, worked out from the reading, independently of the module."""
    device = ctx.device_id
    out = {}
    for key, attr in TOTAL_ATTR.items():
        value = getattr(reading, attr)
        if value is not None:
            out["%s_%s" % (device, key)] = (value, UNITS[key])
    for channel in reading.channels:
        cid = home_assistant.slug(channel.name)
        for key, attr in CHANNEL_ATTR.items():
            value = getattr(channel, attr)
            if value is not None:
                out["%s_%s_%s" % (device, cid, key)] = (value, UNITS[key])
    return out


def render(reading, ctx, state=None):
    discovery = list(home_assistant.discovery(reading, ctx))
    if state is None:
        state = native.state_payload(reading, ctx)
    problems = []
    states = ha_render.render_all(discovery, state, state_topic=ctx.state_topic, problems=problems)
    assert problems == []
    return states


def test_han_every_sensor_renders_its_value():
    ctx = context()
    reading = han_reading()
    states = render(reading, ctx)
    expected = expected_states(reading, ctx)
    assert_states(states, expected)


def test_atm_every_sensor_renders_its_value_and_split():
    ctx = context(atm_config())
    reading = atm_reading()
    states = render(reading, ctx)
    expected = expected_states(reading, ctx)
    # the grid channel (CT1, -1523.41 W: exporting) also has import / export power sensors
    expected["deadbeef_CT1_p_imp"] = (0, "W")
    expected["deadbeef_CT1_p_exp"] = (1523.41, "W")
    expected["deadbeef_p_imp"] = (0, "W")  # the totals are the grid channel's: split too
    expected["deadbeef_p_exp"] = (1523.41, "W")
    assert_states(states, expected)


def test_split_while_importing():
    ctx = context(atm_config())
    reading = atm_reading()
    reading.channels[0].power = 812.5
    states = render(reading, ctx)
    assert states["deadbeef_CT1_p_imp"] == (812.5, "W")
    assert states["deadbeef_CT1_p_exp"] == (0, "W")


def test_total_split_when_the_reading_has_only_net_power():
    ctx = context()
    reading = Reading("atm90e32")
    reading.power = -250
    reading.import_wh = 100
    reading.export_wh = 200
    states = render(reading, ctx)
    assert states["deadbeef_p"] == (-250, "W")
    assert states["deadbeef_p_imp"] == (0, "W")
    assert states["deadbeef_p_exp"] == (250, "W")


def test_absent_values_keep_the_state_without_errors():
    """The configs of a full reading against a state that lacks values, channels, or even
    "ch" (a HAN meter's short list): every template renders "" (HA keeps the last state), with
    no template error and no undefined-variable warning."""
    for reading, ctx in ((han_reading(), context()), (atm_reading(), context(atm_config()))):
        discovery = list(home_assistant.discovery(reading, ctx))
        for state in (b"{}", b'{"ch":{}}', b'{"ts":1,"ch":{"L1":{},"CT1":{}}}'):
            problems = []
            states = ha_render.render_all(discovery, state, problems=problems)
            assert problems == []
            assert states
            for value, _unit in states.values():
                assert value == ha_render.IGNORED


def test_templates_are_valid_under_strict_undefined():
    # stricter than HA: any use of an undefined value is an error here
    import jinja2
    import jinja2.sandbox

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    ctx = context(atm_config())
    for _topic, payload, _ in home_assistant.discovery(atm_reading(), ctx):
        template = json.loads(payload)["val_tpl"]
        for state in ({}, {"ch": {}}, json.loads(native.state_payload(atm_reading(), ctx))):
            env.from_string(template).render(value="", value_json=state)


def test_expanded_config_is_what_ha_needs_for_energy():
    ctx = context()
    configs = ha_render.sensor_configs(home_assistant.discovery(han_reading(), ctx))
    energy = [c for c in configs.values() if c.get("device_class") == "energy"]
    assert sorted(c["unique_id"] for c in energy) == ["deadbeef_e_exp", "deadbeef_e_imp"]
    for config in energy:
        assert config["state_class"] in ("total", "total_increasing")
        assert config["unit_of_measurement"] in ("Wh", "kWh")
        assert config["state_topic"] == "meters/deadbeef/state"
        assert config["availability_topic"] == "meters/deadbeef/status"
        assert config["default_entity_id"] == "sensor." + config["unique_id"]
        assert config["device"]["identifiers"] == ["deadbeef"]
        assert config["device"]["manufacturer"] and config["device"]["model"]
        assert config["device"]["sw_version"] == "1.2.3"


def test_removed_entities_drop_out_of_rendering():
    ctx = context()
    reading = han_reading()
    discovery = list(home_assistant.discovery(reading, ctx))
    previous = home_assistant.key_set(reading, ctx)
    reading.reactive_power = None
    discovery += list(ha_removals.removals(previous, home_assistant.key_set(reading, ctx), ctx))
    states = ha_render.render_all(discovery, native.state_payload(reading, ctx))
    assert "deadbeef_q" not in states
    assert "deadbeef_p" in states


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e7, max_value=1e7)
maybe = st.one_of(st.none(), finite, st.just(float("nan")), st.integers(-10**6, 10**6))
counter = st.one_of(st.none(), st.integers(0, 10**12))


@settings(max_examples=60, deadline=None)
@given(
    power=maybe, volts=maybe, amps=maybe, imp=counter, exp=counter,
    name=st.text(min_size=1, max_size=12),
)
def test_any_reading_renders_its_own_values(power, volts, amps, imp, exp, name):
    reading = Reading("atm90e32", (name,))
    channel = reading.channels[0]
    channel.power = power
    channel.voltage = volts
    channel.current = amps
    channel.import_wh = imp
    channel.export_wh = exp
    reading.power = power
    ctx = context()
    states = render(reading, ctx)
    cid = "deadbeef_" + home_assistant.slug(name)
    for key, value, unit in (("_p", power, "W"), ("_u", volts, "V"), ("_i", amps, "A"),
                             ("_e_imp", imp, "Wh")):
        present = value is not None and not (isinstance(value, float) and math.isnan(value))
        assert (cid + key in states) == present
        if present:
            assert close(states[cid + key][0], value, unit)
    if exp is not None and power is not None and not math.isnan(power):
        assert close(states[cid + "_p_imp"][0], max(power, 0), "W")
        assert close(states[cid + "_p_exp"][0], max(-power, 0), "W")


def test_awkward_channel_names_render():
    names = ("a\rb", "line\nbreak", "tab\there", "it's", "back\\slash", "ø°€𝄞", "{{ x }}", "\x7f")
    reading = Reading("atm90e32", names)
    for n, channel in enumerate(reading.channels):
        channel.voltage = 200.0 + n
    ctx = context()
    states = render(reading, ctx)
    for n, name in enumerate(names):
        assert states["deadbeef_%s_u" % home_assistant.slug(name)] == (200.0 + n, "V")


def test_atm_source_reading_renders_every_value():
    from format_fixtures import atm_source_reading

    ctx = context()
    reading = atm_source_reading()
    states = render(reading, ctx)
    expected = expected_states(reading, ctx)
    expected["deadbeef_CT1_p_imp"] = (0, "W")
    expected["deadbeef_CT1_p_exp"] = (1523.41, "W")
    expected["deadbeef_p_imp"] = (0, "W")
    expected["deadbeef_p_exp"] = (1523.41, "W")
    assert_states(states, expected)
