#!/usr/bin/env python3
"""Run the firmware on the sim board: the MicroPython unix port with emulated peripherals.

The firmware is the same code that runs on a board (firmware/, lib/, boards/); only the board
module differs (boards/sim.py: an emulated ATM90E32 on a fake SPI bus, a UART replaying a HAN
capture at the line's byte rate, a watchdog, a folder as the flash filesystem). This program
is the board's power supply and watchdog: it starts the firmware, restarts it when it resets
itself or its watchdog expires, and prints the readings it publishes.

Without --broker it starts a private Mosquitto on a free loopback port. --target picks the
interpreter (host: the .venv unix port, 64-bit; esp8266/esp32: 32-bit builds configured like
those boards, the emulated hardware frozen in) and --modules where the firmware's modules come
from (tools/mp_env.py), e.g. --target esp8266 --modules frozen --heap 38K.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mp_env
from broker import Broker
from cli_args import parse_assignments, parse_broker
from han_capture import load_pushes, write_replay

_HEAP = re.compile(r"^[0-9]+[kKmM]?$")
RESET_EXIT_CODE = 100  # boards/sim.py: reset() exits the unix port with this code
WATCHDOG_FILE = ".sim_watchdog"  # boards/sim.py touches it when the firmware feeds the watchdog


def state_dir_problem(path):
    """None when `path` (the emulated flash) can be created and written, else what to do."""
    probe = os.path.join(path, ".sim_probe")
    try:
        os.makedirs(path, exist_ok=True)
        with open(probe, "w") as f:
            f.write("probe")
        os.remove(probe)
    except OSError as e:
        return ("the state dir %s is not writable (%s): it is the sim board's flash; make it "
                "writable (e.g. chmod u+w) or choose another with --state-dir"
                % (path, e.strerror or e))
    return None


def _die_with_parent():
    """Runs in the firmware's process before exec (Linux): the kernel kills it when
    tools/sim.py dies, so a killed tools/sim.py (a power loss) leaves no firmware running."""
    _PRCTL[0](1, signal.SIGKILL)  # PR_SET_PDEATHSIG


_PRCTL = []
if sys.platform.startswith("linux"):
    try:
        import ctypes

        _PRCTL.append(ctypes.CDLL(None, use_errno=True).prctl)
    except (OSError, AttributeError, ImportError):
        pass


class _Parser(argparse.ArgumentParser):
    """Bad usage: one line on stderr, exit 2 (GUIDE: host CLIs)."""

    def error(self, message):
        self.exit(2, "sim: %s (tools/sim.py --help)\n" % message)


def build_parser():
    p = _Parser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--broker", metavar="[USER:PASSWORD@]HOST:PORT",
                   help="MQTT broker to use (default: a private Mosquitto on a free port)")
    p.add_argument("--device-id", help="device id (default: derived from the board's unique id)")
    p.add_argument("--state-dir", default="sim-state",
                   help="the emulated flash, kept between runs (default: sim-state)")
    p.add_argument("--han", metavar="FILE",
                   help="replay a HAN capture (hex text, one push per line; raw bytes; or a "
                        ".jsonl corpus); without it the emulated ATM90E32 is the source")
    p.add_argument("--han-baud", type=int, default=None,
                   help="replay line rate (default: the config's han.baud; 0 = unthrottled)")
    p.add_argument("--han-interval", type=float, default=2.0,
                   help="seconds of idle line between pushes (default 2)")
    p.add_argument("--secret", help="security.secret (hex): require signed config/set and cmd")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting for this run, e.g. --set publish_interval_s=2 (repeatable; "
                        "VALUE is JSON, or a string)")
    p.add_argument("--duration", type=float, help="stop cleanly after SECONDS")
    p.add_argument("--heap", help="MicroPython heap size, e.g. 192K or 38K (-X heapsize=)")
    mp_env.add_arguments(p)
    p.add_argument("--watchdog-s", type=float, default=30.0,
                   help="restart the firmware when it has not fed its watchdog for this long")
    p.add_argument("--quiet", action="store_true", help="do not print the firmware's log")
    return p


class StateDirError(ValueError):
    """The state dir (the emulated flash) cannot be written."""


class Sim:
    def __init__(self, args, broker_addr):
        self.args = args
        self.host, self.port, self.user, self.password = broker_addr
        self.state_dir = os.path.abspath(args.state_dir)
        self.proc = None
        self.stopping = False
        self.resets = 0

    def provision(self):
        """Site settings for this run, merged into the board's config at its next boot."""
        os.makedirs(self.state_dir, exist_ok=True)
        site = {"board": "sim", "mqtt": {"host": self.host, "port": self.port,
                                         "user": self.user, "password": self.password}}
        site["source"] = "han" if self.args.han else "atm90e32"
        if self.args.device_id:
            site["device_id"] = self.args.device_id
        if self.args.secret:
            site["security"] = {"secret": self.args.secret}
        for key, value in parse_assignments(self.args.set).items():
            if isinstance(value, dict) and isinstance(site.get(key), dict):
                site[key].update(value)
            else:
                site[key] = value
        tmp = os.path.join(self.state_dir, "site.json.tmp")
        with open(tmp, "w") as f:
            json.dump(site, f)
        os.replace(tmp, os.path.join(self.state_dir, "site.json"))
        if self.args.han:
            pushes = load_pushes(self.args.han)
            write_replay(pushes, os.path.join(self.state_dir, "sim_han.bin"))

    def env(self, reset_cause):
        # MICROPYPATH of the host port from source, as callers of this method (tools/bench.py)
        # expect; firmware_command() sets the chosen target's own.
        env = mp_env.micropython_env()
        env["SIM_RESET_CAUSE"] = reset_cause
        if self.args.han:
            env["SIM_HAN"] = os.path.join(self.state_dir, "sim_han.bin")
            env["SIM_HAN_INTERVAL_MS"] = str(int(self.args.han_interval * 1000))
            if self.args.han_baud is not None:
                env["SIM_HAN_BAUD"] = str(self.args.han_baud)
        return env

    def start_firmware(self, reset_cause):
        """Start (or restart) the firmware; StateDirError when the state dir is not writable."""
        problem = state_dir_problem(self.state_dir)
        if problem:
            raise StateDirError(problem)
        watchdog = os.path.join(self.state_dir, WATCHDOG_FILE)
        if os.path.exists(watchdog):
            os.remove(watchdog)
        cmd, env = firmware_command(self.args, self.env(reset_cause))
        self.started = time.monotonic()
        # Where it can die with tools/sim.py, the firmware runs in a process group of its own:
        # a Ctrl-C at the terminal (SIGINT to the foreground group) then reaches only
        # tools/sim.py, which forwards exactly one SIGINT, so the firmware's clean stop (the
        # energy save) is not interrupted by a second one.
        own_group = bool(_PRCTL)
        self.proc = subprocess.Popen(cmd, cwd=self.state_dir, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=own_group,
                                     preexec_fn=_die_with_parent if own_group else None)
        threading.Thread(target=self.pump_output, args=(self.proc,), daemon=True).start()

    def pump_output(self, proc):
        for line in proc.stdout:
            text = line.decode(errors="replace")
            if not self.args.quiet:
                sys.stdout.write("[fw] " + text)
                sys.stdout.flush()
            elif "safe mode:" in text:  # said even with --quiet: the meter is not being read
                print("sim: " + text.strip(), flush=True)

    def watchdog_expired(self):
        path = os.path.join(self.state_dir, WATCHDOG_FILE)
        try:
            last = os.path.getmtime(path)
        except OSError:
            last = None
        now = time.monotonic()
        if last is None:  # not fed yet: allow boot time
            return now - self.started > self.args.watchdog_s * 2
        return time.time() - last > self.args.watchdog_s

    def stop_firmware(self):
        # A second Ctrl-C while the firmware saves its state must not cut that short (nor leave
        # the firmware running without tools/sim.py): ignored from here on.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # the firmware's clean-shutdown path (Ctrl-C)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def run(self, deadline):
        self.start_firmware("power_on")
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                self.stop_firmware()
                return 0
            code = self.proc.poll()
            if code is not None:
                if code == RESET_EXIT_CODE:
                    self.resets += 1
                    print("sim: the board reset itself; restarting", flush=True)
                    self.start_firmware("soft")
                    continue
                print("sim: firmware exited with code %d" % code, flush=True)
                return code
            if self.watchdog_expired():
                problem = state_dir_problem(self.state_dir)
                if problem:  # the firmware could not feed the watchdog: no reset loop
                    raise StateDirError(problem)
                print("sim: watchdog expired; resetting the board", flush=True)
                self.proc.kill()
                self.proc.wait()
                self.start_firmware("watchdog")
            time.sleep(0.1)


def firmware_command(args, base_env=None):
    """(argv, env) of the firmware on the chosen target; mp_env.TargetError when it cannot run.

    main.py runs from the emulated flash's root, where `make deploy` puts it on a board: run from
    firmware/ its folder would come first on sys.path and the firmware's source would shadow
    the frozen or .mpy modules the target is meant to hold."""
    state_dir = os.path.abspath(args.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    main = os.path.join(state_dir, "main.py")
    shutil.copyfile(os.path.join(mp_env.REPO, "firmware", "main.py"), main)
    return mp_env.command(main, target=args.target, modules=args.modules, board="sim",
                          heap=args.heap, base_env=base_env)


def show_readings(host, port, user, password):
    """Print each state message the firmware publishes (what a newcomer wants to see)."""
    import paho.mqtt.client as mqtt

    def on_message(client, userdata, msg):
        try:
            state = json.loads(msg.payload)
        except ValueError:
            return
        parts = ["%s=%s" % (k, state[k]) for k in ("p", "e_imp", "e_exp") if k in state]
        for name, ch in sorted(state.get("ch", {}).items()):
            if "p" in ch:
                parts.append("%s:%sW" % (name, ch["p"]))
        print("reading %s: %s" % (msg.topic, " ".join(parts)), flush=True)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    if user:
        client.username_pw_set(user, password)
    client.on_message = on_message
    client.on_connect = lambda c, u, f, rc, p=None: c.subscribe("+/+/state")
    client.connect_async(host, port)
    client.loop_start()
    return client


def main():
    args = build_parser().parse_args()
    try:
        broker_addr = parse_broker(args.broker) if args.broker else None
    except ValueError as e:
        print("sim: bad --broker %r: %s" % (args.broker, e), file=sys.stderr)
        return 2
    if args.han and not os.path.exists(args.han):
        print("sim: no such capture file: %s" % args.han, file=sys.stderr)
        return 2
    problem = state_dir_problem(os.path.abspath(args.state_dir))
    if problem:
        print("sim: " + problem, file=sys.stderr)
        return 1
    if args.heap and not _HEAP.match(args.heap):
        print("sim: bad --heap %r: a byte count, optionally with K or M (e.g. 38K)" % args.heap,
              file=sys.stderr)
        return 2
    try:
        mp_env.check(args.target, args.modules, "sim")
    except mp_env.TargetError as e:
        print("sim: %s" % e, file=sys.stderr)
        return 2
    try:
        firmware_command(args)  # builds the 32-bit binary now if needed (first time ~1 min)
    except mp_env.TargetError as e:
        print("sim: %s" % e, file=sys.stderr)
        return 1
    broker = None
    if broker_addr is None:
        broker = Broker().start()
        broker_addr = (broker.host, broker.port, "", "")
        print("sim: private Mosquitto on %s:%d" % (broker.host, broker.port), flush=True)
    sim = Sim(args, broker_addr)
    watcher = None
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        sim.provision()
        watcher = show_readings(*broker_addr)
        deadline = time.monotonic() + args.duration if args.duration else None
        return sim.run(deadline)
    except KeyboardInterrupt:
        sim.stop_firmware()
        return 0
    except StateDirError as e:  # it became read-only while the board ran
        sim.stop_firmware()
        print("sim: %s" % e, file=sys.stderr)
        return 1
    except ValueError as e:
        print("sim: %s" % e, file=sys.stderr)
        return 2
    finally:
        if watcher is not None:
            watcher.loop_stop()
        if broker is not None:
            broker.close()


if __name__ == "__main__":
    sys.exit(main())
