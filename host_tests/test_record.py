"""tools/record.py: records what the sim publishes into SQLite through a broker restart, exports
CSV that the csv module reads back with the published values, keeps its session while stopped,
and rejects bad input without a traceback."""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import mp_env
from broker import Broker
from mqtt_observer import Observer, SimRun, publish, wait_until

RECORD = os.path.join(mp_env.REPO, "tools", "record.py")
DEVICE = "testmeter"
BASE = "meters/" + DEVICE
TOTALS = ("p", "p_imp", "p_exp", "q", "f", "t", "e_imp", "e_exp", "eq_imp", "eq_exp")
CHANNEL = ("u", "i", "p", "q", "s", "pf", "f", "t", "e_imp", "e_exp")


class RecorderRun:
    """tools/record.py as a subprocess; stop() is Ctrl-C."""

    def __init__(self, broker, db, *extra):
        self.args = [sys.executable, RECORD, "--broker", "%s:%d" % (broker.host, broker.port),
                     "--db", db, "--commit-s", "0.5", *extra]
        self.lines = []

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()
        return self

    def log(self):
        return "".join(self.lines)

    def connections(self):
        return sum("connected to" in line for line in self.lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def run_record(*args):
    return subprocess.run([sys.executable, RECORD, *args], capture_output=True, text=True,
                          timeout=30)


def export(db, table, *extra):
    done = run_record("export", "--db", db, "--table", table, *extra)
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def csv_number(text):
    return None if text == "" else float(text)


def json_number(value):
    return None if value is None else float(value)


def distinct_states(observer):
    seen, states = set(), []
    for payload in observer.payloads(BASE + "/state"):
        if payload not in seen:
            seen.add(payload)
            states.append(json.loads(payload))
    return states


def test_recording_survives_a_broker_restart_and_exports_the_published_values(tmp_path):
    db = str(tmp_path / "rec.sqlite")
    with Broker() as broker:
        observer = Observer(broker, [BASE + "/state", BASE + "/status"])
        recorder = RecorderRun(broker, db, "--device", DEVICE).start()
        sim = SimRun(broker, str(tmp_path / "sim"), DEVICE, extra_args=["--quiet"])
        try:
            assert wait_until(lambda: recorder.connections() == 1, timeout=10), recorder.log()
            sim.start()
            assert wait_until(lambda: b"online" in observer.payloads(BASE + "/status"),
                              timeout=30), sim.log()
            publish(broker, BASE + "/config/set", json.dumps({"publish_interval_s": 1}))
            assert wait_until(lambda: len(distinct_states(observer)) >= 4, timeout=30), sim.log()
            before_restart = len(distinct_states(observer))

            down_from = time.time()
            broker.restart(down_seconds=3)  # the sim queues its QoS 1 states meanwhile
            up_at = time.time()

            assert wait_until(lambda: recorder.connections() == 2, timeout=20), recorder.log()
            assert wait_until(lambda: len(distinct_states(observer)) >= before_restart + 6,
                              timeout=30), sim.log()
            sim.stop()
            assert wait_until(lambda: observer.payloads(BASE + "/status")[-1:] == [b"offline"],
                              timeout=10)
            assert wait_until(lambda: "is offline" in recorder.log(), timeout=10), recorder.log()
        finally:
            sim.stop()
            assert recorder.stop() == 0, recorder.log()
            observer.close()
    assert "resumed session" in recorder.log()  # the broker kept the session over the restart
    assert "Traceback" not in recorder.log()

    published = distinct_states(observer)
    readings = export(db, "readings")
    channels = export(db, "channels")
    status = export(db, "status")

    # Every state published was stored exactly once (duplicates from resends folded).
    assert len(readings) == len(published)
    recorded = sorted(tuple([int(r["ts"])] + [csv_number(r[k]) for k in TOTALS])
                      for r in readings)
    expected = sorted(tuple([s["ts"]] + [json_number(s.get(k)) for k in TOTALS])
                      for s in published)
    assert recorded == expected

    recorded_ch = sorted(tuple([int(r["ts"]), r["channel"]] + [csv_number(r[k]) for k in CHANNEL])
                         for r in channels)
    expected_ch = sorted(tuple([s["ts"], name] + [json_number(ch.get(k)) for k in CHANNEL])
                         for s in published for name, ch in s["ch"].items())
    assert recorded_ch == expected_ch
    assert len(expected_ch) >= 3 * len(published)

    for row in readings:
        assert row["device"] == DEVICE and row["src"] == "atm90e32"
        assert row["time_utc"].endswith("Z") and row["received_utc"].endswith("Z")
    # States the reader made while the broker was down arrived afterwards and were recorded.
    made_while_down = [r for r in readings if down_from + 0.5 <= int(r["ts"]) <= up_at - 0.5]
    assert made_while_down, (down_from, up_at, [r["ts"] for r in readings])
    assert [s["status"] for s in status][0] == "online"
    assert [s["status"] for s in status][-1] == "offline"


def test_recorder_keeps_its_session_while_stopped_and_skips_bad_states(tmp_path):
    db = str(tmp_path / "rec.sqlite")
    topic = "meters/dev1/state"
    good = {"ts": 1744733271, "src": "han", "id": "6970631401234567", "p": -812,
            "p_imp": 0, "p_exp": 812, "e_imp": 12345678, "e_exp": 4321,
            "ch": {"L1": {"u": 231.2, "i": 2.21}, "Varmepumpe \u00f8\u00b0": {"p": 1.5}}}
    odd = {"ts": 1744733272, "p": True, "e_imp": 1 << 70, "model": 7, "mtime": "\ud800",
           "ch": {"L1": "nonsense", "L2": {"u": "230", "i": 1e308}}}
    with Broker() as broker:
        first = RecorderRun(broker, db, "--client-id", "rec-test").start()
        assert wait_until(lambda: first.connections() == 1, timeout=10), first.log()
        assert first.stop() == 0
        # Published while no recorder runs: the broker queues them for the session.
        for payload in (json.dumps(good), b"\xff not json", b"[1, 2]", json.dumps(good),
                        json.dumps(odd, ensure_ascii=True)):
            publish(broker, topic, payload)
        second = RecorderRun(broker, db, "--client-id", "rec-test", "--verbose").start()
        try:
            assert wait_until(lambda: second.log().count("record: dev1: {") == 2
                              and second.log().count("not a JSON object") == 2, timeout=10), \
                second.log()
        finally:
            assert second.stop() == 0, second.log()
    log = second.log()
    assert "resumed session" in log and "Traceback" not in log
    assert "2 readings stored" in log and "1 duplicates skipped, 2 rejected" in log

    readings = export(db, "readings", "--device", "dev1")
    assert [r["ts"] for r in readings] == ["1744733271", "1744733272"]
    first_row, odd_row = readings
    assert first_row["time_utc"] == "2025-04-15T16:07:51Z"
    assert float(first_row["p"]) == -812 and first_row["e_imp"] == "12345678"
    assert first_row["meter_id"] == "6970631401234567"
    assert odd_row["p"] == "" and odd_row["model"] == ""  # wrong types are left empty
    assert float(odd_row["e_imp"]) == float(1 << 70)
    channels = export(db, "channels")
    assert {(r["ts"], r["channel"]) for r in channels} == {
        ("1744733271", "L1"), ("1744733271", "Varmepumpe \u00f8\u00b0"), ("1744733272", "L2")}
    l2 = [r for r in channels if r["channel"] == "L2"][0]
    assert l2["u"] == "" and float(l2["i"]) == 1e308
    assert export(db, "readings", "--device", "other") == []


def test_a_refused_login_ends_the_recorder_with_one_clear_line(tmp_path):
    db = str(tmp_path / "rec.sqlite")
    with Broker(users={"meter": "right"}) as broker:
        done = run_record("--broker", "meter:wrong@%s:%d" % (broker.host, broker.port),
                          "--db", db, "--duration", "10")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "record: the broker refused the connection: Not authorized")
    assert "Traceback" not in done.stderr and "reconnecting" not in done.stderr


@pytest.mark.parametrize("args, message", [
    ([], "required: --broker"),
    (["--broker", "host:99999"], "port must be"),
    (["--broker", "127.0.0.1:1883", "--prefix", "a/#"], "--prefix"),
    (["--broker", "127.0.0.1:1883", "--device", "x/y"], "--device"),
    (["--broker", "127.0.0.1:1883", "--db", "/nonexistent-dir/r.sqlite"], "cannot use"),
    (["export"], "required: --db"),
    (["export", "--db", "/nonexistent.sqlite"], "no such database"),
    (["export", "--db", RECORD], "not a database"),
    (["export", "--db", RECORD, "--table", "nope"], "invalid choice"),
])
def test_bad_usage_is_one_line_and_exit_2(args, message):
    done = run_record(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_help_documents_both_commands():
    for args in (["--help"], ["record", "--help"], ["export", "--help"]):
        done = run_record(*args)
        assert done.returncode == 0 and "usage: record.py" in done.stdout
    assert "--broker" in run_record("record", "--help").stdout
    assert "--table" in run_record("export", "--help").stdout
