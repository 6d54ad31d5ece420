# The MQTT link: the one place that owns the broker connection (umqtt.simple underneath).
#
# Failure model (what umqtt.simple leaves to the application; its simple.py in micropython-lib
# and that repository's issues #909 and #1070):
# - umqtt.simple never pings; we ping every keepalive/2 and declare the link dead when nothing at
#   all has arrived for 1.5 x keepalive (the broker's own limit, MQTT 3.1.1 §3.1.2.10).
# - umqtt.simple turns the socket blocking with no timeout inside wait_msg(); a dead link would
#   then hang the loop until the watchdog fires. We hand it a socket wrapper whose blocking mode is
#   a bounded timeout, and create its socket with a timeout so connect() is bounded too.
# - Any OSError / MQTTException marks the link down; reconnects follow a capped exponential
#   backoff with jitter so a fleet does not reconnect in lockstep after a broker restart.
# - State messages go through a bounded outbox (drop-oldest, counted) and are published with
#   QoS 1: a message leaves the outbox only once the broker acknowledged it, so a broker outage
#   loses nothing that fits in the outbox (at-least-once delivery).
# - Payloads are bytes; topics are str (ASCII by construction).
# - Incoming packets are read here, not by umqtt.simple's check_msg()/wait_msg(): those read a
#   whole PUBLISH into RAM before anything can look at its size (a 64 KB message is a
#   MemoryError on a board), and umqtt's QoS 1 publish and subscribe wait for their ack by
#   reading (and so holding) every message queued before it. Here the size comes from the fixed
#   header (MQTT 3.1.1 §2.2.3) and a body too large for any handler is skipped in small chunks;
#   the next message is read only when the inbox has room (flow control: the rest wait in the
#   TCP stream and at the broker, nothing is dropped); QoS 1 publishes and SUBSCRIBE do not
#   block for their ack, which the reader takes when it arrives.
# Only the API shared by umqtt.simple 1.3.4 and 1.8 is used: MQTTClient(client_id, server, port,
# user, password, keepalive, ssl), set_last_will, connect(clean_session), publish(topic, msg,
# retain) at QoS 0, ping, disconnect, and its `sock` attribute.
import random

import log
from clock import ticks_add, ticks_diff, ticks_ms
from micropython import const

_BACKOFF_MIN_MS = const(1000)
_MAX_INBOX = const(4)  # messages held for the app at once; the next waits in TCP
_INBOX_BYTES = const(1024)  # ... and their payload bytes, before another is read
_MAX_PACKETS_PER_SERVICE = const(8)
_SCRATCH = const(64)  # bytes: packet headers, and skipped bodies in pieces (mqtt_receive)
_PUBLISH = const(0x30)  # packet types in the fixed header's high nibble (MQTT 3.1.1 §2.2.1)


class WatchedSocket:
    """Wraps the connected socket: notes when bytes arrive (liveness) and bounds every blocking
    read and write by the link's timeout instead of umqtt.simple's `setblocking(True)`."""

    def __init__(self, sock, raw, timeout_s, link):
        self.sock = sock  # what umqtt reads and writes: the TCP socket, or the TLS one over it
        self.raw = raw  # the TCP socket, which takes timeouts (a TLS socket has no settimeout)
        self.timeout_s = timeout_s
        self.link = link

    def read(self, n):
        data = self.sock.read(n)
        if data:
            self.link.last_rx_ms = ticks_ms()
        return data

    def readinto(self, buf, n):
        got = self.sock.readinto(buf, n)
        if got:
            self.link.last_rx_ms = ticks_ms()
        return got

    def write(self, buf, n=None):
        if n is None:
            return self.sock.write(buf)
        return self.sock.write(buf, n)

    def setblocking(self, flag):
        if flag:
            if self.sock is not self.raw:
                self.sock.setblocking(True)
            self.raw.settimeout(self.timeout_s)
        else:
            self.sock.setblocking(False)

    def settimeout(self, timeout_s):
        self.raw.settimeout(self.timeout_s if timeout_s is None else timeout_s)

    def close(self):
        self.sock.close()


class MqttLink:
    def __init__(self, mqtt_module, client_id, host, port, user, password, keepalive_s,
                 status_topic, subscriptions=(), ssl=None, timeout_s=5, backoff_max_ms=60000,
                 outbox_len=8):
        # Attributes share their parameters' names: every distinct name costs RAM on a board.
        self.mqtt_module = mqtt_module  # umqtt.simple (or a test double with the same API)
        self.client_id = client_id
        self.host = host
        self.port = port
        self.user = user or None
        self.password = password or None
        self.keepalive_s = keepalive_s
        self.ssl = ssl
        self.timeout_s = timeout_s
        self.backoff_max_ms = backoff_max_ms
        # Topics as bytes: umqtt.simple sizes packets with len(), which counts characters of a
        # str; a non-ASCII prefix from the config would make every CONNECT malformed.
        self.status_topic = _bytes(status_topic)
        self.subscriptions = [_bytes(topic) for topic in subscriptions]
        self.client = None
        self.connected = False
        self.on_connect = None  # called after every (re)connect, once online is published
        # (topic bytes, payload, retained) received, handled by the app; payload is bytes, or
        # the size (int) of a body larger than MAX_MESSAGE that was skipped unread
        self.inbox = []
        self.inbox_refused = 0  # messages not handed on whole (too large, malformed topic)
        self.pid = 0  # the last packet identifier used (MQTT 3.1.1 §2.3.1)
        self.sent = 0  # outbox entries sent, awaiting their PUBACK (the first ones)
        self.inflight_pid = 0  # the packet id of the first of them; the rest follow on
        self.scratch = bytearray(_SCRATCH)  # for headers, acks and skipped bodies
        self.outbox = []  # [topic, payload] state messages waiting for the broker's ack
        self.outbox_len = outbox_len
        self.outbox_dropped = 0
        self.connects = 0
        self.failures = 0  # consecutive failed connection attempts
        self.last_error = None
        self.last_rx_ms = ticks_ms()
        self.last_ping_ms = ticks_ms()
        self._next_attempt_ms = ticks_ms()

    # -- connection ---------------------------------------------------------------------------

    def _drop(self, reason):
        if self.connected:
            log.warning("mqtt: link down: %s", reason)
        self.connected = False
        self.last_error = reason
        self.sent = 0  # sent again after the reconnect (at-least-once)
        self.close_socket()
        self.failures += 1
        # Capped exponential backoff with jitter in [50 %, 100 %] of the step.
        step = _BACKOFF_MIN_MS << min(self.failures - 1, 10)
        if step > self.backoff_max_ms:
            step = self.backoff_max_ms
        step = step // 2 + (step // 2) * random.getrandbits(8) // 255
        self._next_attempt_ms = ticks_add(ticks_ms(), step)
        self.retry_in_ms = step

    def close_socket(self):
        if self.client is not None and self.client.sock is not None:
            try:
                self.client.sock.close()
            except OSError as e:  # the socket is already gone; nothing else to release
                log.debug("mqtt: close after failure: %s", e)

    def service(self):
        """Call from the main loop: connects when due, reads incoming messages, keeps alive."""
        now = ticks_ms()
        if not self.connected:
            if ticks_diff(now, self._next_attempt_ms) < 0:
                return False
            try:
                # The connection set-up runs once per (re)connect: its code is loaded for it
                # (a board that loads .mpy into RAM keeps it only while it is needed).
                import mqtt_connect

                mqtt_connect.connect(self, WatchedSocket)
            except Exception as e:  # OSError, MQTTException, or umqtt's asserts on a bad CONNACK
                self._drop(describe(e))
                log.warning("mqtt: connect to %s:%d failed (%s); retry in %d ms",
                            self.host, self.port, self.last_error, self.retry_in_ms)
                return False
            return True
        try:
            for _ in range(_MAX_PACKETS_PER_SERVICE):
                # flow control: the next packet is read only while the inbox has room (count
                # and bytes); the rest wait in the TCP stream and at the broker
                held = 0
                for entry in self.inbox:
                    held += len(entry[1]) if type(entry[1]) is bytes else 0
                if len(self.inbox) >= _MAX_INBOX or held >= _INBOX_BYTES \
                        or not self.read_packet():
                    break
            now = ticks_ms()
            keepalive_ms = self.keepalive_s * 1000
            if ticks_diff(now, self.last_rx_ms) > keepalive_ms * 3 // 2:
                self._drop("no traffic from the broker for %d s" % (keepalive_ms * 3 // 2000))
                return False
            if ticks_diff(now, self.last_ping_ms) > keepalive_ms // 2:
                self.client.ping()
                self.last_ping_ms = now
        except Exception as e:
            self._drop(describe(e))
            return False
        if self.outbox:
            self.flush_outbox()
        return self.connected

    # -- receiving ----------------------------------------------------------------------------

    def read_packet(self):
        """Read and handle one incoming packet; False when none is waiting. Raises OSError on
        a closed connection or a packet this client never asked for."""
        sock = self.client.sock
        sock.setblocking(False)
        head = sock.read(2)  # the packet type and the first byte of its length (§2.2)
        sock.setblocking(True)  # bounded by the link's timeout (WatchedSocket)
        if head is None:
            return False
        if head == b"\x40\x02":  # PUBACK (§3.4): the steady state's packet, one per state
            pid = sock.read(2)
            if len(pid) != 2:
                raise OSError("connection closed by the broker")
            self.acked(pid[0] << 8 | pid[1])
        elif head != b"\xd0\x00":  # PINGRESP (§3.13) needs nothing more
            # PUBLISH (config/set, cmd, HA's status), SUBACK and errors are rare: their code is
            # loaded for them (the app drops it again with its other rare modules)
            import mqtt_receive

            mqtt_receive.packet(self, head)
        return True

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, topic, payload, retain=False, qos=0):
        """Publish now if connected; False if the link is down or failed while sending."""
        if not self.connected:
            return False
        if type(topic) is str:
            # umqtt.simple sizes packets with len(): a non-ASCII str topic (from a user's config)
            # would be miscounted
            topic = topic.encode()
        try:
            self.client.publish(topic, payload, retain, qos)
            return True
        except Exception as e:
            self._drop(describe(e))
            return False

    def publish_pieces(self, topic, pieces, retain=False):
        """Publish a payload too large to build in one piece (the retained config) at QoS 0:
        `pieces()` yields its bytes in small parts and is called twice, to measure the length
        the PUBLISH header carries and to send (MQTT 3.1.1 §3.3). False if the link is down or
        failed while sending."""
        if not self.connected:
            return False
        topic = _bytes(topic)
        size = 0
        for piece in pieces():
            size += len(piece)
        try:
            self.send_header(_PUBLISH | retain, topic, size)  # QoS 0, no DUP
            for piece in pieces():
                self.client.sock.write(piece)
            return True
        except Exception as e:
            self._drop(describe(e))
            return False

    def send_header(self, first, topic, size, pid=0):
        """A PUBLISH's fixed header (type and flags, then the remaining length, MQTT 3.1.1
        §2.2.3), its topic and, at QoS 1, its packet id (§3.3.2), for a body of `size`."""
        remaining = 2 + len(topic) + size + (2 if pid else 0)
        header = self.scratch
        header[0] = first
        n = 1
        while True:
            header[n] = remaining & 0x7F
            remaining >>= 7
            if remaining:
                header[n] |= 0x80
            n += 1
            if not remaining:
                break
        header[n] = len(topic) >> 8
        header[n + 1] = len(topic) & 0xFF
        sock = self.client.sock
        sock.write(header, n + 2)
        sock.write(topic)
        if pid:
            header[0] = pid >> 8
            header[1] = pid & 0xFF
            sock.write(header, 2)

    def send_qos1(self, topic, payload, retain=False):
        """Write a QoS 1 PUBLISH and return its packet id without waiting for the PUBACK
        (read_packet() takes it when it comes). Raises on a socket error."""
        pid = self.pid = self.pid % 0xFFFF + 1  # 1..65535: zero is no packet id (§2.3.1)
        self.send_header(_PUBLISH | 2 | (1 if retain else 0), _bytes(topic), len(payload), pid)
        self.client.sock.write(payload)
        return pid

    def queue(self, topic, payload, retain=False):
        """Queue a message that must not be lost to a short outage (QoS 1, drop-oldest)."""
        if len(self.outbox) >= self.outbox_len:
            self.outbox.pop(0)
            if self.sent:  # it was in flight: the next ack to expect is the next one's
                self.sent -= 1
                self.inflight_pid = self.inflight_pid % 0xFFFF + 1
            self.outbox_dropped += 1
        self.outbox.append((topic, payload, retain))
        self.flush_outbox()

    def flush_outbox(self):
        """Send the outbox entries not sent yet at QoS 1, without waiting: each leaves the
        outbox when its PUBACK arrives (acked())."""
        while self.sent < len(self.outbox) and self.connected:
            topic, payload, retain = self.outbox[self.sent]
            try:
                pid = self.send_qos1(topic, payload, retain)
            except Exception as e:
                self._drop(describe(e))
                return
            if not self.sent:
                self.inflight_pid = pid
            self.sent += 1

    def acked(self, pid):
        """A PUBACK. The broker acknowledges in the order it received (MQTT 3.1.1 §4.6) and the
        entries in flight carry consecutive packet ids: the one expected next is the head's."""
        if self.sent and pid == self.inflight_pid:
            self.outbox.pop(0)
            self.sent -= 1
            self.inflight_pid = pid % 0xFFFF + 1

    def close(self):
        """Clean shutdown (mqtt_connect.close: it runs once, its code is loaded for it)."""
        import mqtt_connect

        mqtt_connect.close(self, describe)

    def adopt(self, old):
        """Take over another link's queued and received messages and counters (a link
        replaced for new connection settings must not lose what the old one still had)."""
        import mqtt_connect

        mqtt_connect.adopt(self, old)


def _bytes(topic):
    return topic.encode() if type(topic) is str else topic


def describe(e):
    name = type(e).__name__
    if name == "MQTTException" and e.args and type(e.args[0]) is int and 1 <= e.args[0] <= 5:
        # CONNACK return codes 1-5, MQTT 3.1.1 §3.2.2.3: line n - 1 of the text
        lines = _CONNACK_REASONS.split("\n")
        return "broker refused the connection: %s" % lines[e.args[0] - 1]
    return "%s %s" % (name, e.args[0] if e.args else "")


_CONNACK_REASONS = (
    "unacceptable protocol version\n"
    "client id rejected\n"
    "server unavailable\n"
    "bad user name or password\n"
    "not authorized"
)
