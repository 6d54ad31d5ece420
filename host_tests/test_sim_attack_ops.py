"""Attacks on the sim board's operations (issue 16): a full or read-only flash during commands,
power losses against published energy, a switch of meter source, a read-only state dir, and
Ctrl-C at the terminal. Each runs the firmware under tools/sim.py against a real Mosquitto."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import mp_env
from broker import Broker
from mqtt_observer import Observer, SimRun, publish, wait_until
from support import han_corpus

DEVICE = "attacked"
BASE = "meters/" + DEVICE
SIM = os.path.join(mp_env.REPO, "tools", "sim.py")


def states(observer):
    return [json.loads(p) for p in observer.payloads(BASE + "/state")]


def answers(observer, topic):
    return [json.loads(p) for p in observer.payloads(topic)]


def command(broker, observer, request, topic="/cmd", timeout=20):
    """Send `request` (a dict) to <topic> (cmd or config/set) and return its answer."""
    result_topic = BASE + ("/cmd/result" if topic == "/cmd" else "/config/result")
    count = len(observer.payloads(result_topic))
    publish(broker, BASE + topic, json.dumps(request).encode())
    assert wait_until(lambda: len(observer.payloads(result_topic)) > count, timeout=timeout)
    return answers(observer, result_topic)[count]


def voltage_after(observer, seen):
    """CT1's voltage in the first state after the first `seen` states."""
    assert wait_until(lambda: len(states(observer)) > seen + 1, timeout=20)
    return states(observer)[seen + 1]["ch"]["CT1"]["u"]


def test_a_failing_flash_makes_commands_change_nothing_and_says_why_in_words(tmp_path):
    state = tmp_path / "state"
    with Broker() as broker:
        observer = Observer(broker, [BASE + "/#"])
        sim = SimRun(broker, str(state), DEVICE,
                     env={"SIM_FAULT": "flash", "SIM_ENERGY_SAVE_MS": "2000"},
                     extra_args=["--quiet", "--set", "publish_interval_s=1"]).start()
        try:
            assert wait_until(lambda: len(states(observer)) >= 3
                              and states(observer)[-1].get("e_imp", 0) > 0, timeout=40), \
                sim.log()
            volts = states(observer)[-1]["ch"]["CT1"]["u"]
            config_before = observer.payloads(BASE + "/config")[-1]
            (state / ".sim_flash_full").write_text("full")

            # calibrate (5 % off: within the sanity bound) cannot be saved: nothing changes
            answer = command(broker, observer, {"cmd": "calibrate", "channel": "CT1",
                                                "voltage": round(volts * 1.05, 2), "id": 1})
            assert answer["ok"] is False and answer["id"] == 1, answer
            assert "flash full" in answer["error"] and "nothing changed" in answer["error"]
            seen = len(states(observer))
            assert abs(voltage_after(observer, seen) - volts) < 0.01 * volts
            assert observer.payloads(BASE + "/config")[-1] == config_before
            assert json.loads((state / "config.json").read_text()).get(
                "atm90e32", {}).get("ct1", {}).get("ugain", 0) == 0

            # reset_energy cannot be saved: the counters go on
            energy = states(observer)[-1]["e_imp"]
            answer = command(broker, observer, {"cmd": "reset_energy",
                                                "confirm": "reset_energy"})
            assert answer["ok"] is False and "flash full" in answer["error"], answer
            seen = len(states(observer))
            assert wait_until(lambda: len(states(observer)) > seen + 1, timeout=20)
            assert states(observer)[-1]["e_imp"] >= energy > 0

            # a config change: the cause in words, not "28"
            answer = command(broker, observer, {"publish_interval_s": 2}, "/config/set")
            assert answer == {"ok": False, "error": "could not save config: flash full"}
            os.remove(state / ".sim_flash_full")
            (state / ".sim_flash_readonly").write_text("ro")
            answer = command(broker, observer, {"publish_interval_s": 2}, "/config/set")
            assert answer == {"ok": False, "error": "could not save config: read-only"}
            os.remove(state / ".sim_flash_readonly")

            # a tenfold wrong reference is refused every time, and changes nothing
            for _ in range(3):
                answer = command(broker, observer, {"cmd": "calibrate", "channel": "CT1",
                                                    "voltage": round(volts / 10, 2)})
                assert answer["ok"] is False and "20 %" in answer["error"], answer
            seen = len(states(observer))
            assert abs(voltage_after(observer, seen) - volts) < 0.01 * volts

            # with room on the flash, a calibration within the bound is saved and applied
            target = round(volts * 1.05, 2)
            answer = command(broker, observer, {"cmd": "calibrate", "channel": "CT1",
                                                "voltage": target})
            assert answer["ok"] is True, answer
            assert json.loads((state / "config.json").read_text())["atm90e32"]["ct1"][
                "ugain"] == answer["ugain"]
            seen = len(states(observer))
            assert wait_until(lambda: len(states(observer)) > seen + 2, timeout=20)
            assert abs(states(observer)[-1]["ch"]["CT1"]["u"] - target) < 0.01 * target

            # and "force": true takes a reference beyond the bound
            answer = command(broker, observer, {"cmd": "calibrate", "channel": "CT1",
                                                "voltage": round(target * 1.3, 2),
                                                "force": True})
            assert answer["ok"] is True, answer
        finally:
            assert sim.stop() == 0, sim.log()
        assert "Traceback" not in sim.log(), sim.log()
        observer.close()


def test_published_energy_never_decreases_across_power_losses(tmp_path):
    state = str(tmp_path / "state")
    env = {"SIM_ENERGY_SAVE_MS": "2000"}
    with Broker() as broker:
        observer = Observer(broker, [BASE + "/#"])
        for run_s in (5.0, 6.5, 4.0):
            sim = SimRun(broker, state, DEVICE, env=env,
                         extra_args=["--quiet", "--set", "publish_interval_s=1"]).start()
            count = len(states(observer))
            assert wait_until(lambda c=count: len(states(observer)) > c, timeout=40), sim.log()
            time.sleep(run_s)
            sim.power_loss()
        observer.close()
    published = [s for s in states(observer) if "e_imp" in s]
    totals = [s["e_imp"] for s in published]
    assert totals == sorted(totals), totals
    for name in ("CT1", "CT2", "CT3"):
        for key in ("e_imp", "e_exp"):
            values = [s["ch"][name][key] for s in published if key in s["ch"].get(name, {})]
            assert values == sorted(values), (name, key, values)
    assert totals[-1] > totals[0]  # energy was counted and published, only never backwards


def test_switching_the_meter_source_removes_the_old_sources_sensors(tmp_path):
    state = str(tmp_path / "state")
    discovery = "homeassistant/sensor/%s_" % DEVICE
    entries = [e for e in han_corpus() if e["id"].startswith("aidon-no-tn3p-raw-")]
    capture = tmp_path / "capture.hex"
    capture.write_text("\n".join(e["hex"] for e in entries) + "\n")
    with Broker() as broker:
        observer = Observer(broker, [BASE + "/#", "homeassistant/#"])

        def configs():
            return {t[len(discovery):-len("/config")]: p
                    for t, p in observer.messages_under(discovery)}

        with SimRun(broker, state, DEVICE, extra_args=["--quiet"]):
            assert wait_until(lambda: "CT1_p" in configs(), timeout=40)
            time.sleep(1)  # the rest of the announcement
        atm_keys = set(configs())
        with SimRun(broker, state, DEVICE, han=str(capture),
                    extra_args=["--quiet", "--han-interval", "0.5"]) as sim:
            assert wait_until(lambda: any(k.startswith("L1_") for k in configs()), timeout=40), \
                sim.log()
            assert wait_until(lambda: all(configs()[k] == b"" for k in atm_keys
                                          if k.startswith("CT")), timeout=10), \
                sorted((k, len(v)) for k, v in configs().items())
        with open(os.path.join(state, "ha_keys")) as f:
            owner, keys = f.read().split("\n")
        assert owner == "han"
        assert "CT" not in keys and "L1:" in keys
        # sensors both sources have (totals) are announced again, not removed
        assert configs()["p"] != b""
        observer.close()


def _read_only_wrapper(path, after_s=0):
    """argv prefix that runs a command with `path` read-only (EROFS) from `after_s` seconds
    on, in a mount namespace of its own (root: permissions do not stop root); None if this
    machine cannot."""
    if shutil.which("unshare") is None:
        return None
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        return None
    script = ('mount --bind "$D" "$D" || exit 97; '
              'if [ "$AFTER" = 0 ]; then mount -o remount,bind,ro "$D" || exit 97; fi; '
              '"$@" & child=$!; '
              'if [ "$AFTER" != 0 ]; then sleep "$AFTER"; mount -o remount,bind,ro "$D"; fi; '
              'wait $child')
    return ["env", "D=" + path, "AFTER=%s" % after_s, "unshare", "-m", "sh", "-c", script, "sh"]


def _read_only_run(path, args, after_s=0, timeout=60):
    """tools/sim.py `args` with the state dir `path` read-only (from `after_s` s on)."""
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        if after_s == 0:
            os.chmod(path, 0o555)
            try:
                return subprocess.run([sys.executable, SIM] + args, capture_output=True,
                                      text=True, timeout=timeout)
            finally:
                os.chmod(path, 0o755)
        proc = subprocess.Popen([sys.executable, SIM] + args, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(after_s)
        for name in os.listdir(path):
            os.chmod(os.path.join(path, name), 0o444)
        os.chmod(path, 0o555)
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            os.chmod(path, 0o755)
            for name in os.listdir(path):
                os.chmod(os.path.join(path, name), 0o644)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    wrapper = _read_only_wrapper(path, after_s)
    if wrapper is None:
        pytest.skip("root without mount namespaces: no way to make a directory read-only")
    done = subprocess.run(wrapper + [sys.executable, SIM] + args, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode == 97:
        pytest.skip("no bind mounts here: no way to make a directory read-only as root")
    return done


def test_a_read_only_state_dir_is_reported_without_a_traceback(tmp_path):
    with Broker() as broker:
        args = ["--broker", "%s:%d" % (broker.host, broker.port), "--device-id", DEVICE,
                "--quiet", "--duration", "30"]
        # read-only from the start: refused before anything runs
        state = str(tmp_path / "ro")
        done = _read_only_run(state, args + ["--state-dir", state])
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert "Traceback" not in done.stdout + done.stderr
        assert "not writable" in done.stderr and "--state-dir" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr

        # read-only while the board runs: the firmware goes on (its writes fail like a full
        # flash's), and once its watchdog cannot be fed tools/sim.py says why and stops
        state = str(tmp_path / "later")
        observer = Observer(broker, [BASE + "/#"])
        done = _read_only_run(state, args + ["--state-dir", state, "--watchdog-s", "3",
                                             "--set", "publish_interval_s=1"], after_s=8)
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
        assert "not writable" in done.stderr, done.stderr
        assert "watchdog expired" not in done.stdout  # no reset loop on an unwritable flash
        assert len(states(observer)) >= 3
        observer.close()


def _ctrl_c(sim):
    """Ctrl-C at a terminal: SIGINT to the whole foreground process group."""
    os.killpg(sim.proc.pid, signal.SIGINT)
    sim.proc.wait(timeout=20)
    time.sleep(0.2)  # the output pump's last lines
    return sim.proc.returncode


def test_ctrl_c_stops_cleanly_every_time_and_never_leads_to_safe_mode(tmp_path):
    state = tmp_path / "state"
    with Broker() as broker:
        observer = Observer(broker, [BASE + "/#"])
        for _ in range(3):
            sim = SimRun(broker, str(state), DEVICE,
                         extra_args=["--set", "publish_interval_s=1"]).start()
            count = len(states(observer))
            assert wait_until(lambda c=count: len(states(observer)) > c, timeout=40), sim.log()
            assert _ctrl_c(sim) == 0, sim.log()
            assert "Traceback" not in sim.log(), sim.log()
            assert "stopping (interrupt)" in sim.log()
            assert not os.path.exists(state / "energy.json.tmp")
            crash = json.loads((state / "crash.json").read_text())
            assert crash["running"] is False and not crash.get("unhealthy_starts"), crash
            assert json.loads((state / "energy.json").read_text())["counts_per_wh"] == 320
        diags = len(observer.payloads(BASE + "/diag"))
        sim = SimRun(broker, str(state), DEVICE, extra_args=["--quiet"]).start()
        try:
            assert wait_until(lambda: len(observer.payloads(BASE + "/diag")) > diags, timeout=30)
            assert json.loads(observer.payloads(BASE + "/diag")[-1])["safe_mode"] is False
        finally:
            assert sim.stop() == 0, sim.log()
        observer.close()


def test_safe_mode_is_said_on_the_console_and_on_notice(tmp_path):
    with Broker() as broker:
        observer = Observer(broker, [BASE + "/#"])
        sim = SimRun(broker, str(tmp_path), DEVICE, extra_args=["--quiet"],
                     env={"SIM_FAULT": "crash"}).start()
        try:
            assert wait_until(lambda: "safe mode:" in sim.log(), timeout=60), sim.log()
            assert wait_until(lambda: any(b"safe mode" in n for n in
                                          observer.payloads(BASE + "/notice")), timeout=20)
        finally:
            sim.stop()
        line = [t for t in sim.log().splitlines() if "safe mode:" in t][0]
        assert "failed starts in a row" in line and "injected hardware fault" in line, line
        notice = [n for n in observer.payloads(BASE + "/notice") if b"safe mode" in n][0]
        assert b"send a config change or a reboot command" in notice
        observer.close()
