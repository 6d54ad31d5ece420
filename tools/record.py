#!/usr/bin/env python3
"""Record meter readings from MQTT into SQLite, and export them to CSV.

  record.py --broker HOST:PORT --db FILE [--device ID ...]     record until Ctrl-C
  record.py export --db FILE [--table readings|channels|status] [--out FILE]

Recording subscribes to <prefix>/<id>/state and <prefix>/<id>/status of the given readers (all
readers under the prefix when no --device is given) and appends every state to three tables:
`readings` (the totals of one state, one row each), `channels` (one row per channel of a
state, joined by reading_id) and `status` (online/offline changes). Times are UTC (ISO 8601,
`Z`): time_utc is the reader's own `ts` when its clock is set, else the time received.

It never loses a state it was sent: the session is persistent (a fixed client id, clean
session off), so the broker keeps QoS 1 states for it while it reconnects or is stopped, and
each state is acknowledged only after the transaction holding it is committed; a state
delivered twice (a redelivery after a reconnect, or the reader resending after a broker
restart) is stored once. Commits are batched (every --commit-s seconds, or sooner when
--max-unacked states wait for one); memory stays bounded on long runs.
"""

import argparse
import collections
import csv
import datetime
import hashlib
import json
import os
import queue
import signal
import socket
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_args

SCHEMA_VERSION = 1
TOTAL_TEXT = (("src", "src"), ("meter_id", "id"), ("model", "model"), ("mtime", "mtime"))
TOTAL_REAL = ("p", "p_imp", "p_exp", "q", "f", "t")
TOTAL_INT = ("e_imp", "e_exp", "eq_imp", "eq_exp")
CHANNEL_REAL = ("u", "i", "p", "q", "s", "pf", "f", "t")
CHANNEL_INT = ("e_imp", "e_exp")

READINGS_COLUMNS = (("id", "device", "time_utc", "ts", "received_utc")
                    + tuple(column for column, _ in TOTAL_TEXT) + TOTAL_REAL + TOTAL_INT)
CHANNELS_COLUMNS = ("reading_id", "channel") + CHANNEL_REAL + CHANNEL_INT

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    time_utc TEXT NOT NULL,
    ts INTEGER,
    received_utc TEXT NOT NULL,
    src TEXT, meter_id TEXT, model TEXT, mtime TEXT,
    p REAL, p_imp REAL, p_exp REAL, q REAL, f REAL, t REAL,
    e_imp INTEGER, e_exp INTEGER, eq_imp INTEGER, eq_exp INTEGER
);
CREATE INDEX IF NOT EXISTS readings_device_time ON readings (device, time_utc);
CREATE TABLE IF NOT EXISTS channels (
    reading_id INTEGER NOT NULL REFERENCES readings (id),
    channel TEXT NOT NULL,
    u REAL, i REAL, p REAL, q REAL, s REAL, pf REAL, f REAL, t REAL,
    e_imp INTEGER, e_exp INTEGER,
    PRIMARY KEY (reading_id, channel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS status (
    device TEXT NOT NULL,
    received_utc TEXT NOT NULL,
    status TEXT NOT NULL
);
"""

EXPORTS = {
    "readings": (READINGS_COLUMNS,
                 "SELECT %s FROM readings {where} ORDER BY id" % ", ".join(READINGS_COLUMNS)),
    "channels": (("device", "time_utc", "ts") + CHANNELS_COLUMNS,
                 "SELECT r.device, r.time_utc, r.ts, %s FROM channels c "
                 "JOIN readings r ON r.id = c.reading_id {where} ORDER BY c.reading_id, c.channel"
                 % ", ".join("c." + c for c in CHANNELS_COLUMNS)),
    "status": (("device", "received_utc", "status"),
               "SELECT device, received_utc, status FROM status {where} ORDER BY rowid"),
}

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
DEDUP_WINDOW = 64  # recent payload digests kept per reader: covers a redelivered in-flight window
DEVICES_KEPT = 1000  # readers whose recent digests are kept (the least recent are forgotten)
QUEUE_LIMIT = 1000  # states waiting for the writer; when full the network thread waits (TCP
#                     backpressure), so memory stays bounded whatever the broker sends.


class UsageError(Exception):
    """Bad command-line input: reported on one line, exit status 2."""


def log(message):
    sys.stderr.write("record: %s\n" % message)
    sys.stderr.flush()


# ---- parsing what the readers publish -------------------------------------------------------

def utc_iso(seconds, millis=False):
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def number(value):
    """A JSON number as SQLite can store it; None for anything else (text, bools, NaN, huge)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value


def text(value):
    if not isinstance(value, str):
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a \ud800 escape: SQLite cannot store them
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def reading_row(device, state, received):
    """The `readings` row (without id) for one state dict."""
    ts = number(state.get("ts"))
    when = received
    if ts is not None:
        try:
            utc_iso(ts)
            when = ts
        except (OverflowError, OSError, ValueError):  # a clock far outside the calendar
            ts = None
    row = [device, utc_iso(when), ts, utc_iso(received, millis=True)]
    row += [text(state.get(key)) for _, key in TOTAL_TEXT]
    row += [number(state.get(key)) for key in TOTAL_REAL + TOTAL_INT]
    return row


def channel_rows(state):
    channels = state.get("ch")
    if not isinstance(channels, dict):
        return []
    rows = []
    for name, values in channels.items():
        if isinstance(values, dict):
            rows.append([text(name)] + [number(values.get(k)) for k in CHANNEL_REAL + CHANNEL_INT])
    return rows


# ---- the store ------------------------------------------------------------------------------

def open_store(path):
    try:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")  # readers (pandas, export) while recording
        conn.execute("PRAGMA synchronous=NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise UsageError("%s was written by a newer recorder (schema %d)" % (path, version))
        conn.executescript(SCHEMA)
        conn.execute("PRAGMA user_version=%d" % SCHEMA_VERSION)
        conn.commit()
    except sqlite3.Error as e:
        raise UsageError("cannot use %s as the database: %s" % (path, e)) from None
    return conn


class Store:
    """Writes states into SQLite; the caller decides when to commit."""

    def __init__(self, conn):
        self.conn = conn
        self.recent = {}  # device -> (deque of digests, set of digests)
        self.last_status = dict(conn.execute(
            "SELECT device, status FROM status s WHERE rowid = "
            "(SELECT max(rowid) FROM status WHERE device = s.device)").fetchall())
        self.readings = self.duplicates = self.rejected = 0

    def _seen_before(self, device, payload):
        digest = hashlib.sha1(payload).digest()
        window = self.recent.pop(device, None)  # re-inserted: the dict stays in recency order
        if window is None:
            window = (collections.deque(), set())
            if len(self.recent) >= DEVICES_KEPT:
                del self.recent[next(iter(self.recent))]
        self.recent[device] = window
        order, members = window
        if digest in members:
            return True
        order.append(digest)
        members.add(digest)
        if len(order) > DEDUP_WINDOW:
            members.discard(order.popleft())
        return False

    def add_state(self, device, payload, received):
        try:
            state = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            state = None
        if not isinstance(state, dict):
            self.rejected += 1
            if self.rejected <= 10 or self.rejected % 1000 == 0:
                log("ignored a state of %s that is not a JSON object (%d so far)"
                    % (device, self.rejected))
            return False
        # Without a timestamp two identical payloads may be two readings; with one they are
        # the same reading delivered twice.
        if "ts" in state and self._seen_before(device, payload):
            self.duplicates += 1
            return False
        cursor = self.conn.execute(
            "INSERT INTO readings (%s) VALUES (%s)"
            % (", ".join(READINGS_COLUMNS[1:]), ", ".join("?" * (len(READINGS_COLUMNS) - 1))),
            reading_row(device, state, received))
        rows = [[cursor.lastrowid] + row for row in channel_rows(state)]
        if rows:
            self.conn.executemany(
                "INSERT OR IGNORE INTO channels (%s) VALUES (%s)"
                % (", ".join(CHANNELS_COLUMNS), ", ".join("?" * len(CHANNELS_COLUMNS))), rows)
        self.readings += 1
        return True

    def add_status(self, device, payload, received):
        status = text(payload.decode("utf-8", "replace"))
        if self.last_status.get(device) == status:
            return False  # the retained status again after a reconnect
        self.last_status[device] = status
        self.conn.execute("INSERT INTO status (device, received_utc, status) VALUES (?, ?, ?)",
                          (device, utc_iso(received, millis=True), status))
        return True


# ---- recording ------------------------------------------------------------------------------

def parse_broker(value):
    """'[user:password@]host[:port]' -> (host, port, user, password)."""
    try:
        return cli_args.parse_broker(value, default_port=1883)
    except ValueError as e:
        raise UsageError("--broker: %s" % e) from None


def check_topic_level(value, what):
    if not value or any(c in value for c in "+#") or value.startswith("/") or value.endswith("/"):
        raise UsageError("%s %r: must be non-empty, without '+', '#' or a leading or trailing '/'"
                         % (what, value))
    if what == "--device" and "/" in value:
        raise UsageError("--device %r: a device id has no '/'" % value)


def default_client_id(db_path):
    """Stable per host and database, so the broker's session (and its queue) is found again."""
    key = "%s:%s" % (socket.gethostname(), os.path.abspath(db_path))
    return "record-" + hashlib.sha1(key.encode()).hexdigest()[:12]


class Recorder:
    def __init__(self, args):
        import paho.mqtt.client as mqtt

        self.args = args
        self.host, self.port, user, password = parse_broker(args.broker)
        self.prefix = args.prefix
        self.store = Store(open_store(args.db))
        self.inbox = queue.Queue(maxsize=QUEUE_LIMIT)
        self.generation = 0  # bumped per connection: an ack belongs to the connection it came on
        self.unacked = []  # (generation, mid) of QoS 1 messages in the open transaction
        self.first_uncommitted = None
        self.fatal = None
        devices = args.device or ["+"]
        self.topics = ["%s/%s/%s" % (self.prefix, d, kind) for d in devices
                       for kind in ("state", "status")]
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=args.client_id or default_client_id(args.db),
                                  clean_session=False, manual_ack=True)
        if user:
            self.client.username_pw_set(user, password)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self.on_connect
        self.client.on_disconnect = self.on_disconnect
        self.client.on_connect_fail = self.on_connect_fail
        self.client.on_message = self.on_message
        self.connected_once = False
        self.failures = 0

    # paho's network thread
    def on_connect(self, client, userdata, flags, reason_code, properties=None):
        if reason_code.is_failure:
            self.fatal = "the broker refused the connection: %s" % reason_code
            return
        self.generation += 1
        self.failures = 0
        log("connected to %s:%d (%s session)" % (
            self.host, self.port, "resumed" if flags.session_present else "new"))
        self.connected_once = True
        for topic in self.topics:
            client.subscribe(topic, qos=1)

    def on_disconnect(self, client, userdata, flags, reason_code, properties=None):
        if not self.stopping and self.fatal is None:
            log("disconnected (%s); reconnecting" % reason_code)

    def on_connect_fail(self, client, userdata):
        self.failures += 1
        if self.failures in (1, 10) or self.failures % 100 == 0:
            log("cannot reach %s:%d; retrying" % (self.host, self.port))

    def on_message(self, client, userdata, msg):
        if self.stopping:
            return  # not acknowledged: the broker keeps it for the next run
        self.inbox.put((self.generation, msg.mid, msg.qos, msg.topic, msg.payload, time.time()))

    # the writer (main thread)
    stopping = False

    def handle(self, item):
        generation, mid, qos, topic, payload, received = item
        parts = topic.split("/")
        device, kind = parts[-2], parts[-1]
        if kind == "state":
            if self.store.add_state(device, payload, received) and self.args.verbose:
                log("%s: %s" % (device, payload[:200].decode("utf-8", "replace")))
        elif kind == "status":
            if self.store.add_status(device, payload, received):
                log("%s is %s" % (device, payload.decode("utf-8", "replace") or "(cleared)"))
        if qos == 1:
            self.unacked.append((generation, mid))
        if self.first_uncommitted is None:
            self.first_uncommitted = time.monotonic()

    def commit(self):
        self.store.conn.commit()
        committed, self.unacked, self.first_uncommitted = self.unacked, [], None
        for generation, mid in committed:
            # A message of an earlier connection is redelivered by the broker; its stale mid
            # must not acknowledge another message on this one.
            if generation == self.generation:
                self.client.ack(mid, 1)

    def commit_due(self):
        if self.first_uncommitted is None:
            return False
        if len(self.unacked) >= self.args.max_unacked:
            return True
        return time.monotonic() - self.first_uncommitted >= self.args.commit_s

    def connect(self):
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except (OSError, ValueError) as e:
            if isinstance(e, (ValueError, socket.gaierror)):
                raise UsageError("--broker %s: %s" % (self.args.broker, e)) from None
            log("cannot connect to %s:%d (%s); retrying" % (self.host, self.port, e))
            self.failures = 1
            self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def run(self):
        deadline = time.monotonic() + self.args.duration if self.args.duration else None
        try:
            self.connect()
            while self.fatal is None:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                try:
                    self.handle(self.inbox.get(timeout=0.2))
                except queue.Empty:
                    pass
                if self.commit_due():
                    self.commit()
        except KeyboardInterrupt:
            pass
        except sqlite3.Error as e:
            self.fatal = "writing %s failed: %s" % (self.args.db, e)
        finally:
            self.stopping = True
            try:
                if self.fatal is None:
                    self.drain()
            except sqlite3.Error as e:
                self.fatal = "writing %s failed: %s" % (self.args.db, e)
            self.client.disconnect()
            self.client.loop_stop()
            self.store.conn.close()
        log("%d readings stored in %s (%d duplicates skipped, %d rejected)" % (
            self.store.readings, self.args.db, self.store.duplicates, self.store.rejected))
        if self.fatal:
            log(self.fatal)
            return 1
        return 0

    def drain(self):
        """Store what already arrived, commit it and acknowledge it before leaving."""
        while True:
            try:
                self.handle(self.inbox.get_nowait())
            except queue.Empty:
                break
        if self.first_uncommitted is not None:
            self.commit()


# ---- export ---------------------------------------------------------------------------------

def export(args):
    if not os.path.isfile(args.db):
        raise UsageError("no such database: %s" % args.db)
    try:
        conn = sqlite3.connect("file:%s?mode=ro" % os.path.abspath(args.db), uri=True)
        columns, query = EXPORTS[args.table]
        where, params = "", ()
        if args.device:
            prefix = "r." if args.table == "channels" else ""
            where = "WHERE %sdevice IN (%s)" % (prefix, ", ".join("?" * len(args.device)))
            params = tuple(args.device)
        rows = conn.execute(query.format(where=where), params)
        out = open(args.out, "w", newline="", encoding="utf-8") if args.out else sys.stdout
    except sqlite3.Error as e:
        raise UsageError("cannot read %s: %s" % (args.db, e)) from None
    except OSError as e:
        raise UsageError("cannot write %s: %s" % (args.out, e.strerror)) from None
    count = 0
    try:
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:  # streamed: memory does not grow with the database
            writer.writerow(row)
            count += 1
    except sqlite3.Error as e:
        log("reading %s failed after %d rows: %s" % (args.db, count, e))
        return 1
    finally:
        if out is not sys.stdout:
            out.close()
        conn.close()
    if args.out:
        log("%d rows of %s written to %s" % (count, args.table, args.out))
    return 0


# ---- command line ---------------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser():
    doc_head, doc_tail = __doc__.split("\n\n", 1)
    parser = Parser(prog="record.py", description=doc_head.strip(), epilog=doc_tail,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="{record,export}")
    rec = commands.add_parser("record", help="record states into SQLite (the default command)",
                              description="Record states into SQLite until Ctrl-C.")
    rec.add_argument("--broker", required=True, metavar="[USER:PASSWORD@]HOST:PORT",
                     help="MQTT broker (port 1883 when left out)")
    rec.add_argument("--db", default="readings.sqlite",
                     help="SQLite file, created when missing (default: readings.sqlite)")
    rec.add_argument("--prefix", default="meters",
                     help="first topic level, the readers' mqtt.prefix (default: meters)")
    rec.add_argument("--device", action="append", metavar="ID",
                     help="record this reader; repeat for more (default: every reader)")
    rec.add_argument("--client-id",
                     help="MQTT client id; keep it fixed so the broker keeps the session "
                          "(default: derived from this host and the --db path)")
    rec.add_argument("--commit-s", type=float, default=5.0,
                     help="commit at least every SECONDS while states arrive (default: 5)")
    rec.add_argument("--max-unacked", type=int, default=10,
                     help="commit sooner when this many QoS 1 states wait for their ack; keep "
                          "it below the broker's max_inflight_messages (default: 10; "
                          "Mosquitto's default is 20)")
    rec.add_argument("--duration", type=float, help="stop after SECONDS")
    rec.add_argument("-v", "--verbose", action="store_true", help="log every state stored")
    exp = commands.add_parser("export", help="write one table as CSV",
                              description="Write one table of a recording as CSV (a header "
                                          "row, then one row per record; empty = absent).")
    exp.add_argument("--db", required=True, help="the SQLite file written by record")
    exp.add_argument("--table", choices=sorted(EXPORTS), default="readings",
                     help="readings (totals, one row per state; default), channels (one row "
                          "per channel and state, with device and time), status")
    exp.add_argument("--device", action="append", metavar="ID",
                     help="only this reader; repeat for more (default: all)")
    exp.add_argument("--out", metavar="CSV", help="output file (default: standard output)")
    return parser


def parse_args(argv):
    argv = list(argv)
    if not argv or argv[0] not in ("record", "export", "-h", "--help"):
        argv.insert(0, "record")  # `record.py --broker ...` records
    args = build_parser().parse_args(argv)
    if args.command == "record":
        parse_broker(args.broker)
        check_topic_level(args.prefix, "--prefix")
        for device in args.device or ():
            check_topic_level(device, "--device")
        if not args.commit_s > 0 or args.max_unacked < 1:
            raise UsageError("--commit-s must be > 0 and --max-unacked >= 1")
        if args.duration is not None and not args.duration > 0:
            raise UsageError("--duration must be > 0")
    return args


def main(argv=None):
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        if args.command == "export":
            return export(args)
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly, as on Ctrl-C
        return Recorder(args).run()
    except UsageError as e:
        log("error: %s" % e)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
