"""tools/dashboard in headless Chromium: Mosquitto serves the page on its WebSocket listener, the
firmware runs on the sim board, and the page must show the values the sim publishes, readers
appearing, a reader going offline when the sim stops, and a broker restart. Screenshots go to
artifacts/."""

import json
import os
import re
import time
import signal
import subprocess
import sys
import urllib.request

import pytest

import mp_env
from broker import Broker, free_port
from headless_chromium import HeadlessChromium, chromium_binary
from mqtt_observer import Observer, SimRun, publish, wait_until

DASHBOARD = os.path.join(mp_env.REPO, "tools", "dashboard")
BUNDLE = os.path.join(DASHBOARD, "node_modules", "mqtt", "dist", "mqtt.min.js")
ARTIFACTS = os.path.join(mp_env.REPO, "artifacts")
HAN_CAPTURE = os.path.join(mp_env.REPO, "host_tests", "data", "han_frames.jsonl")

pytestmark = pytest.mark.skipif(
    chromium_binary() is None,
    reason="Debian's chromium is not installed (make setup installs it as root; otherwise: "
           "sudo apt-get install -y chromium)")

# What one card shows, as text, read in one go (the page updates a card in one JS task).
CARD = """(function (id) {
  var card = document.querySelector('[data-reader="' + id + '"]');
  if (!card) return null;
  function text(root, field) {
    var e = root.querySelector('[data-field="' + field + '"]');
    return e && !e.hidden ? e.textContent : null;
  }
  var channels = {};
  card.querySelectorAll('tr[data-channel]').forEach(function (row) {
    var cells = {};
    row.querySelectorAll('td[data-field]').forEach(function (td) {
      if (!td.hidden) cells[td.dataset.field] = td.textContent;
    });
    channels[row.dataset.channel] = cells;
  });
  return {status: card.dataset.status, ts: card.dataset.ts, badge: text(card, 'status'),
          direction: text(card, 'direction'), p: text(card, 'p'), e_imp: text(card, 'e_imp'),
          e_exp: text(card, 'e_exp'), f: text(card, 'f'), updated: text(card, 'updated'),
          points: Number(card.querySelector('canvas').dataset.points), channels: channels};
})(%s)"""


def card(page, device):
    return page.evaluate(CARD % json.dumps(device))


def watts(text, direction=None):
    """'1.88 kW import' / '812 W' (+ 'exporting' headline) -> (signed W, rounding tolerance)."""
    m = re.fullmatch(r"([0-9.]+) (W|kW)(?: (import|export))?", text)
    assert m, text
    value = float(m.group(1)) * (1000 if m.group(2) == "kW" else 1)
    if (m.group(3) or direction) in ("export", "exporting"):
        value = -value
    return value, 5.0 if m.group(2) == "kW" else 0.5


def number(text, unit):
    assert text.endswith(" " + unit), text
    return float(text[:-len(unit) - 1].replace("\u202f", ""))


def states(observer, device):
    return [json.loads(p) for p in observer.payloads("meters/%s/state" % device)]


def state_with_ts(observer, device, ts):
    matching = [s for s in states(observer, device) if str(s.get("ts")) == ts]
    assert matching, (ts, [s.get("ts") for s in states(observer, device)])
    return matching[-1]


def shows_a_published_state(page, observer, device, check, attempts=6):
    """The card shows one of the states published with its `ts` (ts has 1 s resolution, so at
    a 1 s cadence two states can share it; and the observer may see a state a moment after the
    page). Returns the card; the last attempt's assertion error propagates."""
    for attempt in range(attempts):
        shown = card(page, device)
        candidates = [s for s in states(observer, device) if str(s.get("ts")) == shown["ts"]]
        for state in reversed(candidates):
            try:
                check(shown, state)
                return shown
            except AssertionError:
                if attempt == attempts - 1 and state is candidates[0]:
                    raise
        time.sleep(0.5)
    check(shown, state_with_ts(observer, device, shown["ts"]))
    return shown


def check_shows_atm90e32_state(shown, state):
    value, tolerance = watts(shown["p"], shown["direction"])
    assert abs(value - state["p"]) <= tolerance, (shown, state)
    assert shown["direction"] == ("importing" if state["p"] > 0.5 else
                                  "exporting" if state["p"] < -0.5 else "balanced")
    assert number(shown["e_imp"], "kWh") * 1000 == pytest.approx(state["e_imp"], abs=1e-6)
    assert number(shown["e_exp"], "kWh") * 1000 == pytest.approx(state["e_exp"], abs=1e-6)
    assert abs(number(shown["f"], "Hz") - state["f"]) <= 0.005 + 1e-9
    assert set(shown["channels"]) == set(state["ch"])
    for name, ch in state["ch"].items():
        cells = shown["channels"][name]
        value, tolerance = watts(cells["p"])
        assert abs(value - ch["p"]) <= tolerance, (name, cells, ch)
        assert abs(number(cells["u"], "V") - ch["u"]) <= 0.05 + 1e-9, (name, cells, ch)
        assert abs(number(cells["i"], "A") - ch["i"]) <= 0.005 + 1e-9, (name, cells, ch)
        assert number(cells["e_imp"], "kWh") * 1000 == pytest.approx(ch["e_imp"], abs=1e-6)
        assert number(cells["e_exp"], "kWh") * 1000 == pytest.approx(ch["e_exp"], abs=1e-6)


def test_dashboard_shows_live_readers_and_flips_to_offline(tmp_path):
    assert os.path.exists(BUNDLE), "MQTT.js missing: run make setup (tools/dashboard/setup.sh)"
    with Broker(websockets_port=free_port(), http_dir=DASHBOARD) as broker:
        observer = Observer(broker, ["meters/#"])
        house = SimRun(broker, str(tmp_path / "house"), "house", extra_args=["--quiet"])
        han = SimRun(broker, str(tmp_path / "han"), "han", han=HAN_CAPTURE,
                     extra_args=["--quiet"])
        with HeadlessChromium(str(tmp_path / "profile")) as browser:
            page = browser.open("http://127.0.0.1:%d/" % broker.websockets_port)
            try:
                assert page.wait_for("document.getElementById('broker').dataset.state"
                                     " === 'connected'", timeout=15), page.problems()
                assert page.evaluate("document.querySelectorAll('.reader').length") == 0
                assert page.evaluate("!document.getElementById('empty').hidden")

                # Readers appear while the page is open.
                house.start()
                han.start()
                assert wait_until(lambda: b"online" in observer.payloads("meters/house/status"),
                                  timeout=30), house.log()
                publish(broker, "meters/house/config/set", json.dumps({"publish_interval_s": 1}))
                assert page.wait_for("(function () { var c = document.querySelector("
                                     "'[data-reader=house]'); return c && c.dataset.status === "
                                     "'online' && Number(c.querySelector('canvas')"
                                     ".dataset.points) >= 4; })()", timeout=30), house.log()

                shown = shows_a_published_state(page, observer, "house",
                                                 check_shows_atm90e32_state)
                assert shown["badge"] == "online"
                assert re.search(r"updated \d\d:\d\d:\d\d \(\d s ago\)", shown["updated"])

                # The HAN reader: three phases with voltage and current; the headline power of
                # the state shown.
                assert page.wait_for("(function () { var c = document.querySelector("
                                     "'[data-reader=han]'); return c && c.dataset.ts && "
                                     "c.querySelectorAll('tr[data-channel]').length === 3; })()",
                                     timeout=20), han.log()
                def check_han_power(shown, state):
                    value, tolerance = watts(shown["p"], shown["direction"])
                    assert abs(value - state["p"]) <= tolerance, (shown, state)

                shown_han = shows_a_published_state(page, observer, "han", check_han_power)
                assert sorted(shown_han["channels"]) == ["L1", "L2", "L3"]
                published_u = {round(s["ch"][c]["u"], 1) for s in states(observer, "han")
                               for c in s.get("ch", {}) if "u" in s["ch"][c]}
                for cells in shown_han["channels"].values():
                    assert number(cells["u"], "V") in published_u
                    assert "p" not in cells  # no per-phase power in these lists: column hidden

                # The same page opened from a file, told where the broker is.
                other = browser.open("file://%s/index.html?broker=ws://127.0.0.1:%d&minutes=2"
                                     % (DASHBOARD, broker.websockets_port))
                assert other.wait_for("(function () { var c = document.querySelector("
                                      "'[data-reader=house]'); return c && c.dataset.status === "
                                      "'online'; })()", timeout=15)
                page.screenshot(os.path.join(ARTIFACTS, "dashboard.png"))

                house.stop()
                assert page.wait_for("document.querySelector('[data-reader=house]')"
                                     ".dataset.status === 'offline'", timeout=15)
                assert card(page, "house")["badge"].startswith("offline since ")
                assert card(page, "han")["status"] == "online"
                page.screenshot(os.path.join(ARTIFACTS, "dashboard-offline.png"))

                # A broker restart: the page reconnects and the HAN reader's values move on.
                assert page.evaluate("document.getElementById('broker').dataset.connects") == "1"
                before = card(page, "han")["ts"]
                broker.restart(down_seconds=1)
                assert page.wait_for("document.getElementById('broker').dataset.connects === '2'"
                                     " && document.getElementById('broker').dataset.state === "
                                     "'connected'", timeout=20)
                assert page.wait_for("document.querySelector('[data-reader=han]').dataset.ts "
                                     "!== %s" % json.dumps(before), timeout=20), han.log()
                assert card(page, "han")["status"] == "online"
                assert not page.problems() and not other.problems(), (page.problems(),
                                                                      other.problems())
            finally:
                house.stop()
                han.stop()
                observer.close()


def test_make_dashboard_serves_the_page_and_the_bundle_and_stops_cleanly(tmp_path):
    assert os.path.exists(BUNDLE), "MQTT.js missing: run make setup (tools/dashboard/setup.sh)"
    port = free_port()
    proc = subprocess.Popen([sys.executable, os.path.join(DASHBOARD, "serve.py"), "--readers",
                             "han", "--port", str(port), "--state-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("dashboard: http://127.0.0.1:%d/ " % port), first
        with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5) as page:
            assert b"<title>Meter readers</title>" in page.read()
        bundle = "http://127.0.0.1:%d/node_modules/mqtt/dist/mqtt.min.js" % port
        with urllib.request.urlopen(bundle, timeout=5) as js:
            assert len(js.read()) == os.path.getsize(BUNDLE)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Traceback" not in out
