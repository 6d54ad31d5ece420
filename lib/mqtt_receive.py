# The MQTT link's rare incoming packets (mqtt_link.MqttLink.read_packet): PUBLISH (config/set,
# cmd, Home Assistant's status), the SUBACK after each connect, and what should never come.
# Loaded when one arrives; the steady state's packets (PUBACK, PINGRESP) are read by mqtt_link.
import log
from micropython import const

# The largest payload any handler takes: a signed envelope (signing.MAX_ENVELOPE); a larger
# body is skipped unread and handed on as its size, for an error answer.
MAX_MESSAGE = const(2048)
_MAX_TOPIC = const(256)  # we subscribe to exact topics of a few dozen bytes
_PUBACK = const(0x40)
_SUBACK = const(0x90)


def packet(link, kind, size):
    """Handle a packet of type `kind` (the fixed header's first byte) whose remaining length is
    `size` (MQTT 3.1.1 §2.2); kind -1: the connection closed. Raises OSError on one this
    client never asked for."""
    if kind < 0:
        raise OSError("connection closed by the broker")
    if link.scratch[0] & 0x80:  # a fourth length byte that says more follow
        raise OSError("malformed remaining length from the broker")
    if kind & 0xF0 == 0x30:
        publish(link, kind, size)
    elif kind == _SUBACK and 3 <= size <= len(link.scratch):
        # packet id, then one return code per topic filter; 0x80: refused (§3.9.3)
        link.read_exactly(size)
        for i in range(2, size):
            if link.scratch[i] == 0x80:
                log.error("mqtt: the broker refused subscription %d (not authorized?)", i - 1)
    else:
        raise OSError("unexpected packet 0x%02x (%d bytes) from the broker" % (kind, size))


def publish(link, flags, size):
    """A PUBLISH (MQTT 3.1.1 §3.3): flags are the fixed header's first byte (DUP, QoS, RETAIN
    in its low nibble), size its remaining length: topic, packet id (QoS 1), then the body,
    whose size is known before a byte of it is read. A body larger than MAX_MESSAGE is skipped
    in small reads and handed on as its size, for the app's error answer."""
    qos = (flags >> 1) & 3
    if qos > 1:  # we subscribe at QoS 0, which caps what the broker sends (§3.8.4)
        raise OSError("PUBLISH at QoS %d from the broker" % qos)
    header = 4 if qos else 2
    if size < header:
        raise OSError("malformed PUBLISH from the broker")
    link.read_exactly(2)
    topic_len = link.scratch[0] << 8 | link.scratch[1]
    if topic_len > size - header:
        raise OSError("malformed PUBLISH from the broker")
    body = size - header - topic_len
    topic = None
    if topic_len > _MAX_TOPIC:
        skip(link, topic_len)
    else:
        topic = read_bytes(link, topic_len)
    pid = 0
    if qos:
        link.read_exactly(2)
        pid = link.scratch[0] << 8 | link.scratch[1]
    if topic is None:
        skip(link, body)
        link.inbox_refused += 1
        log.warning("mqtt: skipped a message with a %d-byte topic", topic_len)
    elif body > MAX_MESSAGE:
        skip(link, body)
        link.inbox_refused += 1
        log.warning("mqtt: %d-byte message on %s skipped (limit %d)", body, topic, MAX_MESSAGE)
        link.inbox.append((topic, body, flags & 1))
    else:
        link.inbox.append((topic, read_bytes(link, body), flags & 1))
    if qos:
        ack = link.scratch  # PUBACK: type, remaining length 2, packet id (§3.4)
        ack[0] = _PUBACK
        ack[1] = 2
        ack[2] = pid >> 8
        ack[3] = pid & 0xFF
        link.client.sock.write(ack, 4)


def read_bytes(link, n):
    data = b""
    while len(data) < n:
        more = link.client.sock.read(n - len(data))
        if not more:
            raise OSError("connection closed by the broker")
        data = more if not data else data + more
    return data


def skip(link, n):
    """Read and discard n bytes through the link's small scratch buffer."""
    chunk = len(link.scratch)
    while n > 0:
        step = n if n < chunk else chunk
        link.read_exactly(step)
        n -= step
