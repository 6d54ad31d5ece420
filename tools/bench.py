"""Performance figures of the firmware: what `make bench` prints.

usage: bench.py [--quick] [--runs N] [--no-install] [--markdown]

One table; every time and heap figure is the median of several runs in this one invocation:
  HAN decode        µs per frame, bytes to decoded push (framer, CRCs, DLMS, JSON line: the
                    han_decode path), on CPython and the MicroPython unix port, beside amshan
                    2.1.1 (bytes to decoded dict) on the same frames: the corpus HDLC frames
                    amshan decodes (the others are counted and named)
  HAN push          µs per frame, bytes to the firmware's Reading (HanSource, the device path)
  HAN heap          bytes allocated per push on the unix port (gc.mem_alloc() delta with the
                    collector disabled, warm decoder; 64-bit port, about twice a 32-bit board)
  ATM90E32          read-cycle time, SPI transactions and allocation (tools/bench_atm90e32.py)
  latency           frame end on the line to the state message delivered to an MQTT subscriber
                    on loopback: the firmware on the sim board replaying a capture at 115200
                    baud (tools/bench_latency_firmware.py stamps the line end), a paho client
                    stamps arrivals; again with TCP_NODELAY on the firmware's socket (an
                    experiment), and from a ROMFS image in a small heap (tools/mp_romfs.py)
  boot heap         free heap after boot per board module set (tools/ram_report.py)
  ROMFS image       the image of each board's modules (tools/mp_romfs.py)
  .mpy size         the firmware compiled for each board (tools/deploy.py compile_tree)
  heap budgets      each board's heap budget row of host_tests/test_heap_soak.py on the
                    32-bit builds: a full soak (10,000 HAN pushes or 60 ATM90E32 cycles) at
                    the budget, and the smallest heap a short soak passes in (bisection)
A benchmark, not a test: nothing here passes or fails on speed.

options:
  --quick       a fast smoke run: fewer runs and repetitions, a short latency run, no soak
  --runs N      runs per figure (median); default 7, 3 with --quick
  --no-install  do not install requirements-bench.txt (amshan) when it is missing
  --markdown    print the table as Markdown (docs/bench.md)
  -h, --help    this text

amshan is a benchmark-only dependency (requirements-bench.txt, pinned): the first run installs
it into the venv with pip; if that fails, its cells say "amshan not available".
"""

import sys

_MICROPYTHON = sys.implementation.name == "micropython"

# -- portable part: runs on CPython and, in a subprocess, on the unix port --------------------


def _timer():
    import time

    if _MICROPYTHON:
        return time.ticks_us, time.ticks_diff
    return (lambda: time.perf_counter_ns() // 1000), (lambda a, b: a - b)


def _median(values):
    ordered = sorted(values)
    n = len(ordered)
    if n % 2:
        return ordered[n // 2]
    return (ordered[n // 2 - 1] + ordered[n // 2]) / 2


class _Sink:
    """Counts results and rejections (bound methods: calling them allocates nothing)."""

    def __init__(self):
        self.results = 0
        self.rejects = 0

    def on_result(self, line):
        self.results += 1

    def on_reject(self, reason):
        self.rejects += 1


class _FrameUart:
    """A UART holding one frame. bytewise: copy without slicing, so the copy allocates nothing
    and a heap delta is the firmware's alone (slower: timing uses the slice copy)."""

    def __init__(self, bytewise=False):
        self.bytewise = bytewise
        self.mv = memoryview(b"")
        self.pos = 0

    def load(self, data):
        self.mv = memoryview(data)
        self.pos = 0

    def any(self):
        return len(self.mv) - self.pos

    def readinto(self, buf, nbytes=None):
        n = len(self.mv) - self.pos
        if n > len(buf):
            n = len(buf)
        if n <= 0:
            return None
        pos = self.pos
        if self.bytewise:
            mv = self.mv
            for i in range(n):
                buf[i] = mv[pos + i]
        else:
            buf[:n] = self.mv[pos : pos + n]
        self.pos = pos + n
        return n


class _Pusher:
    def __init__(self, uart):
        self.uart = uart

    def push(self, source, frame):
        """One frame through the firmware's HanSource, as its main loop polls."""
        uart = self.uart
        uart.load(frame)
        while uart.any():
            source.poll()


def _feed(decoder, frame):
    decoder.feed(frame)


def _nothing(a, b):
    return None


def _allocated(call, a, b, runs):
    """Median bytes allocated by call(a, b), the collector disabled (unix port only). A plain
    function or bound method with two arguments: calling it allocates nothing itself."""
    import gc

    samples = []
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            before = gc.mem_alloc()
            call(a, b)
            after = gc.mem_alloc()
        finally:
            gc.enable()
        samples.append(after - before)
    return _median(samples)


def _load_frames(path):
    import json
    from binascii import unhexlify

    with open(path) as f:
        return [unhexlify(text) for text in json.load(f)]


def han_measure(frames_path, runs, repeat):
    """Our HAN decoder over the frames (a JSON list of hex strings): median µs per frame for
    the JSON path and the Reading path, and per-frame bytes allocated per push (unix port only;
    None on CPython). Portable."""
    from han_meter import HanMeter
    from han_source import HanSource
    from han_stream import HanStreamDecoder
    from reading import Reading

    frames = _load_frames(frames_path)
    now, diff = _timer()
    settings = {"key": "", "auth_key": ""}

    sink = _Sink()
    decoders = [HanStreamDecoder(sink.on_result, sink.on_reject, HanMeter()) for _ in frames]
    for decoder, frame in zip(decoders, frames):
        decoder.feed(frame)  # warm-up: first-time allocations
    if sink.results != len(frames):
        raise RuntimeError("decoded %d of %d frames" % (sink.results, len(frames)))

    def decode_run():
        start = now()
        for i in range(len(frames)):
            decoder = decoders[i]
            frame = frames[i]
            for _ in range(repeat):
                decoder.feed(frame)
        return diff(now(), start) / (len(frames) * repeat)

    uart = _FrameUart()
    pusher = _Pusher(uart)
    sources = [HanSource(uart, settings, Reading("han")) for _ in frames]
    for source, frame in zip(sources, frames):
        pusher.push(source, frame)
        pusher.push(source, frame)  # the reading's shape, ids and channels are set once

    def source_run():
        start = now()
        for i in range(len(frames)):
            source = sources[i]
            frame = frames[i]
            for _ in range(repeat):
                pusher.push(source, frame)
        return diff(now(), start) / (len(frames) * repeat)

    result = {
        "decode_us": _median([decode_run() for _ in range(runs)]),
        "source_us": _median([source_run() for _ in range(runs)]),
        "decode_heap": None,
        "source_heap": None,
        "micropython": _MICROPYTHON,
    }
    if not _MICROPYTHON:
        return result

    uart.bytewise = True
    samples = max(runs, 3)
    harness = _allocated(_nothing, None, None, samples)  # the measuring itself: expected 0
    decode_heap = []
    source_heap = []
    for i in range(len(frames)):
        decode_heap.append(_allocated(_feed, decoders[i], frames[i], samples) - harness)
        source_heap.append(_allocated(pusher.push, sources[i], frames[i], samples) - harness)
    result["decode_heap"] = decode_heap
    result["source_heap"] = source_heap
    return result


# -- host part (CPython) ----------------------------------------------------------------------

_LATENCY_FRAMES = ("aidon-no-l3-gh1119-1", "aidon-no-l3-gh1119-3", "aidon-no-l3-gh1119-4")
_SOAK_PUSHES = 10000
_NA = "not available"
_ROMFS_LATENCY = "frame end -> MQTT delivered, ROMFS small heap"
_SOAK_TEST = ("host_tests", "test_heap_soak.py")


def _repo():
    import os

    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _host_paths():
    import os

    repo = _repo()
    for path in (os.path.join(repo, "tools"), repo, os.path.join(repo, "host_tests")):
        if path not in sys.path:
            sys.path.insert(0, path)
    import mp_env

    mp_env.use_module_path()


def _corpus():
    import json
    import os

    entries = []
    with open(os.path.join(_repo(), "host_tests", "data", "han_frames.jsonl")) as f:
        for line in f:
            if line.strip():
                entries.append(json.loads(line))
    return entries


class Table:
    """Rows of (figure, value, notes), printed at the end as one table."""

    def __init__(self):
        self.rows = []

    def add(self, figure, value, notes=""):
        self.rows.append((figure, value, notes))
        print("  measured: %s = %s" % (figure, value), file=sys.stderr, flush=True)

    def markdown(self):
        lines = ["| figure | value | notes |", "| --- | --- | --- |"]
        for row in self.rows:
            lines.append("| " + " | ".join(cell.strip().replace("|", "\\|") for cell in row)
                         + " |")
        return "\n".join(lines)

    def text(self):
        widths = [max(len(row[i]) for row in self.rows + [("figure", "value", "")])
                  for i in range(2)]
        fmt = "%-" + str(widths[0]) + "s  %-" + str(widths[1]) + "s  %s"
        lines = [fmt % ("figure", "value", "notes"), fmt % ("-" * widths[0], "-" * widths[1],
                                                            "-----")]
        for figure, value, notes in self.rows:
            lines.append((fmt % (figure, value, notes)).rstrip())
        return "\n".join(lines)


def _fmt_us(us):
    return "%.0f µs" % us if us >= 100 else "%.1f µs" % us


def _micropython_json(code, timeout=900):
    """Run code on the unix port with the firmware's path (plus tools/); its last stdout line
    is JSON. Raises RuntimeError with the port's message when it fails."""
    import json
    import os
    import subprocess

    import mp_env

    tools = os.path.join(_repo(), "tools")
    try:
        result = subprocess.run([mp_env.micropython_binary(), "-c", code],
                                env=mp_env.micropython_env(extra_path=[tools]), cwd=_repo(),
                                capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError("unix port did not run: %s" % e) from None
    if result.returncode != 0:
        raise RuntimeError("unix port run failed: %s" % result.stderr.strip()[-400:])
    lines = result.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError("unix port printed nothing")
    return json.loads(lines[-1])


# -- amshan -----------------------------------------------------------------------------------


def _ensure_amshan(install):
    """True when amshan imports; installs requirements-bench.txt first if allowed."""
    import importlib
    import os
    import subprocess

    try:
        importlib.import_module("han.autodecoder")
        return True
    except ImportError:
        pass
    if not install:
        print("bench: amshan is not installed (--no-install): its cells say %r" % _NA,
              file=sys.stderr)
        return False
    requirements = os.path.join(_repo(), "requirements-bench.txt")
    print("bench: amshan (the comparison decoder) is missing; installing the benchmark-only "
          "packages with: %s -m pip install -r requirements-bench.txt" % sys.executable,
          file=sys.stderr, flush=True)
    try:
        result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r",
                                 requirements], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        print("bench: pip did not run (%s): amshan not available" % e, file=sys.stderr)
        return False
    if result.returncode != 0:
        print("bench: pip install failed, amshan not available:\n%s"
              % result.stderr.strip()[-600:], file=sys.stderr)
        return False
    importlib.invalidate_caches()
    try:
        importlib.import_module("han.autodecoder")
    except ImportError as e:
        print("bench: amshan installed but does not import (%s): not available" % e,
              file=sys.stderr)
        return False
    return True


class _AmshanMeter:
    """amshan as its users run it for one meter: a persistent HDLC reader and AutoDecoder
    (which tries its last successful decoder first)."""

    def __init__(self):
        from han.autodecoder import AutoDecoder
        from han.hdlc import HdlcFrameReader

        self.reader = HdlcFrameReader()
        self.decoder = AutoDecoder()

    def decode(self, data):
        """Decoded dicts of the good frames in data."""
        out = []
        for frame in self.reader.read(data):
            if frame.is_good_ffc and frame.is_expected_length:
                decoded = self.decoder.decode_message(frame)
                if decoded is not None:
                    out.append(decoded)
        return out


def _amshan_classify(frame):
    """'ok', or why amshan gives nothing for this frame alone."""
    try:
        meter = _AmshanMeter()
        decoded = meter.decode(frame)
    except Exception as e:  # amshan raises KeyError etc. on frames it does not know
        return "crashed (%s)" % type(e).__name__
    if decoded:
        return "ok"
    try:
        from han.hdlc import HdlcFrameReader

        frames = HdlcFrameReader().read(frame)
    except Exception as e:
        return "crashed (%s)" % type(e).__name__
    if not any(f.is_good_ffc and f.is_expected_length for f in frames):
        return "frame rejected"
    return "nothing decoded"


def _amshan_time(frames, runs, repeat):
    import time

    meters = [_AmshanMeter() for _ in frames]
    for meter, frame in zip(meters, frames):
        if len(meter.decode(frame)) != 1:
            raise RuntimeError("amshan did not decode a frame it decoded before")

    def run():
        start = time.perf_counter_ns()
        for i in range(len(frames)):
            meter = meters[i]
            frame = frames[i]
            for _ in range(repeat):
                meter.decode(frame)
        return (time.perf_counter_ns() - start) / 1000 / (len(frames) * repeat)

    return _median([run() for _ in range(runs)])


def _ours_decodes_alone(frame):
    from han_meter import HanMeter
    from han_stream import HanStreamDecoder

    sink = _Sink()
    HanStreamDecoder(sink.on_result, sink.on_reject, HanMeter()).feed(frame)
    return sink.results == 1


# -- sections ---------------------------------------------------------------------------------


def bench_han(table, opts, tmp):
    import json
    import os
    from collections import Counter

    hdlc = [e for e in _corpus() if e.get("framing") == "hdlc" and e.get("hex")]
    have_amshan = opts.amshan
    chosen = []
    skipped = Counter()
    skipped_ids = {}
    for entry in hdlc:
        frame = bytes.fromhex(entry["hex"])
        why = _amshan_classify(frame) if have_amshan else "ok"
        if why == "ok" and not _ours_decodes_alone(frame):
            why = "not a whole push alone (ours waits for the rest)"
        if why == "ok":
            chosen.append(frame)
        else:
            skipped[why] += 1
            skipped_ids.setdefault(why, []).append(entry["id"])
    if have_amshan:
        reasons = ", ".join("%d %s" % (n, why) for why, n in sorted(skipped.items()))
        frame_set = ("%d of the %d corpus HDLC frames (amshan skipped on %d: %s)"
                     % (len(chosen), len(hdlc), len(hdlc) - len(chosen), reasons))
    else:
        frame_set = ("%d of the %d corpus HDLC frames (those ours decodes alone; amshan not "
                     "available)" % (len(chosen), len(hdlc)))
    for why, ids in sorted(skipped_ids.items()):
        print("bench: skipped, %s: %s" % (why, " ".join(ids)), file=sys.stderr)
    frames_path = os.path.join(tmp, "frames.json")
    with open(frames_path, "w") as f:
        json.dump([frame.hex() for frame in chosen], f)

    # CPython: ours and amshan alternate run by run, so both see the same machine load (other
    # work on a shared machine slows both alike) and the speed-up is the median of the runs'
    # ratios.
    ours_runs, source_runs, amshan_runs, ratios = [], [], [], []
    for _ in range(opts.runs):
        run = han_measure(frames_path, 1, opts.repeat)
        ours_runs.append(run["decode_us"])
        source_runs.append(run["source_us"])
        if have_amshan:
            amshan_runs.append(_amshan_time(chosen, 1, opts.repeat))
            ratios.append(amshan_runs[-1] / run["decode_us"])
    ours = {"decode_us": _median(ours_runs), "source_us": _median(source_runs)}
    table.add("HAN decode, CPython, ours", _fmt_us(ours["decode_us"]) + "/frame",
              frame_set + "; bytes -> JSON line")
    if have_amshan:
        table.add("HAN decode, CPython, amshan 2.1.1", _fmt_us(_median(amshan_runs)) + "/frame",
                  "the same frames; bytes -> dict (HdlcFrameReader + AutoDecoder, one "
                  "meter each)")
        table.add("HAN decode speed-up vs amshan", "%.1f×" % _median(ratios),
                  "CPython, same frames, median of the runs' ratios (min %.1f×, max %.1f×); "
                  "target >= 10×" % (min(ratios), max(ratios)))
    else:
        table.add("HAN decode, CPython, amshan 2.1.1", _NA,
                  "pip install -r requirements-bench.txt failed or --no-install")
        table.add("HAN decode speed-up vs amshan", _NA, "needs amshan")
    table.add("HAN push -> Reading, CPython", _fmt_us(ours["source_us"]) + "/frame",
              "the firmware's HanSource (UART bytes -> Reading), same frames")
    try:
        mp = _micropython_json("import json, bench\nprint(json.dumps(bench.han_measure(%r, %d, "
                               "%d)))" % (frames_path, opts.runs, opts.repeat))
    except (RuntimeError, ValueError) as e:
        for figure in ("HAN decode, MicroPython unix port, ours",
                       "HAN push -> Reading, MicroPython unix port",
                       "HAN heap per push, decode to JSON", "HAN heap per push, HanSource"):
            table.add(figure, _NA, str(e)[:200])
        return
    table.add("HAN decode, MicroPython unix port, ours", _fmt_us(mp["decode_us"]) + "/frame",
              "same frames, bytes -> JSON line")
    table.add("HAN push -> Reading, MicroPython unix port", _fmt_us(mp["source_us"]) + "/frame",
              "same frames, HanSource")
    sizes = [len(frame) for frame in chosen]
    for figure, key in (("HAN heap per push, decode to JSON", "decode_heap"),
                        ("HAN heap per push, HanSource", "source_heap")):
        values = mp[key]
        table.add(figure, "%d B median" % _median(values),
                  "min %d, max %d B over the %d frames (%d..%d bytes long); unix port, gc "
                  "disabled, warm" % (min(values), max(values), len(values), min(sizes),
                                      max(sizes)))


def bench_atm90e32(table, opts):
    import bench_atm90e32

    cycles = 5 if opts.quick else 40
    try:
        cpython = bench_atm90e32.measure(opts.runs, cycles)
    except Exception as e:  # another engineer's module: report, do not stop the bench
        table.add("ATM90E32 read cycle", _NA, "bench_atm90e32.measure failed: %s" % e)
        return
    try:
        mp = _micropython_json("import json, bench_atm90e32\nprint(json.dumps("
                               "bench_atm90e32.measure(%d, %d)))" % (opts.runs, cycles))
        mp_rows = {row[0]: row for row in mp}
    except (RuntimeError, ValueError) as e:
        mp_rows = {}
        print("bench: ATM90E32 on the unix port not measured: %s" % e, file=sys.stderr)
    for label, transactions, micros, _ in cpython:
        row = mp_rows.get(label)
        value = "%d SPI tx, %s CPython" % (transactions, _fmt_us(micros))
        if row is None:
            value += ", unix port " + _NA
            notes = ""
        else:
            value += ", %s unix port" % _fmt_us(row[2])
            notes = "%s B allocated/cycle (unix port); " % ("-" if row[3] is None else row[3])
        notes += "wire time %.1f ms at 200 kHz, %.2f ms at 1 MHz" % (
            transactions * 32 / 200.0, transactions * 32 / 1000.0)
        table.add("ATM90E32 cycle, %s" % label, value, notes)


def _latency_capture(tmp):
    import os

    corpus = {e["id"]: e for e in _corpus()}
    power = {}
    with open(os.path.join(tmp, "latency.hex"), "w") as f:
        for k, name in enumerate(_LATENCY_FRAMES):
            entry = corpus[name]
            f.write(entry["hex"] + "\n")
            expected = entry["expected"]
            power[expected["1-0:1.7.0"] - expected.get("1-0:2.7.0", 0)] = k
    return os.path.join(tmp, "latency.hex"), power


def measure_latency(tmp, pushes, interval_s, warmup=4, timeout_s=120, nodelay=False,
                    romfs_heap=None):
    """Frame-end-to-delivered latencies in ms: (from line end, from last byte read, state
    messages that matched no push). nodelay: TCP_NODELAY on the firmware's MQTT socket.
    romfs_heap: run the firmware from a ROMFS image (tools/mp_romfs.py) with that heap size."""
    import json
    import os
    import signal
    import subprocess
    import threading
    import time

    import mp_env
    import paho.mqtt.client as mqtt
    import sim
    from broker import Broker

    capture, power = _latency_capture(tmp)
    state_dir = os.path.join(tmp, "latency-state-%d-%s" % (nodelay, romfs_heap))
    args = sim.build_parser().parse_args(["--han", capture, "--han-baud", "115200",
                                          "--han-interval", str(interval_s), "--state-dir",
                                          state_dir, "--device-id", "bench", "--quiet"])
    ends = {}  # push number -> (line end ns, last byte read ns)
    arrivals = []  # (ns, power)
    subscribed = threading.Event()
    enough = threading.Event()
    log_tail = []
    nodelay_on = []

    def on_message(client, userdata, msg):
        stamp = time.time_ns()
        if not msg.topic.endswith("/state"):
            return
        try:
            arrivals.append((stamp, json.loads(msg.payload).get("p")))
        except ValueError:
            return
        if len(arrivals) >= warmup + pushes:
            enough.set()

    broker = Broker().start()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    proc = None
    try:
        client.connect(broker.host, broker.port)
        client.subscribe("+/bench/state")  # only it: see docs/bench.md on Nagle
        client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("the subscriber did not subscribe")
        runner = sim.Sim(args, (broker.host, broker.port, "", ""))
        runner.provision()
        script = os.path.join(_repo(), "tools", "bench_latency_firmware.py")
        env = runner.env("power_on")
        if nodelay:
            env["BENCH_TCP_NODELAY"] = "1"
        if romfs_heap:
            import mp_romfs

            cmd, env = mp_romfs.romfs_command(script, heap=romfs_heap, board="sim",
                                              base_env=env)
        else:
            cmd = mp_env.micropython_command(script)
        proc = subprocess.Popen(cmd, cwd=state_dir, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        def pump():
            for line in proc.stdout:
                if line.startswith("bench-push-end "):
                    _, seq, line_end, read_end = line.split()
                    ends[int(seq)] = (int(line_end), int(read_end))
                elif line.startswith("bench-nodelay on"):
                    nodelay_on.append(True)
                else:
                    log_tail.append(line.rstrip())
                    del log_tail[:-20]

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while not enough.wait(0.5):
            if proc.poll() is not None:
                time.sleep(0.5)  # let the output pump take the last lines
                raise RuntimeError("the firmware exited (%s) after %d state messages: %s"
                                   % (proc.returncode, len(arrivals), " | ".join(log_tail[-2:])))
            if time.monotonic() > deadline:
                raise RuntimeError("only %d state messages in %d s" % (len(arrivals), timeout_s))
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        client.loop_stop()
        client.disconnect()
        broker.close()
    if nodelay and not nodelay_on:
        raise RuntimeError("TCP_NODELAY could not be set: %s" % " | ".join(log_tail[-3:]))
    from_line, from_read = [], []
    unmatched = 0
    period = len(_LATENCY_FRAMES)
    for stamp, p in arrivals[warmup:]:
        k = power.get(p)
        candidates = [seq for seq, (line_end, _) in ends.items()
                      if seq % period == k and line_end <= stamp]
        if k is None or not candidates:
            unmatched += 1
            continue
        line_end, read_end = ends[max(candidates)]
        from_line.append((stamp - line_end) / 1e6)
        from_read.append((stamp - read_end) / 1e6)
    return from_line, from_read, unmatched


def _percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def bench_latency(table, opts, tmp):
    import socket

    pushes, interval = (6, 0.15) if opts.quick else (60, 0.25)
    line_row = "frame end -> MQTT delivered (loopback)"
    read_row = "last byte read -> MQTT delivered"
    nodelay_row = "frame end -> MQTT delivered, TCP_NODELAY"
    try:
        from_line, from_read, unmatched = measure_latency(tmp, pushes, interval)
        if not from_line:
            raise RuntimeError("no state message matched a push (%d unmatched)" % unmatched)
    except (RuntimeError, OSError, ValueError, socket.error) as e:
        table.add(line_row, _NA, str(e)[:200])
        table.add(read_row, _NA, "see above")
    else:
        table.add(line_row, "%.1f ms median" % _median(from_line),
                  "p90 %.1f, max %.1f ms over %d pushes%s; sim board, 396-byte Aidon frames at "
                  "115200 baud every %.2f s, state message QoS 1; includes the main loop's 20 ms "
                  "poll sleep; line end from the replay's ms ticks (+-1 ms)"
                  % (_percentile(from_line, 0.9), max(from_line), len(from_line),
                     " (%d unmatched)" % unmatched if unmatched else "", interval))
        table.add(read_row, "%.1f ms median" % _median(from_read),
                  "p90 %.1f, max %.1f ms: decode, Reading, formats, publish, broker, subscriber"
                  % (_percentile(from_read, 0.9), max(from_read)))
    try:
        from_line, from_read, unmatched = measure_latency(tmp, pushes, interval, nodelay=True)
        if not from_line:
            raise RuntimeError("no state message matched a push (%d unmatched)" % unmatched)
    except (RuntimeError, OSError, ValueError, socket.error) as e:
        table.add(nodelay_row, _NA, str(e)[:200])
        return
    table.add(nodelay_row, "%.1f ms median" % _median(from_line),
              "experiment, not the firmware: TCP_NODELAY on its MQTT socket; last byte read -> "
              "delivered median %.1f, p90 %.1f ms" % (_median(from_read),
                                                       _percentile(from_read, 0.9)))


def _kb(n):
    return "-" if n is None else "%.1f" % (n / 1024)


def _fit_text(mode):
    if mode.get("fits"):
        return "%.1f KB free" % (mode["free_at_heap"] / 1024)
    return "does not fit (at %s)" % mode.get("failed_at")


def bench_ram_report(table, opts):
    import json
    import os
    import subprocess

    figure = "boot free heap per board"
    script = os.path.join(_repo(), "tools", "ram_report.py")
    if not os.path.exists(script):
        table.add(figure, _NA, "tools/ram_report.py does not exist yet")
        return
    try:
        result = subprocess.run([sys.executable, script, "--json"], capture_output=True,
                                text=True, timeout=900, cwd=_repo())
    except (OSError, subprocess.TimeoutExpired) as e:
        table.add(figure, _NA, "tools/ram_report.py: %s" % e)
        return
    if result.returncode != 0:
        table.add(figure, _NA, "tools/ram_report.py exited %d: %s"
                  % (result.returncode, result.stderr.strip()[-200:]))
        return
    try:
        entries = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        for entry in entries:
            ram, romfs = entry["ram"], entry["romfs"]
            table.add(
                "boot heap, %s (%s), %d KB" % (entry["board"], entry["source"],
                                               entry["heap"] // 1024),
                "ROMFS %s; .mpy in RAM %s" % (_fit_text(romfs), _fit_text(ram)),
                "imports use %s KB from ROMFS, %s KB as .mpy in RAM (64-bit); 32-bit "
                "estimate %s KB ROMFS, %s KB frozen (tools/ram_report.py)"
                % (_kb(romfs.get("used")), _kb(ram.get("used")), _kb(romfs.get("est32_used")),
                   _kb(romfs.get("est32_frozen"))))
    except (ValueError, KeyError, TypeError) as e:
        table.add(figure, _NA, "tools/ram_report.py --json not understood: %s" % e)
        return
    if not entries:
        table.add(figure, _NA, "tools/ram_report.py --json printed no rows")


def _soak_heap():
    """(heap size, where it came from) for the ROMFS latency row on the 64-bit port."""
    return "104K", "64-bit port, modules in a ROMFS image"


def bench_romfs(table, opts, tmp):
    import os

    import deploy

    if not os.path.exists(os.path.join(_repo(), "tools", "mp_romfs.py")):
        table.add("ROMFS image size", _NA, "tools/mp_romfs.py does not exist yet")
        table.add(_ROMFS_LATENCY, _NA, "tools/mp_romfs.py does not exist yet")
        return
    try:
        import mp_romfs

        for board in sorted(deploy.BOARDS):
            image = mp_romfs.build_image(board)
            table.add("ROMFS image size, " + board, "%.1f KB" % (os.path.getsize(image) / 1024),
                      "tools/mp_romfs.py build_image: the flash a ROMFS partition needs")
    except Exception as e:  # another engineer's tool: report, do not stop the bench
        table.add("ROMFS image size", _NA, "tools/mp_romfs.py: %s" % str(e)[:200])
        table.add(_ROMFS_LATENCY, _NA, "needs the ROMFS image")
        return
    pushes, interval = (6, 0.15) if opts.quick else (60, 0.25)
    heap, heap_from = _soak_heap()
    try:
        from_line, from_read, unmatched = measure_latency(tmp, pushes, interval,
                                                          romfs_heap=heap)
        if not from_line:
            raise RuntimeError("no state message matched a push (%d unmatched)" % unmatched)
    except Exception as e:  # another engineer's launcher: any failure is a cell, not a crash
        table.add(_ROMFS_LATENCY, _NA, str(e)[:200])
        return
    table.add(_ROMFS_LATENCY, "%.1f ms median" % _median(from_line),
              "as the first latency row, with the sim board's modules in ROMFS and -X heapsize=%s"
              " (%s): a board's memory, so collections happen; last byte read -> delivered "
              "median %.1f ms, max %.1f ms" % (heap, heap_from, _median(from_read),
                                               max(from_read)))


def bench_mpy(table, opts, tmp):
    import os

    import deploy

    for board in sorted(deploy.BOARDS):
        out = os.path.join(tmp, "mpy", board)
        try:
            deploy.compile_tree(board, out)
        except (deploy.DeployError, OSError, RuntimeError) as e:
            table.add(".mpy size, " + board, _NA, str(e)[:200])
            continue
        total = mpy = files = 0
        for folder, _, names in os.walk(out):
            for name in names:
                size = os.path.getsize(os.path.join(folder, name))
                total += size
                files += 1
                if name.endswith(".mpy"):
                    mpy += size
        table.add(".mpy size, " + board, "%.1f KB" % (total / 1024),
                  "%d files: %d B of .mpy + %d B of source (main.py, boot.py)"
                  % (files, mpy, total - mpy))


def _budget_run(row, heap, pushes, cycles):
    """(passed, what happened) of one budget row at `heap` (host_tests/test_heap_soak.py)."""
    import tempfile

    import test_heap_soak as soak
    from broker import Broker

    _, target, modules, _, capture = row
    with Broker() as broker, tempfile.TemporaryDirectory() as folder:
        import os

        os.makedirs(os.path.join(folder, "flash"))
        try:
            run, states, _ = soak.run_budget(broker, folder, target, modules, heap, capture,
                                             pushes=pushes, cycles=cycles)
        except AssertionError as e:
            text = str(e).strip().splitlines()
            reason = next((ln.strip() for ln in text if "MemoryError" in ln), None)
            return False, reason or (text[0][:160] if text else "failed")
        samples = [s[2] for s in run.samples]
        return True, "%d states, live heap %.1f-%.1f KB" % (len(states), min(samples) / 1024,
                                                           max(samples) / 1024)


def _kb_of(heap):
    return int(heap[:-1])


def _smallest(row, budget_kb, pushes, cycles, step):
    """The smallest heap (KB, in `step` KB steps) at which the row passes a short soak, by
    bisection below its budget; None if even the budget fails."""
    low, high = 8, None  # low fails (assumed), high passes
    ok, _ = _budget_run(row, "%dK" % budget_kb, pushes, cycles)
    if not ok:
        return None
    high = budget_kb
    while high - low > step:
        middle = (low + high) // 2 // step * step
        if middle <= low:
            middle = low + step
        ok, _ = _budget_run(row, "%dK" % middle, pushes, cycles)
        if ok:
            high = middle
        else:
            low = middle
    return high


def bench_soak(table, opts):
    """Each board's heap budget row (host_tests/test_heap_soak.py) as a full soak at its
    budget, and the smallest heap that passes a short soak, measured on the 32-bit builds;
    plus the D1 mini on the official ROMFS image (no custom build), reported only."""
    import os

    if not os.path.exists(os.path.join(_repo(), *_SOAK_TEST)):
        table.add("heap budgets", _NA, "host_tests/test_heap_soak.py does not exist yet")
        return
    if opts.quick:
        table.add("heap budgets", "skipped", "--quick (make test runs each row's short soak: "
                  "host_tests/test_heap_soak.py)")
        return
    import test_heap_soak as soak

    rows = list(soak.BUDGETS) + [("d1mini-aidon, official ROMFS image", "esp8266", "romfs",
                                  "36K", "aidon")]
    full_pushes, full_cycles = _SOAK_PUSHES, 60
    for row in rows:
        name, target, modules, heap, _ = row
        reported = modules == "romfs"
        try:
            ok, what = _budget_run(row, heap, full_pushes, full_cycles)
            step = 2 if target == "esp8266" else 4
            smallest = _smallest(row, _kb_of(heap) if ok else _kb_of(heap) + 64, 300,
                                 soak.FIRST_ATM_CYCLES + 4, step)
        except Exception as e:  # a broken run is a cell, not a stopped bench
            table.add("heap budget, " + name, "FAIL", "%s: %s" % (type(e).__name__, e))
            continue
        verdict = "pass" if ok else ("over" if reported else "FAIL")
        table.add("heap budget, %s (%s, %s) at %s" % (name, target, modules, heap), verdict,
                  "%s%s" % (what, " (reported, not a test)" if reported else ""))
        table.add("smallest passing heap, " + name,
                  "%dK" % smallest if smallest else "none up to %dK" % (_kb_of(heap) + 64),
                  "short soak (300 HAN pushes or 14 ATM90E32 cycles), bisection in %d KB "
                  "steps" % (2 if target == "esp8266" else 4))


# -- main -------------------------------------------------------------------------------------


def _header():
    import datetime
    import platform
    import subprocess

    import mp_env

    try:
        mp_version = subprocess.run(
            [mp_env.micropython_binary(), "-c",
             "import sys; print('.'.join(str(n) for n in sys.implementation.version[:3]), "
             "sys.maxsize > 2**32 and '64-bit' or '32-bit')"],
            capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        mp_version = "not available"
    return ("make bench, %s; CPython %s, MicroPython %s unix port; %s, %s, %s cores"
            % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), platform.python_version(),
               mp_version, platform.machine(), platform.processor() or platform.system(),
               __import__("os").cpu_count()))


def parse_args(argv):
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):  # usage errors: exit 2 with the usage line, no traceback
            self.print_usage(sys.stderr)
            self.exit(2, "bench: %s\n" % message)

    parser = Parser(prog="bench.py", description=__doc__.split("\n\n")[0],
                    formatter_class=argparse.RawDescriptionHelpFormatter,
                    epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("--quick", action="store_true", help="fast smoke run")
    parser.add_argument("--runs", type=int, help="runs per figure (median)")
    parser.add_argument("--no-install", action="store_true",
                        help="do not pip-install requirements-bench.txt")
    parser.add_argument("--markdown", action="store_true",
                        help="print the table as Markdown (for docs/bench.md)")
    opts = parser.parse_args(argv)
    if opts.runs is None:
        opts.runs = 3 if opts.quick else 7
    if not 1 <= opts.runs <= 1000:
        parser.error("--runs must be 1..1000")
    opts.repeat = 2 if opts.quick else 20
    return opts


def main(argv):
    import shutil
    import tempfile

    opts = parse_args(argv)
    _host_paths()
    opts.amshan = _ensure_amshan(not opts.no_install)
    table = Table()
    tmp = tempfile.mkdtemp(prefix="bench-")
    try:
        bench_han(table, opts, tmp)
        bench_atm90e32(table, opts)
        bench_latency(table, opts, tmp)
        bench_ram_report(table, opts)
        bench_romfs(table, opts, tmp)
        bench_mpy(table, opts, tmp)
        bench_soak(table, opts)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(_header())
    print("each figure: median of %d runs%s" % (opts.runs, " (--quick)" if opts.quick else ""))
    print(table.markdown() if opts.markdown else table.text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
