"""tools/configure.py against the firmware on the sim board: list, show, set, cmd, signing."""

import json
import os
import subprocess
import sys
import time

import mp_env
from broker import Broker
from mqtt_observer import Observer, SimRun, wait_until

DEVICE = "tooled"
SECRET = "ab" * 32


def configure(broker, *args):
    cmd = [sys.executable, os.path.join(mp_env.REPO, "tools", "configure.py"),
           "--broker", "%s:%d" % (broker.host, broker.port), "--timeout", "10"] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_list_show_set_and_cmd(tmp_path):
    with Broker() as broker:
        observer = Observer(broker, ["meters/%s/config" % DEVICE])
        with SimRun(broker, str(tmp_path), DEVICE, extra_args=["--quiet"]):
            assert wait_until(lambda: observer.payloads("meters/%s/config" % DEVICE), timeout=30)
            listed = configure(broker, "list")
            assert listed.returncode == 0 and DEVICE in listed.stdout and "online" in listed.stdout
            shown = configure(broker, "show", DEVICE)
            assert shown.returncode == 0, shown.stderr
            assert json.loads(shown.stdout)["device_id"] == DEVICE
            changed = configure(broker, "set", DEVICE, "publish_interval_s=5", "ct6.enabled=true")
            assert changed.returncode == 0, changed.stdout + changed.stderr
            answer = json.loads(changed.stdout)
            assert answer["ok"] and sorted(answer["changed"]) == ["ct6.enabled",
                                                                  "publish_interval_s"]
            refused = configure(broker, "set", DEVICE, "publish_interval_s=0")
            assert refused.returncode == 1 and '"ok": false' in refused.stdout
            identify = configure(broker, "cmd", DEVICE, "identify", "seconds=2")
            assert identify.returncode == 0 and json.loads(identify.stdout)["cmd"] == "identify"
            unknown = configure(broker, "cmd", DEVICE, "selfdestruct")
            assert unknown.returncode == 1 and "unknown command" in unknown.stdout
        bad = configure(broker, "set", DEVICE, "novalue")
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "KEY=VALUE" in bad.stderr
        observer.close()


def test_signed_set_with_the_secret_and_refused_without(tmp_path):
    with Broker() as broker:
        observer = Observer(broker, ["meters/%s/config" % DEVICE])
        with SimRun(broker, str(tmp_path), DEVICE, extra_args=["--quiet", "--secret", SECRET]):
            assert wait_until(lambda: observer.payloads("meters/%s/config" % DEVICE), timeout=30)
            unsigned = configure(broker, "set", DEVICE, "publish_interval_s=7")
            assert unsigned.returncode == 1
            time.sleep(0.2)
            signed = configure(broker, "--secret", SECRET, "set", DEVICE, "publish_interval_s=7")
            assert signed.returncode == 0, signed.stdout + signed.stderr
        observer.close()
