"""Test-side MQTT helpers (CPython): an observer that records what a reader publishes, and a
runner for the firmware on the sim board (tools/sim.py as a subprocess)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt

import mp_env


class Observer:
    """A paho subscriber with a persistent session, so messages published while it reconnects
    after a broker restart are kept for it (QoS 1)."""

    _count = 0

    def __init__(self, broker, topics, user="", password="", client_id_suffix=""):
        self.messages = []
        self.arrivals = []
        self.lock = threading.Lock()
        Observer._count += 1
        client_id = "observer-%d-%d%s" % (os.getpid(), Observer._count, client_id_suffix)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False)
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
            self.arrivals.append(time.monotonic())

    def payloads(self, topic):
        with self.lock:
            return [p for t, p, _ in self.messages if t == topic]

    def timed(self, topic):
        """(arrival time, payload) of each message on `topic`."""
        with self.lock:
            return [(t, m[1]) for t, m in zip(self.arrivals, self.messages) if m[0] == topic]

    def all_payloads(self):
        with self.lock:
            return [m[1] for m in self.messages]

    def messages_under(self, prefix):
        """(topic, payload) of every message whose topic starts with prefix, in arrival order."""
        with self.lock:
            return [(t, p) for t, p, _ in self.messages if t.startswith(prefix)]

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


def wait_until(predicate, timeout=10, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def publish(broker, topic, payload, user="", password="", retain=False):
    """Publish one message and wait until the broker has it."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    if user:
        client.username_pw_set(user, password)
    client.connect(broker.host, broker.port)
    client.loop_start()
    if isinstance(payload, str):
        payload = payload.encode()
    client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


class SimRun:
    """The firmware on the sim board (tools/sim.py), stopped with SIGINT like Ctrl-C."""

    def __init__(self, broker, state_dir, device_id="testmeter", user="", password="",
                 han=None, heap=None, extra_args=(), env=None):
        self.env = dict(os.environ, **(env or {}))
        self.args = [sys.executable, os.path.join(mp_env.REPO, "tools", "sim.py"),
                     "--broker", "%s%s:%d" % ("%s:%s@" % (user, password) if user else "",
                                              broker.host, broker.port),
                     "--state-dir", state_dir, "--device-id", device_id]
        if han:
            self.args += ["--han", han]
        if heap:
            self.args += ["--heap", heap]
        self.args += list(extra_args)
        self.proc = None
        self.output = []

    def start(self):
        self.output = []
        # its own session: power_loss() can kill tools/sim.py and the firmware at once
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=self.env, start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()
        return self

    def power_loss(self):
        """The power goes: SIGKILL to tools/sim.py and the firmware at once, no clean stop."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def _pump(self):
        for line in self.proc.stdout:
            self.output.append(line)

    def log(self):
        return "".join(self.output)

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def last_json(observer, topic):
    payloads = observer.payloads(topic)
    return json.loads(payloads[-1]) if payloads else None
