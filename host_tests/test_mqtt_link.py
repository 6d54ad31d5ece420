"""The MQTT link (lib/mqtt/mqtt_link.py): under the MicroPython unix port against a real Mosquitto,
and its packet reader on a fake socket."""

import errno
import os
import subprocess
import time

import pytest

import mp_env
from broker import Broker
from mqtt_link import MqttLink
from mqtt_receive import MAX_MESSAGE
from mqtt_observer import Observer

HERE = os.path.dirname(os.path.abspath(__file__))


def start_driver(broker, seconds, user="", password="", keepalive=60, idle=False):
    args = [broker.host, str(broker.port), user, password, str(seconds), str(keepalive)]
    return subprocess.Popen(
        mp_env.micropython_command(os.path.join(HERE, "mqtt_link_driver.py"),
                                   args=args + (["idle"] if idle else [])),
        env=mp_env.micropython_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_outbox_survives_broker_restarts_without_losing_or_reordering_messages():
    with Broker() as broker:
        observer = Observer(broker, ["test/seq", "test/status"])
        driver = start_driver(broker, 16)
        for restart in (1, 2):
            # restart only once the link is up again, so each restart is a separate outage
            assert observer.wait_for(
                lambda r=restart: observer.payloads("test/status").count(b"online") >= r,
                timeout=20)
            time.sleep(1)
            broker.restart(down_seconds=1.5)
        assert observer.wait_for(
            lambda: observer.payloads("test/status").count(b"online") >= 3, timeout=20)
        out, _ = driver.communicate(timeout=60)
        assert driver.returncode == 0, out
        sent = int(out.split("EVENT sent ")[1].split()[0])
        assert "dropped 0 left 0" in out, out
        assert out.count("EVENT up") == 3, out
        assert observer.wait_for(lambda: len(set(observer.payloads("test/seq"))) >= sent), out
        numbers = [int(p) for p in observer.payloads("test/seq")]
        # at-least-once: a message may repeat after a lost ack, but none is missing or reordered
        assert sorted(set(numbers)) == list(range(sent))
        first_seen = []
        for n in numbers:
            if n not in first_seen:
                first_seen.append(n)
        assert first_seen == sorted(first_seen)
        assert observer.payloads("test/status")[-1] == b"offline"
        observer.close()


def test_refused_credentials_are_reported_and_retried_then_accepted_ones_connect():
    with Broker(users={"meter": "right"}) as broker:
        driver = start_driver(broker, 3, "meter", "wrong")
        out, _ = driver.communicate(timeout=30)
        assert "EVENT up" not in out
        assert "bad user name or password" in out or "not authorized" in out, out
        assert out.count("connect to") >= 2, out  # it kept retrying with backoff
        driver = start_driver(broker, 2, "meter", "right")
        out, _ = driver.communicate(timeout=30)
        assert "EVENT up" in out, out


def test_pings_keep_an_idle_link_alive_past_its_keepalive():
    with Broker() as broker:
        observer = Observer(broker, ["test/status"])
        # keepalive 2 s: without pings the broker drops an idle client after 3 s of silence
        driver = start_driver(broker, 7, keepalive=2, idle=True)
        out, _ = driver.communicate(timeout=30)
        assert out.count("EVENT up") == 1 and "EVENT down" not in out, out
        expected = [b"online", b"offline"]  # offline from the clean close, not from a drop
        assert observer.wait_for(lambda: observer.payloads("test/status") == expected)
        observer.close()


def test_a_killed_client_leaves_offline_behind_through_its_last_will():
    with Broker() as broker:
        observer = Observer(broker, ["test/status"])
        driver = start_driver(broker, 30, idle=True)
        assert observer.wait_for(lambda: b"online" in observer.payloads("test/status"))
        driver.kill()
        driver.communicate()
        assert observer.wait_for(lambda: observer.payloads("test/status")[-1:] == [b"offline"])
        observer.close()


# -- the link's own packet reader, on a fake socket (CPython) ----------------------------------

CMD = b"meters/x/cmd"


class FakeSocket:
    """A connected socket holding `data` from the broker: reads return at most `chunk` bytes
    (split reads), a blocking read with nothing left times out like a socket with a timeout."""

    def __init__(self, data=b"", chunk=1 << 20):
        self.data = bytearray(data)
        self.chunk = chunk
        self.blocking = True
        self.written = bytearray()
        self.largest_read = 0

    def _take(self, n):
        if not self.data:
            if self.blocking:
                raise OSError(errno.ETIMEDOUT, "timed out")
            return None
        n = min(n, self.chunk, len(self.data))
        self.largest_read = max(self.largest_read, n)
        taken = bytes(self.data[:n])
        del self.data[:n]
        return taken

    def read(self, n):
        return self._take(n)

    def readinto(self, buf, n):
        taken = self._take(n)
        if taken is None:
            return None
        buf[:len(taken)] = taken
        return len(taken)

    def write(self, buf, n=None):
        self.written += bytes(buf[:n] if n is not None else buf)
        return len(self.written)

    def setblocking(self, flag):
        self.blocking = flag

    def close(self):
        self.closed = True


class FakeClient:
    def __init__(self, sock):
        self.sock = sock


def remaining_length(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic, payload, qos=0, retain=False, pid=1):
    variable = len(topic).to_bytes(2, "big") + topic + (pid.to_bytes(2, "big") if qos else b"")
    first = 0x30 | qos << 1 | int(retain)
    return bytes([first]) + remaining_length(len(variable) + len(payload)) + variable + payload


def linked(data, chunk=1 << 20):
    link = MqttLink(None, "x", "localhost", 1883, "", "", 60, "meters/x/status", [CMD])
    link.client = FakeClient(FakeSocket(data, chunk))
    link.connected = True
    return link


def test_a_message_split_across_many_short_reads_arrives_whole():
    packet = publish_packet(CMD, b'{"cmd": "identify"}')
    link = linked(packet + publish_packet(CMD, b"second"), chunk=1)
    assert link.read_packet() and link.read_packet()
    assert link.inbox == [(CMD, b'{"cmd": "identify"}', 0), (CMD, b"second", 0)]
    assert not link.read_packet()  # nothing more waiting: no block, no error
    assert link.connected


@pytest.mark.parametrize("remaining, header_bytes", [
    (127, 1), (128, 2), (16383, 2), (16384, 3), (2097151, 3), (2097152, 4)])
def test_remaining_length_edge_cases_decode_to_the_right_size(remaining, header_bytes):
    body = remaining - 2 - len(CMD)
    packet = publish_packet(CMD, b"b" * body)
    assert len(packet) == 1 + header_bytes + remaining
    link = linked(packet + publish_packet(CMD, b"next"))
    assert link.service()
    expected = b"b" * body if body <= MAX_MESSAGE else body  # larger: skipped, size handed on
    assert link.inbox == [(CMD, expected, 0), (CMD, b"next", 0)]
    assert link.inbox_refused == (0 if body <= MAX_MESSAGE else 1)


def test_a_remaining_length_of_five_bytes_is_a_protocol_error():
    link = linked(b"\x30\xff\xff\xff\xff\x01" + b"x" * 10)
    with pytest.raises(OSError, match="remaining length"):
        link.read_packet()


def test_an_oversized_body_is_skipped_in_small_reads_and_the_stream_stays_in_step():
    big = publish_packet(CMD, b"{" + b" " * 65534, retain=True)
    link = linked(big + publish_packet(CMD, b'{"cmd": "announce"}'))
    link.service()
    assert link.inbox == [(CMD, 65535, 1), (CMD, b'{"cmd": "announce"}', 0)]
    assert link.client.sock.largest_read <= 64  # never more than the scratch buffer at once
    assert link.inbox_refused == 1
    assert link.connected


def test_a_qos1_message_is_acknowledged_with_its_packet_id():
    link = linked(publish_packet(CMD, b"hello", qos=1, pid=0x1234))
    assert link.read_packet()
    assert link.inbox == [(CMD, b"hello", 0)]
    assert bytes(link.client.sock.written) == b"\x40\x02\x12\x34"  # PUBACK, MQTT 3.1.1 §3.4


def test_flow_control_reads_only_what_the_inbox_has_room_for():
    messages = [b'{"publish_interval_s": %d}' % n for n in range(1, 11)]
    link = linked(b"".join(publish_packet(CMD, m) for m in messages))
    handled = []
    for _ in range(10):
        link.service()
        assert len(link.inbox) <= 4  # the rest wait in the socket
        handled += [payload for _, payload, _ in link.inbox]
        link.inbox.clear()
    assert handled == messages  # all of them, in order
    assert link.inbox_refused == 0


def test_outbox_entries_go_out_at_once_and_leave_on_their_pubacks_in_order():
    link = linked(b"")
    link.queue("meters/x/state", b"1")
    link.queue("meters/x/state", b"2")
    sock = link.client.sock
    assert sock.written.startswith(b"\x32")  # PUBLISH, QoS 1
    assert sock.written.count(b"meters/x/state") == 2  # both in flight, no wait for an ack
    first = link.inflight_pid
    sock.data += b"\x90\x03" + (first - 1).to_bytes(2, "big") + b"\x00"  # a SUBACK
    sock.data += b"\xd0\x00"  # PINGRESP
    sock.data += b"\x40\x02" + (first + 7).to_bytes(2, "big")  # an ack for something else
    sock.data += b"\x40\x02" + first.to_bytes(2, "big")
    link.service()
    assert [payload for _, payload, _ in link.outbox] == [b"2"]
    sock.chunk = 1  # the next ack arrives a byte at a time
    sock.data += b"\x40\x02" + (first + 1).to_bytes(2, "big")
    link.service()
    assert link.outbox == [] and link.sent == 0
    assert sock.written.count(b"meters/x/state") == 2  # nothing sent twice


def test_a_full_outbox_drops_its_oldest_even_in_flight_and_expects_the_next_ack():
    link = linked(b"")
    link.outbox_len = 2
    for n in (b"1", b"2", b"3"):
        link.queue("meters/x/state", n)
    first = link.inflight_pid
    assert link.outbox_dropped == 1 and link.sent == 2
    link.client.sock.data += b"\x40\x02" + (first - 1).to_bytes(2, "big")  # the dropped one's
    link.client.sock.data += b"\x40\x02" + first.to_bytes(2, "big")
    link.service()
    assert [payload for _, payload, _ in link.outbox] == [b"3"]


def test_an_unexpected_packet_drops_the_link():
    link = linked(b"\x20\x02\x00\x00")  # a CONNACK in the middle of a session
    assert not link.service()
    assert not link.connected and "unexpected packet" in link.last_error
