"""The published formats read the way their consumers read them (issue 15), on the output of the
firmware on the sim board replaying a real meter capture whose first push is a short list:

- dbus-mqtt-grid (generic JSON, the `victron` topic): the driver needs a "grid" object with
  "power"; it sets up its phases from the first message it gets (a phase that appears later is
  not shown; one that goes missing keeps a stale value), reads only phases with "power", and
  drops powers beyond 23000 W a phase;
- dbus-mqtt-grid's Tasmota mode (the `tele/<topic>/SENSOR` topic): the meter's object must be
  named "grid" and hold "power" (else "does not include a power object"), with power_L1..3,
  energy_forward / energy_reverse;
- the CT6 Home Assistant guide: sensors with `{{ value_json.CTn.PRMS | round(2) }}` on every
  message, and grid import / export split as import = |p| if p < 0, export = p if p > 0;
- Home Assistant: every discovery config's value template against every state
  (host_tests/ha_render.py).
Every number is at its quantity's resolution (at most 3 decimals, quantities.QUANTITIES).
One sim run serves all checks; a second, short one shows the phase count kept across a reboot.
"""

import json
import re

import pytest

from broker import Broker
from ha_render import render_all, render_template
from mqtt_observer import Observer, SimRun, wait_until
from support import han_corpus

DEVICE = "consumer"
BASE = "meters/" + DEVICE
TASMOTA = "tele/%s/SENSOR" % DEVICE
# one Kaifa MA304H4 (3-phase) as it pushed, starting with short lists (total power only):
# a full list 3 (energy), then short lists, then a list 2 (per-phase U and I)
PUSHES = ("kaifa-no-tn3p-raw-4", "kaifa-no-tn3p-raw-7", "kaifa-no-tn3p-raw-8",
          "kaifa-no-tn3p-raw-9", "kaifa-no-tn3p-raw-10", "kaifa-no-tn3p-raw-3")
FORMATS = ["--set", "ct6.enabled=true", "--set", "victron.enabled=true",
           "--set", "tasmota.enabled=true", "--set", "values.enabled=true"]
MEMBER = re.compile(rb'"([A-Za-z0-9_]+)":-?[0-9]+(?:\.([0-9]+))?')
KWH = (b"energy_forward", b"energy_reverse")  # kWh: always 3 decimals, exact from Wh


def _capture(path):
    frames = {entry["id"]: entry.get("hex") for entry in han_corpus()}
    with open(path, "w") as f:
        for push in PUSHES:
            f.write(frames[push] + "\n")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The messages of one sim run: {topic: [payload, ...]}, plus a restart's first ones."""
    tmp = tmp_path_factory.mktemp("consumers")
    capture = str(tmp / "kaifa.hex")
    _capture(capture)
    state_dir = str(tmp / "flash")
    with Broker() as broker:
        observer = Observer(broker, [BASE + "/#", TASMOTA, "homeassistant/#"])
        args = ["--quiet", "--han-interval", "0.3"] + FORMATS
        sim = SimRun(broker, state_dir, DEVICE, han=capture, extra_args=args).start()
        try:
            assert wait_until(lambda: len(observer.payloads(BASE + "/victron")) >= 14,
                              timeout=60), sim.log()
        finally:
            assert sim.stop() == 0, sim.log()
        first = {t: list(observer.payloads(t)) for t in (BASE + "/state", BASE + "/ct6",
                                                          BASE + "/victron", TASMOTA)}
        first["discovery"] = observer.messages_under("homeassistant/")
        first["values"] = [p for _t, p in observer.messages_under(BASE + "/values/")]
        first["log"] = sim.log()
        observer.close()
        # a reboot: the capture starts with a short list again
        observer = Observer(broker, [BASE + "/victron", BASE + "/state"],
                            client_id_suffix="second")
        sim = SimRun(broker, state_dir, DEVICE, han=capture, extra_args=args).start()
        try:
            assert wait_until(lambda: observer.payloads(BASE + "/victron")
                              and len(observer.payloads(BASE + "/state")) >= 4, timeout=60), \
                sim.log()
        finally:
            assert sim.stop() == 0, sim.log()
        first["victron_after_reboot"] = list(observer.payloads(BASE + "/victron"))
        first["states_after_reboot"] = [json.loads(p) for p in observer.payloads(BASE + "/state")]
        observer.close()
    return first


def _states(run):
    return [json.loads(p) for p in run[BASE + "/state"]]


def test_dbus_mqtt_grid_sees_every_phase_from_its_first_message(run):
    messages = [json.loads(p) for p in run[BASE + "/victron"]]
    states = _states(run)
    # the first push was a short list: nothing went out before the phase count was known
    assert "ch" not in states[0]
    assert len(messages) < len(states)
    set_up = None
    for doc in messages:
        grid = doc["grid"]  # "does not include a grid object" otherwise
        assert type(grid["power"]) in (int, float)
        assert -69000 <= grid["power"] <= 69000
        phases = sorted(k for k, v in grid.items() if type(v) is dict and "power" in v)
        if set_up is None:
            set_up = phases  # what the driver creates its paths from
        assert phases == set_up == ["L1", "L2", "L3"]
        total = 0
        for phase in phases:
            assert -23000 <= grid[phase]["power"] <= 23000
            total += grid[phase]["power"]
        # the Kaifa gives no phase power: the phases carry the total, split evenly
        assert abs(total - grid["power"]) <= 0.2, doc
        for phase in phases:
            # nothing the meter does not give: no phase energy, no made-up frequency
            assert "energy_forward" not in grid[phase] and "frequency" not in grid[phase]
    # the full list's lifetime counters, kWh exactly from Wh
    assert any(doc["grid"].get("energy_forward") == 42879.838 for doc in messages)


def test_dbus_mqtt_grid_after_a_reboot_starts_with_every_phase(run):
    first = json.loads(run["victron_after_reboot"][0])["grid"]
    # it went out for a short list (total power only), before any push showed the phases: the
    # phase count came from flash
    states = run["states_after_reboot"]
    full = [n for n, state in enumerate(states) if "ch" in state]
    assert full and full[0] >= 1, states
    assert first["power"] in [state["p"] for state in states[:full[0]]]
    assert sorted(k for k in first if k.startswith("L")) == ["L1", "L2", "L3"]
    assert first["L1"]["power"] * 3 == pytest.approx(first["power"], abs=0.2)


def test_dbus_mqtt_grid_tasmota_mode_finds_its_grid_power(run):
    messages = [json.loads(p) for p in run[TASMOTA]]
    assert messages
    for doc in messages:
        assert type(doc["Time"]) is str
        grid = doc["grid"]  # tasmota.prefix default: the object the driver looks for
        assert type(grid["power"]) in (int, float)  # "does not include a power object"
        assert set(grid) <= {"power", "power_L1", "power_L2", "power_L3", "energy_forward",
                             "energy_reverse"}
    assert any(doc["grid"].get("energy_forward") == 42879.838 for doc in messages)


def test_ct6_guide_templates_read_every_message(run):
    messages = run[BASE + "/ct6"]
    assert messages
    state_powers = [s["p"] for s in _states(run) if "p" in s]
    ports = None
    for payload in messages:
        doc = json.loads(payload)
        if ports is None:
            ports = sorted(k for k in doc if k.startswith("CT"))
        assert ports == ["CT1"]  # a Kaifa has no phase power: the total, on CT1
        problems = []
        for port in ports:
            text = render_template("{{ value_json.%s.PRMS | round(2) }}" % port, payload,
                                   problems)
            assert problems == [], (port, problems)
            power = float(text)
            # the guide's split: import = |p| if p < 0; the reader's state says +import
            imported = abs(power) if power < 0 else 0
            exported = power if power > 0 else 0
            assert -power in state_powers
            assert imported >= 0 and exported == 0  # this house imports all along
        assert doc["CT1"]["NAME"] == "total"


def test_home_assistant_renders_every_state_without_problems(run):
    discovery = run["discovery"]
    assert discovery
    for payload in run[BASE + "/state"]:
        problems = []
        render_all(discovery, payload, BASE + "/state", problems)
        assert problems == [], problems


def test_every_number_is_at_its_resolution(run):
    payloads = []
    for key in (BASE + "/state", BASE + "/ct6", BASE + "/victron", TASMOTA):
        payloads += run[key]
    assert len(payloads) > 50
    for payload in run["values"]:
        assert re.fullmatch(rb"-?[0-9]+(\.[0-9]{0,2}[1-9])?", payload), payload
    for payload in payloads:
        for key, fraction in MEMBER.findall(payload):
            if key in KWH:
                assert len(fraction) == 3, payload
            else:  # at most the resolution's 3 decimals: no float noise, no padding
                assert len(fraction) <= 3 and not fraction.endswith(b"0"), payload


def test_the_capture_is_what_the_corpus_says():
    # the run above relies on these: the first push is a short list, one push is a full one
    frames = {entry["id"]: entry for entry in han_corpus()}
    assert frames[PUSHES[0]]["expected"] == {"1-0:1.7.0": 5057,
                                             "notification_datetime": "2024-10-01T19:00:02"}
    assert frames[PUSHES[2]]["expected"]["1-0:1.8.0"] == 42879838


def test_renaming_a_port_renames_entities_and_keeps_every_identity(tmp_path):
    """An ATM90E32 board: ct2 named "Solar" and then renamed keeps its state key CT2, its
    Home Assistant unique_ids and topics; the re-announced configs carry the new name."""
    from mqtt_observer import publish

    device = "renamed"
    base = "meters/" + device
    with Broker() as broker:
        observer = Observer(broker, [base + "/#", "homeassistant/#"])
        args = ["--quiet", "--set", "publish_interval_s=1", "--set", "ct6.enabled=true",
                "--set", "atm90e32.ct2.name=Solar"]
        sim = SimRun(broker, str(tmp_path), device, extra_args=args).start()
        try:
            topic = "homeassistant/sensor/%s_CT2_p/config" % device

            def config_named(name):
                return [json.loads(p) for t, p in observer.messages_under("homeassistant/")
                        if t == topic and p and json.loads(p)["name"] == name]

            assert wait_until(lambda: config_named("Solar power"), timeout=40), sim.log()
            # discovery goes out before the state of the same reading: two states on, it is done
            count = len(observer.payloads(base + "/state"))
            assert wait_until(lambda: len(observer.payloads(base + "/state")) > count + 1,
                              timeout=20)
            before = {t for t, p in observer.messages_under("homeassistant/") if p}
            publish(broker, base + "/config/set", b'{"atm90e32": {"ct2": {"name": "PV roof"}}}')
            assert wait_until(lambda: config_named("PV roof power"), timeout=20), sim.log()
            count = len(observer.payloads(base + "/state"))
            assert wait_until(lambda: len(observer.payloads(base + "/state")) > count + 1,
                              timeout=20)
        finally:
            assert sim.stop() == 0, sim.log()
        messages = observer.messages_under("homeassistant/")
        observer_states = [json.loads(p) for p in observer.payloads(base + "/state")]
        ct6_docs = [json.loads(p) for p in observer.payloads(base + "/ct6")]
        observer.close()
    after = {t for t, p in messages if p}
    assert after == before  # the same sensors: no new topic, no new id
    assert not [t for t, p in messages if not p]  # and none removed
    renamed = config_named("PV roof power")[-1]
    assert renamed["uniq_id"] == "%s_CT2_p" % device
    assert "'CT2'" in renamed["val_tpl"]
    for state in observer_states:
        assert "Solar" not in state.get("ch", {}) and "PV roof" not in state.get("ch", {})
    assert "CT2" in observer_states[-1]["ch"]
    assert ct6_docs[-1]["CT2"]["NAME"] == "PV roof"
