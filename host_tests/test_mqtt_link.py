"""The MQTT link (lib/mqtt_link.py) under the MicroPython unix port against a real Mosquitto."""

import os
import subprocess
import time

import mp_env
from broker import Broker
from mqtt_observer import Observer

HERE = os.path.dirname(os.path.abspath(__file__))


def start_driver(broker, seconds, user="", password="", keepalive=60, idle=False):
    args = [broker.host, str(broker.port), user, password, str(seconds), str(keepalive)]
    return subprocess.Popen(
        mp_env.micropython_command(os.path.join(HERE, "mqtt_link_driver.py"),
                                   args=args + (["idle"] if idle else [])),
        env=mp_env.micropython_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_outbox_survives_broker_restarts_without_losing_or_reordering_messages():
    with Broker() as broker:
        observer = Observer(broker, ["test/seq", "test/status"])
        driver = start_driver(broker, 16)
        for restart in (1, 2):
            # restart only once the link is up again, so each restart is a separate outage
            assert observer.wait_for(
                lambda r=restart: observer.payloads("test/status").count(b"online") >= r,
                timeout=20)
            time.sleep(1)
            broker.restart(down_seconds=1.5)
        assert observer.wait_for(
            lambda: observer.payloads("test/status").count(b"online") >= 3, timeout=20)
        out, _ = driver.communicate(timeout=60)
        assert driver.returncode == 0, out
        sent = int(out.split("EVENT sent ")[1].split()[0])
        assert "dropped 0 left 0" in out, out
        assert out.count("EVENT up") == 3, out
        assert observer.wait_for(lambda: len(set(observer.payloads("test/seq"))) >= sent), out
        numbers = [int(p) for p in observer.payloads("test/seq")]
        # at-least-once: a message may repeat after a lost ack, but none is missing or reordered
        assert sorted(set(numbers)) == list(range(sent))
        first_seen = []
        for n in numbers:
            if n not in first_seen:
                first_seen.append(n)
        assert first_seen == sorted(first_seen)
        assert observer.payloads("test/status")[-1] == b"offline"
        observer.close()


def test_refused_credentials_are_reported_and_retried_then_accepted_ones_connect():
    with Broker(users={"meter": "right"}) as broker:
        driver = start_driver(broker, 3, "meter", "wrong")
        out, _ = driver.communicate(timeout=30)
        assert "EVENT up" not in out
        assert "bad user name or password" in out or "not authorized" in out, out
        assert out.count("connect to") >= 2, out  # it kept retrying with backoff
        driver = start_driver(broker, 2, "meter", "right")
        out, _ = driver.communicate(timeout=30)
        assert "EVENT up" in out, out


def test_pings_keep_an_idle_link_alive_past_its_keepalive():
    with Broker() as broker:
        observer = Observer(broker, ["test/status"])
        # keepalive 2 s: without pings the broker drops an idle client after 3 s of silence
        driver = start_driver(broker, 7, keepalive=2, idle=True)
        out, _ = driver.communicate(timeout=30)
        assert out.count("EVENT up") == 1 and "EVENT down" not in out, out
        expected = [b"online", b"offline"]  # offline from the clean close, not from a drop
        assert observer.wait_for(lambda: observer.payloads("test/status") == expected)
        observer.close()


def test_a_killed_client_leaves_offline_behind_through_its_last_will():
    with Broker() as broker:
        observer = Observer(broker, ["test/status"])
        driver = start_driver(broker, 30, idle=True)
        assert observer.wait_for(lambda: b"online" in observer.payloads("test/status"))
        driver.kill()
        driver.communicate()
        assert observer.wait_for(lambda: observer.payloads("test/status")[-1:] == [b"offline"])
        observer.close()
