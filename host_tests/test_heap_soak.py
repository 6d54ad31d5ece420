"""CPython-only: the firmware's heap budgets per board, measured on 32-bit builds configured like
the boards (tools/mp_env.py targets; ../shared/micropython32), against a real Mosquitto.

Each row runs the sim board's firmware the way that board holds its modules, at the board's
budget (issue 13):

| row            | target  | modules | heap | firmware                                        |
|----------------|---------|---------|------|-------------------------------------------------|
| d1mini-aidon   | esp8266 | frozen  | 30K  | HAN, real Aidon pushes (corpus)                 |
| d1mini-dsmr    | esp8266 | frozen  | 30K  | HAN, real DSMR/P1 telegrams (corpus)            |
| esp32-han      | esp32   | mpy     | 80K  | HAN, Aidon (stock ESP32 image + make deploy)    |
| esp32-atm90e32 | esp32   | mpy     | 80K  | ATM90E32, two emulated chips, six channels      |
| picow-atm90e32 | esp32   | mpy     | 128K | the same on the Pico W (the ESP32's object model)|

`mpy` loads the .mpy files `make deploy` copies into the heap; `frozen` has them compiled into
the binary (a custom D1 mini image, `make firmware`). The emulated hardware is frozen in every
mode (a board's hardware costs no heap), except the UART's receive buffer, which the ESP8266
port allocates in the heap too (boards/sim_uart.py).

Each run must end without a MemoryError, a traceback or a reset, deliver every state it
published (QoS 1 through the outbox), announce Home Assistant discovery, and keep a flat heap:
the live heap's high-water mark after the first pushes (ATM90E32: read cycles) does not grow.
Heap signal: a probe (written next to the emulated flash and run instead of main.py; it does
what main.py does) wraps App.publish_reading to print, after every publish,
`heap-probe <publishes> <pushes> <mem_alloc> <mem_free>` following a gc.collect(), so the figure
is the live heap, not garbage waiting for a collection.

`make test` runs short soaks (SOAK_PUSHES HAN pushes, default 1000; SOAK_ATM_CYCLES read cycles,
default 12); `make bench` runs the full ones and finds each row's smallest passing heap
(tools/bench.py).
"""

import json
import os
import signal
import subprocess
import threading

import pytest

import han_corpus_check as check
import mp_env
import mp_romfs
import sim as sim_tool
import support
from broker import Broker
from mqtt_observer import Observer, wait_until

PUSHES = int(os.environ.get("SOAK_PUSHES", "1000"))
ATM_CYCLES = int(os.environ.get("SOAK_ATM_CYCLES", "12"))
FIRST_HAN_PUSHES = 100
FIRST_ATM_CYCLES = 10
# Live-heap samples differ by what the last push left in the reading (a meter time string,
# a longer key set): the high-water mark may move within this many bytes without it being
# growth. A leak of one GC block (16 bytes on these builds) per push exceeds it within a
# hundred pushes.
SAMPLE_SLACK = 1024
DEVICE = "soak"
BASE = "meters/" + DEVICE

# (row id, target, modules, heap, capture: "aidon" | "dsmr" | None for the ATM90E32)
BUDGETS = (
    ("d1mini-aidon", "esp8266", "frozen", "30K", "aidon"),
    ("d1mini-dsmr", "esp8266", "frozen", "30K", "dsmr"),
    ("esp32-han", "esp32", "mpy", "80K", "aidon"),
    ("esp32-atm90e32", "esp32", "mpy", "80K", None),
    ("picow-atm90e32", "esp32", "mpy", "128K", None),
)

_PROBE = """\
# The firmware as main.py starts it, with a live-heap sample printed after every publish.
import gc
import sys

if "lib" not in sys.path:
    sys.path.append("lib")
import app

_publish = app.App.publish_reading
_count = [0]


def _probe(self):
    _publish(self)
    _count[0] += 1
    gc.collect()
    print("heap-probe %d %d %d %d" % (_count[0], getattr(self.source, "pushes", _count[0]),
                                      gc.mem_alloc(), gc.mem_free()))


app.App.publish_reading = _probe
app.main()
"""


CAPTURES = {"aidon": "aidon_hdlc.hex", "dsmr": "dsmr_p1.hex"}  # in host_tests/data/


def capture_text(kind):
    """The corpus's clean pushes of one kind as hex capture text (one push a line): "aidon"
    (Aidon HDLC lists, Swedish and Norwegian meters) or "dsmr" (DSMR/P1 telegrams of six
    makes). host_tests/data/ ships them for `make sim --han` (a test keeps them equal)."""
    if kind == "aidon":
        entries = [e for e in support.han_corpus() if e["family"] == "aidon"
                   and e["framing"] == "hdlc" and not e.get("edge_case")]
    else:
        entries = [e for e in support.han_corpus()
                   if e["framing"].startswith("ascii") and not e.get("edge_case")]
    return "\n".join(check.entry_bytes(e).hex() for e in entries) + "\n"


def capture_file(kind, folder=None):
    return os.path.join(support.DATA, CAPTURES[kind])


class SoakRun:
    """The firmware on a target in `state_dir`, its output parsed as it comes."""

    def __init__(self, broker, state_dir, target, modules, heap, han=None, site_extra=None):
        args = ["--state-dir", state_dir, "--device-id", DEVICE]
        if han:
            args += ["--han", han, "--han-baud", "0", "--han-interval", "0"]
        self.sim = sim_tool.Sim(sim_tool.build_parser().parse_args(args),
                                (broker.host, broker.port, "", ""))
        self.sim.provision()
        if site_extra:
            site_file = os.path.join(state_dir, "site.json")
            with open(site_file) as f:
                site = json.load(f)
            site.update(site_extra)
            with open(site_file, "w") as f:
                json.dump(site, f)
        probe = os.path.join(state_dir, "soak_main.py")
        with open(probe, "w") as f:
            f.write(_PROBE)
        self.argv, self.env = mp_env.command(probe, target, modules, board="sim", heap=heap,
                                             base_env=self.sim.env("power_on"))
        self.state_dir = state_dir
        self.lines = []
        self.samples = []  # (publishes, pushes, mem_alloc, mem_free)
        self.lock = threading.Lock()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.state_dir,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._pump, daemon=True).start()
        return self

    def _pump(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line)
                if line.startswith("heap-probe "):
                    self.samples.append(tuple(int(x) for x in line.split()[1:]))

    def last(self):
        with self.lock:
            return self.samples[-1] if self.samples else None

    def log(self, tail=40):
        with self.lock:
            return "".join(line for line in self.lines[-tail:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # the firmware's clean shutdown (Ctrl-C)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def soak(broker, state_dir, target, modules, heap, count, han=None, site_extra=None,
         count_index=1, seconds_per_count=0.05):
    """Runs the firmware until `count` pushes (count_index 1) or publishes (0); returns the
    run (stopped), the state messages and the Home Assistant discovery topics delivered.
    Raises AssertionError on a MemoryError, a traceback, a reset or a lost state."""
    observer = Observer(broker, [BASE + "/state", "homeassistant/#"])
    run = SoakRun(broker, state_dir, target, modules, heap, han=han,
                  site_extra=site_extra).start()
    try:
        done = wait_until(lambda: (run.last() or (0, 0))[count_index] >= count
                          or run.proc.poll() is not None,
                          timeout=90 + count * seconds_per_count, step=0.2)
        assert run.proc.poll() is None, "the firmware ended early (code %r):\n%s" % (
            run.proc.returncode, run.log())
        assert done, "only %r after the time allowed:\n%s" % (run.last(), run.log())
        published = run.last()[0]
        # every publish reaches the broker (QoS 1 through the outbox)
        assert wait_until(lambda: len(observer.payloads(BASE + "/state")) >= published,
                          timeout=20), (published, len(observer.payloads(BASE + "/state")))
    finally:
        code = run.stop()
        states = observer.payloads(BASE + "/state")
        discovery = [t for t, p in observer.messages_under("homeassistant/") if p]
        observer.close()
    output = run.log(tail=10**9)
    assert "MemoryError" not in output and "Traceback" not in output, run.log()
    assert code == 0, run.log()
    return run, states, discovery


def high_water_marks(samples, first, count_index=1):
    """(high-water mark of the live heap within the first `first` counts, after them)."""
    early = [s[2] for s in samples if s[count_index] <= first]
    late = [s[2] for s in samples if s[count_index] > first]
    assert early and late, samples[:5]
    return max(early), max(late)


@pytest.fixture
def broker():
    with Broker() as b:
        yield b


def run_budget(broker, folder, target, modules, heap, capture, pushes=PUSHES,
               cycles=ATM_CYCLES):
    """One budget row; returns (run, states, discovery topics) after checking it."""
    if capture:
        han = capture_file(capture, folder)
        run, states, discovery = soak(broker, os.path.join(folder, "flash"), target, modules,
                                      heap, pushes, han=han)
        publishes, pushed, _, _ = run.last()
        assert pushed >= pushes
        assert len(states) >= publishes >= pushes // 8  # pushes read in one loop turn merge
        state = json.loads(states[-1])
        assert state["src"] == "han" and state["id"]
        early, late = high_water_marks(run.samples, FIRST_HAN_PUSHES)
        what = "pushes"
    else:
        run, states, discovery = soak(broker, os.path.join(folder, "flash"), target, modules,
                                      heap, cycles,
                                      site_extra={"publish_interval_s": 1,
                                                  "atm90e32": {"addon_chip": True}},
                                      count_index=0, seconds_per_count=1.5)
        publishes = run.last()[0]
        assert publishes >= cycles
        assert len(states) >= publishes
        state = json.loads(states[-1])
        assert state["src"] == "atm90e32"
        assert sorted(state["ch"]) == ["CT%d" % n for n in range(1, 7)]
        imports = [json.loads(s)["e_imp"] for s in states]
        assert imports == sorted(imports)
        early, late = high_water_marks(run.samples, FIRST_ATM_CYCLES, count_index=0)
        what = "cycles"
    # Home Assistant discovery went out in that heap too: a config per sensor, the power ones
    # included
    assert any(t.endswith("_p/config") for t in discovery), discovery[:5]
    assert late <= early + SAMPLE_SLACK, (
        "live heap grew: high-water %d in the first %s, %d after (%d publishes)"
        % (early, what, late, publishes))
    return run, states, discovery


@pytest.mark.parametrize("row", BUDGETS, ids=[row[0] for row in BUDGETS])
def test_firmware_runs_in_the_boards_heap_budget(broker, tmp_path, row):
    _, target, modules, heap, capture = row
    os.makedirs(str(tmp_path / "flash"))
    run_budget(broker, str(tmp_path), target, modules, heap, capture)


def test_shipped_captures_are_the_corpus_pushes():
    for kind, name in CAPTURES.items():
        with open(os.path.join(support.DATA, name)) as f:
            assert f.read() == capture_text(kind), name


def test_romfs_launcher_runs_modules_from_the_image(tmp_path):
    """Modules come from /rom/lib, the script runs as __main__ with its arguments, and a
    module missing from the image is not found in the source folders."""
    script = tmp_path / "where.py"
    script.write_text(
        "import sys\nimport crc16\n"
        "print(__name__, crc16.__file__, sys.argv[1:], sys.path[0])\n"
        "try:\n    import han_decode\nexcept ImportError:\n    print('not found')\n")
    argv, env = mp_romfs.romfs_command(str(script), ["a", "b"], heap="64K")
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                            cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "__main__ /rom/lib/crc16.mpy ['a', 'b'] %s" % tmp_path
    assert lines[1] == "not found"


def test_romfs_launcher_usage_errors():
    for args in ([], ["--image"], ["-X", "opt=1", "x.py"], ["--bogus", "x.py"],
                 ["/no/such/script.py"], ["--image", "/no/such.img", __file__]):
        result = subprocess.run([mp_romfs.sys.executable, mp_romfs.__file__] + args,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("mp_romfs: ") and "Traceback" not in result.stderr


def test_crc16_nibble_tables_are_the_polynomials():
    import crc16

    def table(poly):
        out = []
        for n in range(16):
            crc = n
            for _ in range(4):
                crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
            out.append(crc)
        return tuple(out)

    assert tuple(crc16._X25_NIBBLES) == table(0x8408)
    assert tuple(crc16._ARC_NIBBLES) == table(0xA001)


def test_a_config_change_at_the_esp32_budget_is_answered_and_the_meter_read_on(broker, tmp_path):
    """A config/set on the stock ESP32 (.mpy in RAM) at its 80K budget, once the meter's pushes
    have fragmented the heap: exactly one answer (applied, or refused for want of memory with
    nothing changed), no crash or reset, and the states go on."""
    import paho.mqtt.publish as publish

    os.makedirs(str(tmp_path / "flash"))
    observer = Observer(broker, [BASE + "/config/result", BASE + "/state"])
    run = SoakRun(broker, str(tmp_path / "flash"), "esp32", "mpy", "80K",
                  han=capture_file("aidon")).start()
    try:
        assert wait_until(lambda: (run.last() or (0, 0))[0] >= 20
                          or run.proc.poll() is not None, timeout=90), run.log()
        publish.single(BASE + "/config/set", json.dumps({"name": "Kitchen"}),
                       hostname=broker.host, port=broker.port)
        assert wait_until(lambda: observer.payloads(BASE + "/config/result"), timeout=20), \
            run.log()
        answer = json.loads(observer.payloads(BASE + "/config/result")[0])
        assert answer["ok"] or "not enough memory" in answer["error"], answer
        published = run.last()[0]
        assert wait_until(lambda: run.last()[0] >= published + 10
                          or run.proc.poll() is not None, timeout=60), run.log()
        assert run.proc.poll() is None, run.log()
    finally:
        code = run.stop()
        observer.close()
    output = run.log(tail=10**9)
    assert "MemoryError" not in output and "Traceback" not in output, run.log()
    assert code == 0, run.log()
    assert len(observer.payloads(BASE + "/config/result")) == 1
