"""The MQTT link (lib/mqtt_link.py) under the MicroPython unix port against a real Mosquitto."""

import os
import subprocess
import threading
import time

import paho.mqtt.client as mqtt

import mp_env
from broker import Broker

HERE = os.path.dirname(os.path.abspath(__file__))


class Observer:
    """A paho subscriber with a persistent session, so messages published while it reconnects
    after a broker restart are kept for it (QoS 1)."""

    def __init__(self, broker, topics, user="", password=""):
        self.messages = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id="observer-%d" % os.getpid(), clean_session=False)
        if user:
            self.client.username_pw_set(user, password)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, rc, p=None: [c.subscribe(t, 1) for t in topics]
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload, msg.retain))

    def payloads(self, topic):
        with self.lock:
            return [p for t, p, _ in self.messages if t == topic]

    def wait_for(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return False

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def start_driver(broker, seconds, user="", password="", keepalive=60, idle=False):
    args = [broker.host, str(broker.port), user, password, str(seconds), str(keepalive)]
    return subprocess.Popen(
        mp_env.micropython_command(os.path.join(HERE, "mqtt_link_driver.py"),
                                   args=args + (["idle"] if idle else [])),
        env=mp_env.micropython_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_outbox_survives_broker_restarts_without_losing_or_reordering_messages():
    with Broker() as broker:
        observer = Observer(broker, ["test/seq", "test/status"])
        driver = start_driver(broker, 9)
        time.sleep(2)
        broker.restart(down_seconds=1.5)
        time.sleep(2)
        broker.restart(down_seconds=1.0)
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
