# Connecting the MQTT link (mqtt_link.MqttLink): a new umqtt client with the last will, a socket
# whose connect and reads are bounded, the subscriptions, "online" and the app's on_connect.
# SUBSCRIBE and "online" go out without waiting for their acks (the link's reader takes them):
# umqtt's own waits would read whatever arrives first, retained messages of any size included.
# Loaded for each (re)connect by MqttLink.service(), and for close() and adopt(): the steady
# state does not hold this code.
import socket

import log
from clock import ticks_ms
from micropython import const

_IPPROTO_TCP = const(6)
_TCP_NODELAY = const(1)


def connect(link, watched_socket):
    """Connect `link` (raises on failure); watched_socket is mqtt_link's WatchedSocket, which
    outlives this module."""
    mqtt = link.mqtt_module
    plain = getattr(mqtt, "socket", None)
    factory = None
    if plain is not None:
        factory = mqtt.socket = SocketFactory(link.timeout_s)
    try:
        _connect_client(link, mqtt)
    finally:
        if plain is not None:
            mqtt.socket = plain
    raw = link.client.sock
    if factory is not None and factory.last:
        raw = factory.last
    link.client.sock = watched_socket(link.client.sock, raw, link.timeout_s, link)
    link.last_rx_ms = link.last_ping_ms = ticks_ms()
    subscribe(link)
    link.send_qos1(link.status_topic, b"online", True)
    link.connected = True
    link.connects += 1
    link.failures = 0
    log.info("mqtt: connected to %s:%d as %s", link.host, link.port, link.client_id)
    if link.on_connect:
        link.on_connect()
    link.flush_outbox()


def _connect_client(link, mqtt):
    client = mqtt.MQTTClient(link.client_id, link.host, port=link.port, user=link.user,
                             password=link.password, keepalive=link.keepalive_s,
                             ssl=link.ssl)
    client.set_last_will(link.status_topic, b"offline", retain=True, qos=1)
    link.client = client
    try:
        client.connect(True, link.timeout_s)  # umqtt.simple >= 1.5 takes a timeout
    except TypeError:
        if link.ssl is not None:
            # umqtt.simple before 1.4 takes ssl as a flag and ignores an SSLContext: the
            # broker would go unverified. Refuse rather than pretend.
            raise OSError("mqtt.tls needs umqtt.simple 1.5 or later (SSLContext)") from None
        client.connect(True)  # 1.3.4: bounded by the socket factory's timeout


def subscribe(link):
    """One SUBSCRIBE for every topic at QoS 0 (MQTT 3.1.1 §3.8), not waiting for the SUBACK:
    retained messages may follow it at once, and they take their turn in the inbox like any
    other message."""
    size = 2
    for topic in link.subscriptions:
        size += 3 + len(topic)
    pid = link.pid = link.pid % 0xFFFF + 1
    packet = bytearray((0x82,))  # SUBSCRIBE; its reserved flags are 0010 (§3.8.1)
    while True:  # remaining length (§2.2.3)
        packet.append((size & 0x7F) | (0x80 if size > 0x7F else 0))
        size >>= 7
        if not size:
            break
    packet += bytes((pid >> 8, pid & 0xFF))
    for topic in link.subscriptions:
        packet += bytes((len(topic) >> 8, len(topic) & 0xFF))
        packet += topic
        packet.append(0)  # the QoS asked for
    link.client.sock.write(packet)


def close(link, describe):
    """Clean shutdown: offline (retained) last, because DISCONNECT suppresses the will.
    describe: mqtt_link.describe, for the log."""
    if link.connected:
        try:
            # Everything still queued, then offline: the broker takes them in order before the
            # DISCONNECT, so no ack needs waiting for (MQTT 3.1.1 §4.6).
            for topic, payload, retain in link.outbox[link.sent:]:
                link.send_qos1(topic, payload, retain)
            link.send_qos1(link.status_topic, b"offline", True)
            link.client.disconnect()
        except Exception as e:
            log.warning("mqtt: clean disconnect failed: %s", describe(e))
            link.close_socket()  # disconnect() closes it only when it gets that far
    link.connected = False


def adopt(link, old):
    link.outbox = old.outbox
    link.outbox_dropped = old.outbox_dropped
    link.connects = old.connects
    link.inbox = old.inbox  # received, not yet handled: the app handles them next
    link.inbox_refused = old.inbox_refused


class SocketFactory:
    """Stands in for the `socket` module inside umqtt.simple while it connects, so the socket
    it creates has a timeout before connect() (1.3.4 has no connect timeout). Only for the
    connect: umqtt.simple keeps no reference to it, and this module is dropped after."""

    def __init__(self, timeout_s):
        self.timeout_s = timeout_s
        self.getaddrinfo = socket.getaddrinfo
        self.last = None  # the raw socket of the latest connection (under TLS, if any)

    def socket(self, *args):
        sock = socket.socket(*args)
        self.last = sock
        sock.settimeout(self.timeout_s)
        # umqtt.simple writes each packet in several small pieces; with Nagle's algorithm the
        # later pieces wait for the peer's delayed ACK (~40 ms on Linux), measured in make bench.
        # IPPROTO_TCP = 6, TCP_NODELAY = 1 (RFC 793 / POSIX); not every port exposes the names.
        try:
            sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
        except OSError as e:  # a stack without the option: correct, only slower
            log.debug("mqtt: TCP_NODELAY unavailable: %s", e)
        return sock
