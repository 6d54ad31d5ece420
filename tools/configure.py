#!/usr/bin/env python3
"""Configure meter readers over MQTT: list them, show their config, change settings, send
commands, and print each reader's answer.

  configure.py list                                   readers found by their retained status
  configure.py show ID                                the config in force (secrets as ***)
  configure.py set ID KEY=VALUE [KEY=VALUE ...]       change settings (dotted keys)
  configure.py cmd ID NAME [KEY=VALUE ...]            reboot, identify, announce, calibrate,
                                                      reset_energy

VALUE is read as JSON when it parses (30, true, "text", {"a": 1}), otherwise as a plain string:
`set ID publish_interval_s=30 mqtt.host=broker.lan`. With --secret (the reader's
security.secret, set at deploy time) every set/cmd is signed (HMAC-SHA256 with a counter
against replay; see lib/config/signing.py). Exit status: 0 when the reader accepted, 1 when it
refused or did not answer in time, 2 for usage errors.
"""

import argparse
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mp_env  # noqa: E402

mp_env.use_module_path()  # the reader's signing and JSON rules (lib/config)
import cli_args  # noqa: E402


class UsageError(Exception):
    pass


def parse_broker(text):
    try:
        return cli_args.parse_broker(text)
    except ValueError as e:
        raise UsageError("--broker: %s" % e) from None


def parse_assignments(pairs):
    try:
        return cli_args.parse_assignments(pairs)
    except ValueError as e:
        raise UsageError(str(e)) from None


class Session:
    """One paho connection that collects what arrives on the topics it subscribes to."""

    def __init__(self, host, port, user, password, timeout):
        import paho.mqtt.client as mqtt

        self.timeout = timeout
        self.messages = {}
        self.cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if user:
            self.client.username_pw_set(user, password)
        self.client.on_message = self._on_message
        try:
            self.client.connect(host, port, keepalive=30)
        except OSError as e:
            raise UsageError("cannot reach the broker at %s:%d: %s" % (host, port, e)) from None
        self.client.loop_start()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.setdefault(msg.topic, []).append(msg.payload)
            self.cond.notify_all()

    def subscribe(self, topic):
        result, mid = self.client.subscribe(topic, 1)
        if result != 0:
            raise UsageError("subscribe to %s failed (%d)" % (topic, result))

    def wait(self, predicate, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def publish(self, topic, payload):
        self.client.publish(topic, payload, qos=1).wait_for_publish(self.timeout)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def cmd_list(session, prefix):
    session.subscribe(prefix + "/+/status")
    time.sleep(min(session.timeout, 1.5))  # retained messages arrive right after subscribing
    with session.cond:
        found = sorted(session.messages.items())
    if not found:
        print("no readers under %s/" % prefix)
        return 1
    for topic, payloads in found:
        print("%-40s %s" % (topic.split("/")[-2], payloads[-1].decode(errors="replace")))
    return 0


def cmd_show(session, base):
    topic = base + "/config"
    session.subscribe(topic)
    if not session.wait(lambda: topic in session.messages):
        print("no config retained on %s (is the reader known? try: list)" % topic,
              file=sys.stderr)
        return 1
    print(json.dumps(json.loads(session.messages[topic][-1]), indent=2, sort_keys=True))
    return 0


def send_and_wait(session, topic, result_topic, body, secret, request_id=None):
    session.subscribe(result_topic)
    time.sleep(0.3)  # let the subscription settle before the answer can come
    payload = json.dumps(body).encode()
    if secret:
        import signing

        payload = signing.sign(secret, payload, int(time.time() * 1000))
    before = len(session.messages.get(result_topic, []))

    def answered():
        answers = session.messages.get(result_topic, [])[before:]
        for answer in answers:
            try:
                data = json.loads(answer)
            except ValueError:
                continue
            if request_id is None or data.get("id") == request_id:
                return True
        return False

    session.publish(topic, payload)
    if not session.wait(answered):
        print("no answer on %s (reader offline, or a signed reader got an unsigned "
              "message?)" % result_topic, file=sys.stderr)
        return 1
    answer = json.loads(session.messages[result_topic][-1])
    print(json.dumps(answer, sort_keys=True))
    return 0 if answer.get("ok") else 1


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--broker", default="localhost:1883", metavar="[USER:PASSWORD@]HOST:PORT")
    p.add_argument("--prefix", default="meters", help="the readers' mqtt.prefix")
    p.add_argument("--secret", default=os.environ.get("METER_SECRET", ""),
                   help="sign messages with this hex secret (or env METER_SECRET)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for answers")
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="readers found by their retained status")
    show = sub.add_parser("show", help="a reader's config")
    show.add_argument("device_id")
    set_ = sub.add_parser("set", help="change settings")
    set_.add_argument("device_id")
    set_.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    cmd = sub.add_parser("cmd", help="send a command")
    cmd.add_argument("device_id")
    cmd.add_argument("name")
    cmd.add_argument("arguments", nargs="*", metavar="KEY=VALUE")
    return p


def run(args):
    host, port, user, password = parse_broker(args.broker)
    session = Session(host, port, user, password, args.timeout)
    try:
        if args.action == "list":
            return cmd_list(session, args.prefix)
        base = args.prefix + "/" + args.device_id
        if args.action == "show":
            return cmd_show(session, base)
        if args.action == "set":
            change = parse_assignments(args.assignments)
            return send_and_wait(session, base + "/config/set", base + "/config/result", change,
                                 args.secret)
        request = parse_assignments(args.arguments)
        request["cmd"] = args.name
        request["id"] = "%x" % int(time.time() * 1000)
        return send_and_wait(session, base + "/cmd", base + "/cmd/result", request, args.secret,
                             request["id"])
    finally:
        session.close()


def main():
    args = build_parser().parse_args()
    try:
        return run(args)
    except UsageError as e:
        print("configure: %s" % e, file=sys.stderr)
        return 2
    except ValueError as e:  # e.g. a secret that is not hex
        print("configure: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
