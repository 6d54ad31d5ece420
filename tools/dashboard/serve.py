#!/usr/bin/env python3
"""`make dashboard`: the live dashboard against the firmware on the sim board.

Starts a private Mosquitto whose WebSocket listener also serves this folder (its `http_dir`),
runs the sim (by default two readers: `sim-house`, the emulated ATM90E32 with CT clamps, and
`sim-han`, a replay of real HAN meter captures), prints the page's URL and runs until Ctrl-C,
when the readers go offline and everything stops.

Against your own broker no program is needed: give its WebSocket listener an `http_dir`
pointing at tools/dashboard/ and open it, or open index.html from anywhere with
`?broker=ws://HOST:PORT&prefix=meters`.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tools"))
from broker import Broker, free_port  # noqa: E402

BUNDLE = os.path.join(HERE, "node_modules", "mqtt", "dist", "mqtt.min.js")
HAN_CAPTURE = os.path.join(REPO, "host_tests", "data", "han_frames.jsonl")
READERS = {"atm90e32": "sim-house", "han": "sim-han"}


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--readers", default="atm90e32,han",
                   help="which sim readers to run, comma-separated: atm90e32, han, or none "
                        "(default: atm90e32,han)")
    p.add_argument("--port", type=int, default=9001,
                   help="WebSocket and page port (default 9001; a free one if taken)")
    p.add_argument("--interval", type=int, default=2,
                   help="the ATM90E32 reader's publish_interval_s (default 2)")
    p.add_argument("--state-dir", default=os.path.join(REPO, "sim-state", "dashboard"),
                   help="the sim readers' flash, kept between runs (default sim-state/dashboard)")
    p.add_argument("--duration", type=float, help="stop after SECONDS (default: until Ctrl-C)")
    return p


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_sim(kind, broker, state_dir):
    device = READERS[kind]
    args = [sys.executable, os.path.join(REPO, "tools", "sim.py"), "--quiet",
            "--broker", "%s:%d" % (broker.host, broker.port),
            "--state-dir", os.path.join(state_dir, device), "--device-id", device]
    if kind == "han":
        args += ["--han", HAN_CAPTURE]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL)


def set_interval(broker, device, seconds, timeout=30):
    """Once the reader is online, ask it over MQTT (config/set) to publish every `seconds`."""
    import paho.mqtt.client as mqtt

    base = "meters/%s" % device
    done = {"online": False, "result": None}

    def on_message(client, userdata, msg):
        if msg.topic == base + "/status" and msg.payload == b"online" and not done["online"]:
            done["online"] = True
            client.publish(base + "/config/set",
                           json.dumps({"publish_interval_s": seconds}).encode(), qos=1)
        elif msg.topic == base + "/config/result":
            done["result"] = msg.payload

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = on_message
    client.on_connect = lambda c, u, f, rc, p=None: c.subscribe(
        [(base + "/status", 1), (base + "/config/result", 1)])
    client.connect(broker.host, broker.port)
    client.loop_start()
    deadline = time.monotonic() + timeout
    while done["result"] is None and time.monotonic() < deadline:
        time.sleep(0.1)
    client.loop_stop()
    client.disconnect()
    return done["result"]


def main():
    args = build_parser().parse_args()
    kinds = [k for k in args.readers.split(",") if k and k != "none"]
    unknown = [k for k in kinds if k not in READERS]
    if unknown:
        print("dashboard: unknown reader %r (choose from atm90e32, han, none)" % unknown[0],
              file=sys.stderr)
        return 2
    if not 1 <= args.interval <= 3600 or not 0 < args.port < 65536:
        print("dashboard: --interval must be 1..3600 and --port 1..65535", file=sys.stderr)
        return 2
    if not os.path.exists(BUNDLE):
        print("dashboard: MQTT.js is not installed; run: make setup (or bash %s)"
              % os.path.relpath(os.path.join(HERE, "setup.sh")), file=sys.stderr)
        return 1
    port = args.port if port_free(args.port) else free_port()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with Broker(websockets_port=port, http_dir=HERE) as broker:
            return serve(broker, kinds, args)
    except KeyboardInterrupt:
        return 0
    except RuntimeError as e:  # Mosquitto missing or not starting
        print("dashboard: %s" % e, file=sys.stderr)
        return 1


def serve(broker, kinds, args):
    port = broker.websockets_port
    sims = []
    try:
        sims = [start_sim(kind, broker, args.state_dir) for kind in kinds]
        print("dashboard: http://127.0.0.1:%d/  (MQTT on 127.0.0.1:%d, WebSockets on %d; "
              "readers: %s)" % (port, broker.port, port,
                                ", ".join(READERS[k] for k in kinds) or "none"), flush=True)
        print("dashboard: Ctrl-C stops", flush=True)
        if "atm90e32" in kinds and set_interval(broker, READERS["atm90e32"],
                                                args.interval) is None:
            print("dashboard: %s did not confirm publish_interval_s=%d"
                  % (READERS["atm90e32"], args.interval), file=sys.stderr)
        deadline = time.monotonic() + args.duration if args.duration else None
        while deadline is None or time.monotonic() < deadline:
            for sim in sims:
                if sim.poll() is not None:
                    print("dashboard: a sim reader exited with code %d" % sim.returncode,
                          file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        # Stopped like Ctrl-C, each reader says offline while the broker still runs.
        for sim in sims:
            if sim.poll() is None:
                sim.send_signal(signal.SIGINT)
        for sim in sims:
            try:
                sim.wait(timeout=20)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait()

if __name__ == "__main__":
    sys.exit(main())
