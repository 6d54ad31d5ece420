"""Wall-mounted resilience on the sim board: broker outages lose no readings, a silent or noisy
meter line is reported and decoding resumes, bad credentials are survived."""

import json
import os
import time

from broker import Broker
from mqtt_observer import Observer, SimRun, wait_until
from support import han_corpus

DEVICE = "resilient"
BASE = "meters/" + DEVICE


def states(observer):
    return [json.loads(p) for p in observer.payloads(BASE + "/state")]


def test_ten_broker_restarts_lose_no_reading_and_energy_stays_monotonic(tmp_path):
    with Broker() as broker:
        observer = Observer(broker, [BASE + "/#"])
        sim = SimRun(broker, str(tmp_path), DEVICE,
                     extra_args=["--quiet", "--set", "publish_interval_s=1"]).start()
        try:
            assert wait_until(lambda: len(states(observer)) >= 3, timeout=40), sim.log()
            reconnect_s = []
            for _ in range(10):
                onlines = observer.payloads(BASE + "/status").count(b"online")
                broker.restart(down_seconds=1.5)
                restarted = time.monotonic()
                assert wait_until(
                    lambda o=onlines: observer.payloads(BASE + "/status").count(b"online") > o,
                    timeout=60), sim.log()
                reconnect_s.append(time.monotonic() - restarted)
                time.sleep(1.0)
            seen = len(states(observer))
            assert wait_until(lambda: len(states(observer)) >= seen + 3, timeout=20)
        finally:
            assert sim.stop() == 0, sim.log()
        # back online within the backoff cap (60 s) every time; in practice a few seconds
        assert max(reconnect_s) < 60, reconnect_s
        all_states = states(observer)
        seqs = [s["seq"] for s in all_states]
        # QoS 1 and the outbox: every reading arrives (a redelivery may repeat one)
        assert sorted(set(seqs)) == list(range(min(seqs), max(seqs) + 1)), seqs
        assert min(seqs) == 1
        first_seen = {}
        for s in all_states:
            first_seen.setdefault(s["seq"], s)
        imports = [first_seen[n]["e_imp"] for n in sorted(first_seen)]
        assert imports == sorted(imports), imports
        assert observer.payloads(BASE + "/status")[-1] == b"offline"
        observer.close()


def _capture(path, entries, noise_lines, pause_s):
    good = [e["hex"] for e in entries]
    lines = good[:]
    lines.append("pause %s" % pause_s)  # a silent line
    rand = os.urandom
    lines += [rand(200).hex() for _ in range(noise_lines)]  # garbage: wrong baud, noise
    lines += good * 3
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def test_a_silent_then_noisy_meter_line_is_reported_and_decoding_resumes(tmp_path):
    entries = [e for e in han_corpus() if e["id"].startswith("aidon-no-tn3p-raw-")]
    capture = tmp_path / "capture.hex"
    # 0.5 s between pushes: 6 s of silence, then 16 noise bursts (8 s), quiet threshold 3 s
    _capture(capture, entries, noise_lines=16, pause_s=6)
    with Broker() as broker:
        observer = Observer(broker, [BASE + "/#"])
        sim = SimRun(broker, str(tmp_path / "state"), DEVICE, han=str(capture),
                     extra_args=["--quiet", "--han-interval", "0.5"],
                     env={"SIM_METER_QUIET_MS": "3000"}).start()

        def conditions():
            return [json.loads(p).get("condition") for p in observer.payloads(BASE + "/diag")]

        try:
            assert wait_until(lambda: "silent" in conditions(), timeout=40), sim.log()
            assert wait_until(lambda: "no_valid_data" in conditions(), timeout=30), sim.log()
            before = len(states(observer))
            assert wait_until(lambda: conditions()[-1:] == ["ok"] and
                              len(states(observer)) > before, timeout=30), sim.log()
            assert b"offline" not in observer.payloads(BASE + "/status")  # stayed online
        finally:
            assert sim.stop() == 0, sim.log()
        sequence = [c for c in conditions() if c]
        assert sequence.index("silent") < sequence.index("no_valid_data") < \
            len(sequence) - 1 - sequence[::-1].index("ok")
        diag = json.loads(observer.payloads(BASE + "/diag")[-1])
        assert diag["source"]["bytes_discarded"] > 0  # the noise was seen and skipped
        observer.close()


def test_refused_credentials_keep_retrying_and_connect_once_fixed(tmp_path):
    with Broker(users={"meter": "right"}) as broker:
        sim = SimRun(broker, str(tmp_path), DEVICE, "meter", "wrong",
                     extra_args=["--set", "publish_interval_s=1"]).start()
        try:
            assert wait_until(lambda: "bad user name or password" in sim.log()
                              or "not authorized" in sim.log(), timeout=30), sim.log()
            time.sleep(3)
            assert sim.proc.poll() is None  # still running, retrying with backoff
            assert sim.log().count("connect to") >= 2
        finally:
            assert sim.stop() == 0, sim.log()
        observer = Observer(broker, [BASE + "/#"], "meter", "right")
        with SimRun(broker, str(tmp_path), DEVICE, "meter", "right", extra_args=["--quiet"]):
            assert wait_until(lambda: observer.payloads(BASE + "/status")[-1:] == [b"online"],
                              timeout=30)
        observer.close()


def test_a_boot_loop_ends_in_safe_mode_that_still_connects_and_takes_config(tmp_path):
    with Broker() as broker:
        observer = Observer(broker, [BASE + "/#"])
        sim = SimRun(broker, str(tmp_path), DEVICE, extra_args=["--quiet"],
                     env={"SIM_FAULT": "crash"}).start()
        try:
            assert wait_until(lambda: any(b"safe mode" in n for n in
                                          observer.payloads(BASE + "/notice")), timeout=60), \
                sim.log()
            assert observer.payloads(BASE + "/status")[-1] == b"online"
            assert wait_until(lambda: observer.payloads(BASE + "/diag"), timeout=10)
            diag = json.loads(observer.payloads(BASE + "/diag")[-1])
            assert diag["safe_mode"] is True
            assert "injected hardware fault" in diag["last_crash"]["reason"]
            # still configurable over MQTT
            from mqtt_observer import publish

            # a command that needs the meter source answers instead of crashing the board
            publish(broker, BASE + "/cmd", b'{"cmd": "reset_energy", "confirm": "reset_energy"}')
            assert wait_until(lambda: observer.payloads(BASE + "/cmd/result"), timeout=10)
            answer = json.loads(observer.payloads(BASE + "/cmd/result")[-1])
            assert answer["ok"] is False and "safe mode" in answer["error"]
            publish(broker, BASE + "/config/set", b'{"homeassistant": {"enabled": false}}')
            assert wait_until(lambda: observer.payloads(BASE + "/config/result"), timeout=10)
            assert json.loads(observer.payloads(BASE + "/config/result")[-1])["ok"] is True
        finally:
            sim.stop()
        observer.close()


def test_power_losses_are_not_crashes_and_never_lead_to_safe_mode(tmp_path):
    with Broker() as broker:
        observer = Observer(broker, [BASE + "/#"])
        for _ in range(4):  # one more than the crashes that lead to safe mode
            sim = SimRun(broker, str(tmp_path), DEVICE, extra_args=["--quiet"]).start()
            count = len(observer.payloads(BASE + "/state"))
            assert wait_until(lambda c=count: len(observer.payloads(BASE + "/state")) > c,
                              timeout=40), sim.log()
            sim.power_loss()
        sim = SimRun(broker, str(tmp_path), DEVICE, extra_args=["--quiet"]).start()
        try:
            count = len(observer.payloads(BASE + "/state"))
            assert wait_until(lambda: len(observer.payloads(BASE + "/state")) > count,
                              timeout=40), sim.log()
            assert wait_until(lambda: observer.payloads(BASE + "/diag"), timeout=10)
            assert json.loads(observer.payloads(BASE + "/diag")[-1])["safe_mode"] is False
            assert not any(b"safe mode" in n for n in observer.payloads(BASE + "/notice"))
        finally:
            sim.stop()
        observer.close()


def test_a_hung_loop_is_reset_by_the_watchdog_and_the_reason_published(tmp_path):
    with Broker() as broker:
        observer = Observer(broker, [BASE + "/#"])
        sim = SimRun(broker, str(tmp_path), DEVICE, env={"SIM_FAULT": "hang:3"},
                     extra_args=["--watchdog-s", "3"]).start()
        try:
            assert wait_until(lambda: "watchdog expired" in sim.log(), timeout=40), sim.log()

            def watchdog_diag():
                for payload in observer.payloads(BASE + "/diag"):
                    diag = json.loads(payload)
                    if diag.get("reset_cause") == "watchdog":
                        return diag
                return None

            assert wait_until(watchdog_diag, timeout=30), sim.log()
            assert "watchdog" in watchdog_diag()["last_crash"]["reason"]
            assert observer.payloads(BASE + "/status")[-1] == b"online"
        finally:
            assert sim.stop() == 0, sim.log()
        observer.close()


def test_a_non_ascii_topic_prefix_still_connects(tmp_path):
    prefix = "zähler"
    with Broker() as broker:
        observer = Observer(broker, [prefix + "/#"])
        with SimRun(broker, str(tmp_path), DEVICE,
                    extra_args=["--quiet", "--set", "mqtt.prefix=" + prefix]):
            assert wait_until(lambda: observer.payloads(prefix + "/%s/state" % DEVICE),
                              timeout=30)
            assert observer.payloads(prefix + "/%s/status" % DEVICE)[-1] == b"online"
        observer.close()
