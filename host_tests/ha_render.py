"""Render Home Assistant MQTT sensor discovery the way Home Assistant does (CPython only).

Given the discovery messages a reader published and one payload from its state topic, this
returns what each sensor's state would be in HA: the tests of lib/formats/home_assistant.py and the
end-to-end sim tests (against live MQTT traffic) share it.

What it models, from HA's MQTT integration (helpers/template.py
`async_render_with_possible_json_value`, components/mqtt sensor and discovery):
- discovery payloads use abbreviated keys (`uniq_id`, `val_tpl`, ...) and `~` as the base topic
  at the start or end of a `*_topic` value; an empty payload is a removal;
- the value template is Jinja2 in a sandbox (`ImmutableSandboxedEnvironment`) with the variables
  `value` (the payload text) and `value_json` (the parsed payload, when it is JSON); the result
  is a string, stripped;
- an undefined variable renders "" and HA logs a warning; using an attribute of an undefined
  value is a template error (HA logs it and the state is not updated). Both are recorded here
  in `problems` so tests can require templates that never produce either;
- for a numeric sensor (device_class, state_class or unit set) "" is ignored (the state stays),
  "None" sets the state to unknown, anything else must parse as a number.
"""

import json

import jinja2
import jinja2.sandbox

# HA core mqtt/abbreviations.py: the subset a sensor config can use.
ABBREVIATIONS = {
    "avty": "availability",
    "avty_mode": "availability_mode",
    "avty_t": "availability_topic",
    "avty_tpl": "availability_template",
    "def_ent_id": "default_entity_id",
    "dev": "device",
    "dev_cla": "device_class",
    "e": "encoding",
    "en": "enabled_by_default",
    "ent_cat": "entity_category",
    "exp_aft": "expire_after",
    "frc_upd": "force_update",
    "ic": "icon",
    "json_attr_t": "json_attributes_topic",
    "json_attr_tpl": "json_attributes_template",
    "o": "origin",
    "obj_id": "object_id",
    "p": "platform",
    "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available",
    "qos": "qos",
    "stat_cla": "state_class",
    "stat_t": "state_topic",
    "sug_dsp_prc": "suggested_display_precision",
    "uniq_id": "unique_id",
    "unit_of_meas": "unit_of_measurement",
    "val_tpl": "value_template",
}
DEVICE_ABBREVIATIONS = {
    "cns": "connections",
    "ids": "identifiers",
    "mf": "manufacturer",
    "mdl": "model",
    "mdl_id": "model_id",
    "sn": "serial_number",
    "hw": "hw_version",
    "sw": "sw_version",
    "sa": "suggested_area",
    "cu": "configuration_url",
}
ORIGIN_ABBREVIATIONS = {"sw": "sw_version", "url": "support_url"}

IGNORED = ""  # the value returned for a sensor whose template rendered "" (HA keeps the state)


def expand(config):
    """A discovery payload (dict) with full key names and `~` replaced, as HA sees it."""
    out = {ABBREVIATIONS.get(k, k): v for k, v in config.items()}
    if isinstance(out.get("device"), dict):
        out["device"] = {DEVICE_ABBREVIATIONS.get(k, k): v for k, v in out["device"].items()}
    if isinstance(out.get("origin"), dict):
        out["origin"] = {ORIGIN_ABBREVIATIONS.get(k, k): v for k, v in out["origin"].items()}
    base = out.pop("~", None)
    if base is not None:
        for key, value in list(out.items()):
            if key.endswith("_topic") and isinstance(value, str):
                if value.startswith("~"):
                    value = base + value[1:]
                elif value.endswith("~"):
                    value = value[:-1] + base
                out[key] = value
    return out


def _decode(payload):
    return payload.decode("utf-8") if isinstance(payload, (bytes, bytearray)) else payload


def sensor_configs(discovery):
    """{topic: expanded config} of the sensor discovery messages; a later message for a topic
    replaces an earlier one and an empty payload removes it, as retained messages do."""
    configs = {}
    for message in discovery:
        topic, payload = message[0], _decode(message[1])
        if "/sensor/" not in topic or not topic.endswith("/config"):
            continue
        if payload == "":
            configs.pop(topic, None)
        else:
            configs[topic] = expand(json.loads(payload))
    return configs


class _RecordingUndefined(jinja2.Undefined):
    """HA's non-strict undefined: renders "" but logs; records instead of logging."""

    problems = None  # set per render

    def _note(self):
        if _RecordingUndefined.problems is not None:
            _RecordingUndefined.problems.append("undefined: " + self._undefined_message)

    def __str__(self):
        self._note()
        return ""

    def __iter__(self):
        self._note()
        return iter(())

    def __bool__(self):
        self._note()
        return False


_ENV = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=_RecordingUndefined)


def render_template(template, payload, problems=None):
    """`template` rendered against one MQTT payload (bytes or str) as HA renders value
    templates; returns the stripped text, or None on a template error (recorded)."""
    text = _decode(payload)
    variables = {"value": text}
    try:
        variables["value_json"] = json.loads(text)
    except ValueError:
        pass
    _RecordingUndefined.problems = problems
    try:
        return _ENV.from_string(template).render(variables).strip()
    except jinja2.TemplateError as e:
        if problems is not None:
            problems.append("error: %s" % e)
        return None
    finally:
        _RecordingUndefined.problems = None


def _numeric(config):
    return any(
        config.get(key) is not None
        for key in ("device_class", "state_class", "unit_of_measurement")
    )


def sensor_state(config, payload, problems=None):
    """The state HA gives the sensor of `config` (expanded) for one state payload: a number,
    None (unknown) or IGNORED; a template error or a non-number is recorded in `problems`."""
    template = config.get("value_template")
    if template is None:
        rendered = _decode(payload).strip()
    else:
        rendered = render_template(template, payload, problems)
        if rendered is None:
            return IGNORED
    if not _numeric(config):
        return rendered
    if rendered == "":
        return IGNORED
    if rendered == "None":
        return None
    try:
        return int(rendered)
    except ValueError:
        pass
    try:
        return float(rendered)
    except ValueError:
        if problems is not None:
            problems.append("not a number: %r from %s" % (rendered, config.get("unique_id")))
        return IGNORED


def render_all(discovery, state_payload, state_topic=None, problems=None):
    """{unique_id: (value, unit)} for every sensor announced in `discovery` (an iterable of
    (topic, payload[, retain]) messages), rendered against `state_payload`; only sensors
    reading `state_topic` when it is given. Template errors, warnings and unparsable values are
    appended to `problems` (a list) when one is passed."""
    result = {}
    for config in sensor_configs(discovery).values():
        if state_topic is not None and config.get("state_topic") != state_topic:
            continue
        value = sensor_state(config, state_payload, problems)
        result[config.get("unique_id")] = (value, config.get("unit_of_measurement"))
    return result
