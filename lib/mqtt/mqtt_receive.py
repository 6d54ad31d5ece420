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
_PINGRESP = const(0xD0)


def packet(link, head):
    """Handle a packet whose first bytes (one or two, read without waiting) are `head`: its
    type, then its remaining length (MQTT 3.1.1 §2.2). Raises OSError on a closed connection
    or a packet this client never asked for."""
    if not head:
        raise OSError("connection closed by the broker")
    kind = head[0]
    size = 0
    for shift in (0, 7, 14, 21):
        # remaining length: 7 bits a byte, least significant first, at most 4 bytes (§2.2.3)
        if shift == 0 and len(head) > 1:
            byte = head[1]
        else:
            read_exactly(link, 1)
            byte = link.scratch[0]
        size |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
    else:
        raise OSError("malformed remaining length from the broker")
    if kind & 0xF0 == 0x30:
        publish(link, kind, size)
    elif kind == _PUBACK and size == 2:  # its first byte arrived alone: finish it here
        read_exactly(link, 2)
        link.acked(link.scratch[0] << 8 | link.scratch[1])
    elif kind == _SUBACK and 3 <= size <= len(link.scratch):
        # packet id, then one return code per topic filter; 0x80: refused (§3.9.3)
        read_exactly(link, size)
        for i in range(2, size):
            if link.scratch[i] == 0x80:
                log.error("mqtt: the broker refused subscription %d (not authorized?)", i - 1)
    elif kind != _PINGRESP or size:
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
    read_exactly(link, 2)
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
        read_exactly(link, 2)
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


def read_exactly(link, n):
    """Fill link.scratch[:n] from the socket, across short reads."""
    sock = link.client.sock
    got = sock.readinto(link.scratch, n)
    while got is not None and 0 < got < n:
        more = sock.readinto(memoryview(link.scratch)[got:n], n - got)
        if not more:
            break
        got += more
    if got != n:
        raise OSError("connection closed by the broker")


def skip(link, n):
    """Read and discard n bytes through the link's small scratch buffer."""
    chunk = len(link.scratch)
    while n > 0:
        step = n if n < chunk else chunk
        read_exactly(link, step)
        n -= step
