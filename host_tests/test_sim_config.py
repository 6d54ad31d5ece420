"""OTA configuration over MQTT on the sim board against a Mosquitto that requires a password:
bad messages refused without effect, a good change acked/retained/applied/persistent, secrets
never on MQTT, connectivity changes rolled back by themselves, signed messages."""

import json
import time

import pytest

from broker import Broker
from mqtt_observer import Observer, SimRun, publish, wait_until

DEVICE = "cfgmeter"
BASE = "meters/" + DEVICE
USER, PASSWORD = "meter", "s3cret-Pa55"


@pytest.fixture
def broker():
    with Broker(users={USER: PASSWORD}) as b:
        yield b


def observe(broker):
    return Observer(broker, ["meters/#", "homeassistant/#"], USER, PASSWORD)


def results(observer):
    return [json.loads(p) for p in observer.payloads(BASE + "/config/result")]


def state_times(observer):
    return [t for t, p in observer.timed(BASE + "/state")]


def send(broker, payload, topic="/config/set"):
    publish(broker, BASE + topic, payload, USER, PASSWORD)


BAD_MESSAGES = [
    (b"", "empty"),
    (b"{not json", "not valid JSON at byte 1"),
    (b"[1, 2]", "object"),
    (b'{"no_such_key": 1}', "unknown"),
    (b'{"publish_interval_s": "fast"}', "publish_interval_s"),
    (b'{"publish_interval_s": 0}', "publish_interval_s"),
    (b'{"publish_interval_s": true}', "publish_interval_s"),
    (b'{"mqtt": {"port": 70000}}', "mqtt.port"),
    (b'{"source": "gas"}', "source"),
    (b'{"device_id": "a b"}', "device_id"),
    (b'{"security": {"secret": "00112233445566778899aabbccddeeff"}}', "security.secret"),
    (json.dumps({"mqtt": {"user": "x" * 2000}}).encode(), "too large"),
    (b'{"mqtt": {"port": 1884}, "publish_interval_s": 5}', "on their own"),
    # valid settings this board cannot use: refused instead of crashing the next boots
    (b'{"board": "esp32_split"}', "not this hardware"),
    (b'{"mqtt": {"tls": true}}', "ssl"),
]


def test_bad_changes_are_refused_a_good_one_applies_and_survives_restarts(broker, tmp_path):
    observer = observe(broker)
    state_dir = str(tmp_path)
    sim = SimRun(broker, state_dir, DEVICE, USER, PASSWORD, extra_args=["--quiet"]).start()
    try:
        assert wait_until(lambda: observer.payloads(BASE + "/config"), timeout=30), sim.log()
        retained = observer.payloads(BASE + "/config")[-1]
        for n, (payload, reason) in enumerate(BAD_MESSAGES, 1):
            send(broker, payload)
            assert wait_until(lambda n=n: len(results(observer)) >= n, timeout=10), payload
            answer = results(observer)[-1]
            assert answer["ok"] is False, (payload, answer)
            assert reason.lower() in answer["error"].lower(), (payload, answer)
        assert observer.payloads(BASE + "/config")[-1] == retained  # nothing changed
        count = len(observer.payloads(BASE + "/state"))
        assert wait_until(lambda: len(observer.payloads(BASE + "/state")) > count, timeout=25)

        send(broker, b'{"publish_interval_s": 2}')
        assert wait_until(lambda: len(results(observer)) > len(BAD_MESSAGES), timeout=10)
        answer = results(observer)[-1]
        assert answer == {"ok": True, "changed": ["publish_interval_s"], "restart": False}
        assert wait_until(
            lambda: json.loads(observer.payloads(BASE + "/config")[-1])["publish_interval_s"] == 2)
        # takes effect: states now about 2 s apart (10 s before)
        start = len(observer.timed(BASE + "/state"))
        assert wait_until(lambda: len(observer.timed(BASE + "/state")) >= start + 4, timeout=20)
        times = state_times(observer)[start:]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert max(gaps) < 4, gaps
    finally:
        assert sim.stop() == 0, sim.log()
    broker.restart()
    observer.close()
    observer = observe(broker)
    with SimRun(broker, state_dir, DEVICE, USER, PASSWORD, extra_args=["--quiet"]):
        assert wait_until(lambda: len(observer.timed(BASE + "/state")) >= 4, timeout=30)
        config = json.loads(observer.payloads(BASE + "/config")[-1])
        assert config["publish_interval_s"] == 2
        assert config["mqtt"]["password"] == "***"
        # the whole config, also the section of the source not running (kept on flash only)
        assert config["han"]["baud"] == 115200 and config["atm90e32"]["ct1"]["role"] == "grid"
        times = state_times(observer)
        assert max(b - a for a, b in zip(times, times[1:])) < 4
    # the password never travelled in any message the reader published
    everything = observer.all_payloads()
    assert everything and not any(PASSWORD.encode() in p for p in everything)
    observer.close()


def test_a_wrong_broker_port_rolls_back_by_itself(broker, tmp_path):
    observer = observe(broker)
    sim = SimRun(broker, str(tmp_path), DEVICE, USER, PASSWORD, extra_args=["--quiet"],
                 env={"SIM_TRIAL_MS": "6000"}).start()
    try:
        assert wait_until(lambda: observer.payloads(BASE + "/status")[-1:] == [b"online"],
                          timeout=30), sim.log()
        send(broker, json.dumps({"mqtt": {"port": broker.port + 1 if broker.port < 65535
                                          else broker.port - 1}}).encode())
        assert wait_until(lambda: results(observer) and results(observer)[0]["ok"], timeout=10)
        # the config published after the change keeps the section of the source not running
        changed = json.loads(observer.payloads(BASE + "/config")[-1])
        assert "han" in changed and "atm90e32" in changed, changed
        assert wait_until(lambda: observer.payloads(BASE + "/status")[-1:] == [b"offline"])
        # after the trial it is back on the old broker by itself, and says why
        assert wait_until(lambda: observer.payloads(BASE + "/status")[-1:] == [b"online"],
                          timeout=40), sim.log()
        assert wait_until(lambda: len(results(observer)) >= 2, timeout=10)
        report = results(observer)[-1]
        assert report["ok"] is False and "rolled back" in report["error"], report
        config = json.loads(observer.payloads(BASE + "/config")[-1])
        assert config["mqtt"]["port"] == broker.port
    finally:
        assert sim.stop() == 0, sim.log()
    # the rolled back config saved on flash keeps both sources' settings (it once lost the
    # section of the source not running)
    with open(tmp_path / "config.json") as f:
        saved = json.load(f)
    assert saved["mqtt"]["port"] == broker.port
    assert "han" in saved and "atm90e32" in saved, sorted(saved)
    observer.close()


SECRET = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def test_signed_config_refuses_unsigned_wrongly_signed_and_replayed(broker, tmp_path):
    import signing

    observer = observe(broker)
    sim = SimRun(broker, str(tmp_path), DEVICE, USER, PASSWORD,
                 extra_args=["--quiet", "--secret", SECRET]).start()
    try:
        assert wait_until(lambda: observer.payloads(BASE + "/config"), timeout=30), sim.log()
        body = b'{"publish_interval_s": 3}'
        counter = int(time.time() * 1000)
        good = signing.sign(SECRET, body, counter)
        wrong = signing.sign("ff" * 32, body, counter + 1)
        for n, payload in enumerate((body, wrong), 1):
            send(broker, payload)
            assert wait_until(lambda n=n: len(results(observer)) >= n, timeout=10)
            assert results(observer)[-1]["ok"] is False
        send(broker, good)
        assert wait_until(lambda: len(results(observer)) >= 3, timeout=10)
        assert results(observer)[-1]["ok"] is True
        send(broker, good)  # the same message again: a replay
        assert wait_until(lambda: len(results(observer)) >= 4, timeout=10)
        replayed = results(observer)[-1]
        assert replayed["ok"] is False and "replay" in replayed["error"]
        # commands are signed too
        send(broker, b'{"cmd": "identify"}', "/cmd")
        assert wait_until(lambda: observer.payloads(BASE + "/cmd/result"), timeout=10)
        assert json.loads(observer.payloads(BASE + "/cmd/result")[-1])["ok"] is False
        config = json.loads(observer.payloads(BASE + "/config")[-1])
        assert config["publish_interval_s"] == 3
        assert config["security"]["secret"] == "***"
    finally:
        assert sim.stop() == 0, sim.log()
    assert not any(SECRET.encode() in p for p in observer.all_payloads())
    observer.close()
