"""The firmware on the sim board against a real Mosquitto: boot, status, readings, Home Assistant
discovery rendered the way HA renders it, clean shutdown, energy across restarts."""

import json

import pytest

from broker import Broker
from ha_render import render_all
from mqtt_observer import Observer, SimRun, publish, wait_until

DEVICE = "testmeter"
BASE = "meters/" + DEVICE


@pytest.fixture
def broker():
    with Broker() as b:
        yield b


def states(observer):
    return [json.loads(p) for p in observer.payloads(BASE + "/state")]


def retained_now(broker, topic):
    """What a client subscribing right now gets as the retained message (None if none)."""
    late = Observer(broker, [topic], client_id_suffix="late")
    try:
        wait_until(lambda: late.payloads(topic), timeout=3)
        payloads = late.payloads(topic)
        return payloads[-1] if payloads else None
    finally:
        late.close()


def test_atm90e32_sim_comes_online_publishes_readings_and_goes_offline_cleanly(broker, tmp_path):
    observer = Observer(broker, [BASE + "/#", "homeassistant/#"])
    sim = SimRun(broker, str(tmp_path), DEVICE,
                 extra_args=["--quiet", "--set", "publish_interval_s=2"]).start()
    try:
        assert wait_until(lambda: len(states(observer)) >= 2, timeout=40), sim.log()
        assert retained_now(broker, BASE + "/status") == b"online"
        state = states(observer)[-1]
        assert state["src"] == "atm90e32"
        assert "CT1" in state["ch"]
        ct1 = state["ch"]["CT1"]
        assert 200 < ct1["u"] < 260  # the emulated house: a European mains voltage
        assert isinstance(state["e_imp"], int)
        # Every HA sensor renders, through its own value template, the value the state holds.
        discovery = observer.messages_under("homeassistant/")
        problems = []
        rendered = render_all(discovery, observer.payloads(BASE + "/state")[-1],
                              BASE + "/state", problems)
        assert not problems, problems
        assert len(rendered) >= 8
        values = {uid[len(DEVICE) + 1:]: value for uid, (value, unit) in rendered.items()}
        assert values["p"] == pytest.approx(state["p"])
        assert values["CT1_u"] == pytest.approx(ct1["u"])
        assert values["e_imp"] == pytest.approx(state["e_imp"])
        units = {uid[len(DEVICE) + 1:]: unit for uid, (value, unit) in rendered.items()}
        assert units["p"] == "W" and units["e_imp"] == "Wh" and units["CT1_u"] == "V"
    finally:
        assert sim.stop() == 0, sim.log()
    assert retained_now(broker, BASE + "/status") == b"offline"
    observer.close()


def test_energy_counters_survive_a_restart_and_never_go_backwards(broker, tmp_path):
    observer = Observer(broker, [BASE + "/state"])
    fast = ["--quiet", "--set", "publish_interval_s=1"]
    with SimRun(broker, str(tmp_path), DEVICE, extra_args=fast):
        assert wait_until(lambda: len(states(observer)) >= 3, timeout=40)
    first_run = states(observer)
    assert (tmp_path / "energy.json").exists()
    with SimRun(broker, str(tmp_path), DEVICE, extra_args=["--quiet"]):
        assert wait_until(lambda: len(states(observer)) >= len(first_run) + 3, timeout=40)
    all_states = states(observer)
    imports = [s["e_imp"] for s in all_states]
    assert imports == sorted(imports), imports
    assert all_states[len(first_run)]["e_imp"] >= first_run[-1]["e_imp"]
    assert imports[-1] > 0
    observer.close()


def _corpus_entries(ids):
    from support import han_corpus

    by_id = {e["id"]: e for e in han_corpus()}
    return [by_id[i] for i in ids]


def _write_capture(path, entries):
    with open(path, "w") as f:
        for entry in entries:
            f.write((entry.get("hex") or entry["text"].encode("latin-1").hex()) + "\n")


@pytest.mark.parametrize("ids,scale", [
    (("aidon-no-tn3p-raw-1", "aidon-no-tn3p-raw-2", "aidon-no-tn3p-raw-3"), 1),  # HDLC DLMS, W
    (("dsmr-gh578-1-kamstrup",), 1000),  # DSMR P1 ASCII, kW/kWh on the wire
])
def test_han_replay_every_ha_sensor_renders_the_last_push(broker, tmp_path, ids, scale):
    entries = _corpus_entries(ids)
    capture = tmp_path / "capture.hex"
    _write_capture(capture, entries)
    observer = Observer(broker, [BASE + "/#", "homeassistant/#"])
    sim = SimRun(broker, str(tmp_path / "state"), DEVICE, han=str(capture),
                 extra_args=["--quiet", "--han-interval", "0.3"]).start()
    try:
        # one loop over the capture plus one more push: the last state is from entries[0]
        assert wait_until(lambda: len(states(observer)) >= len(entries) + 1, timeout=40), sim.log()
        assert retained_now(broker, BASE + "/status") == b"online"
    finally:
        assert sim.stop() == 0, sim.log()
    state_payloads = observer.payloads(BASE + "/state")
    last_push = entries[(len(state_payloads) - 1) % len(entries)]["expected"]
    problems = []
    rendered = render_all(observer.messages_under("homeassistant/"), state_payloads[-1],
                          BASE + "/state", problems)
    assert not problems, problems
    values = {uid[len(DEVICE) + 1:]: value for uid, (value, unit) in rendered.items()}
    units = {uid[len(DEVICE) + 1:]: unit for uid, (value, unit) in rendered.items()}
    net = last_push["1-0:1.7.0"] - last_push.get("1-0:2.7.0", 0)
    assert values["p"] == pytest.approx(net * scale) and units["p"] == "W"
    for phase, code in (("L1", "32"), ("L2", "52"), ("L3", "72")):
        if "1-0:%s.7.0" % code in last_push:
            assert values[phase + "_u"] == pytest.approx(last_push["1-0:%s.7.0" % code])
            assert units[phase + "_u"] == "V"
    if "1-0:1.8.0" in last_push:
        assert values["e_imp"] == pytest.approx(last_push["1-0:1.8.0"] * scale, abs=1)
        assert units["e_imp"] == "Wh"
    assert len(state_payloads) >= len(entries) + 1  # one state per push
    observer.close()


def test_han_meter_settings_change_over_mqtt_without_a_restart(broker, tmp_path):
    entries = _corpus_entries(("aidon-no-tn3p-raw-1",))
    capture = tmp_path / "capture.hex"
    _write_capture(capture, entries)
    power = entries[0]["expected"]["1-0:1.7.0"]
    observer = Observer(broker, [BASE + "/#"])
    sim = SimRun(broker, str(tmp_path / "state"), DEVICE, han=str(capture),
                 extra_args=["--quiet", "--han-interval", "0.3"]).start()
    try:
        assert wait_until(lambda: len(states(observer)) >= 2, timeout=40), sim.log()
        assert states(observer)[-1]["p"] == power
        publish(broker, BASE + "/config/set", b'{"han": {"power_multiplier": 2}}')
        assert wait_until(lambda: observer.payloads(BASE + "/config/result"), timeout=10)
        answer = json.loads(observer.payloads(BASE + "/config/result")[-1])
        assert answer == {"ok": True, "changed": ["han.power_multiplier"], "restart": False}
        assert wait_until(lambda: states(observer)[-1]["p"] == 2 * power, timeout=10), \
            sim.log()
    finally:
        assert sim.stop() == 0, sim.log()
    assert "reset" not in sim.log(), sim.log()  # applied live, not by a restart
    observer.close()


def test_victron_payload_keeps_dbus_mqtt_grid_alive_between_slow_publishes(broker, tmp_path):
    observer = Observer(broker, [BASE + "/#"])
    sim = SimRun(broker, str(tmp_path), DEVICE,
                 extra_args=["--quiet", "--set", "publish_interval_s=600",
                             "--set", "victron.enabled=true"],
                 env={"SIM_VICTRON_KEEPALIVE_MS": "1500"}).start()
    try:
        assert wait_until(lambda: len(observer.payloads(BASE + "/victron")) >= 4, timeout=40), \
            sim.log()
        assert len(states(observer)) == 1  # the slow cadence itself is kept
        grid = json.loads(observer.payloads(BASE + "/victron")[-1])["grid"]
        assert isinstance(grid["power"], (int, float)) and grid["energy_forward"] >= 0
        # the phases are the source's grid (reading.grid): CT1-CT3, all "grid" by default
        assert sorted(k for k in grid if k.startswith("L")) == ["L1", "L2", "L3"]
        assert all("power" in grid[k] and "voltage" in grid[k] for k in ("L1", "L2", "L3"))
    finally:
        assert sim.stop() == 0, sim.log()
    observer.close()
