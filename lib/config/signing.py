"""Signed config/set and cmd messages (optional: on when `security.secret` is set).

Envelope: with signing on, the payload on `<prefix>/<id>/config/set` and `<prefix>/<id>/cmd` is

    {"n": 1732233445123, "body": "{\\"publish_interval_s\\": 30}", "sig": "9f86d0...(64 hex)"}

- body: the message itself (the JSON text a plain config/set or cmd would carry), as a JSON
  string. The MAC covers its exact UTF-8 bytes, so nobody ever re-serializes JSON: the host
  signs bytes B and embeds B as a string; the device decodes the string and encodes it back to
  B (lossless for valid UTF-8, whether the string carries characters raw or as \\u escapes,
  astral ones as surrogate pairs; the envelope must be strict JSON in UTF-8, see strict_json).
  No canonical JSON, no dependence on dict order (MicroPython's dicts are unordered) or on how
  either side's json.dumps spaces or escapes.
- n: an integer 1 <= n < 2**53, strictly greater than the last n the device accepted (one
  counter for both topics, so a message signed for one topic cannot be replayed on the other).
  Hosts should use the Unix time in milliseconds: increasing across runs without host state.
- sig: HMAC-SHA256 (RFC 2104) in hex, key = the bytes of the hex secret, over
      b"v1\\n" + str(n).encode() + b"\\n" + body
  The "v1" line makes the construction versioned.

Replay: the device keeps the last accepted n in a file (ReplayGuard) and writes it before the
message is acted on, so a reboot does not reopen old messages. Only valid signed messages cause
a write; a token bucket still bounds the writes (flash wear) if a host script runs away, and a
message over the budget is refused, never accepted unrecorded.

The secret is per device: two devices sharing one would accept each other's messages. Setting it
over MQTT would send it in clear text, so it is set at deploy time (config_schema enforces it).
"""

import hashlib
import json
import os
from binascii import hexlify, unhexlify

from micropython import const

MAX_ENVELOPE = const(2048)  # bytes; the body inside is also held to config_schema.MAX_PAYLOAD
MAX_COUNTER = const(9007199254740991)  # 2**53 - 1: exact in every JSON implementation
_BLOCK = const(64)  # SHA-256 block size (RFC 2104: B)
_PREFIX = b"v1\n"


# ---- HMAC-SHA256 (RFC 2104) ---------------------------------------------------------------------

def _pad(key, byte):
    padded = bytearray(_BLOCK)
    for i in range(len(key)):
        padded[i] = key[i] ^ byte
    for i in range(len(key), _BLOCK):
        padded[i] = byte
    return padded


def _hmac(key, parts):
    if len(key) > _BLOCK:  # RFC 2104 section 2: longer keys are hashed first
        key = hashlib.sha256(key).digest()
    inner = hashlib.sha256(_pad(key, 0x36))
    for part in parts:
        inner.update(part)
    outer = hashlib.sha256(_pad(key, 0x5C))
    outer.update(inner.digest())
    return outer.digest()


def hmac_sha256(key, message):
    """HMAC-SHA256 of bytes `message` under bytes `key` (hashlib only; MicroPython has no hmac)."""
    return _hmac(key, (message,))


def _equal(a, b):
    # Constant time for equal lengths: every byte is compared, no early exit.
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def _mac(secret, counter, body):
    return _hmac(unhexlify(secret), (_PREFIX, str(counter).encode(), b"\n", body))


def mac_hex(secret, body, counter):
    """The hex "sig" for bytes `body` under the hex `secret` with counter `counter`."""
    return hexlify(_mac(secret, counter, body)).decode()


def sign(secret, body, counter):
    """The envelope (bytes, ready to publish) carrying bytes `body`, signed with the hex
    `secret`. For host tools; raises ValueError for a bad secret, counter or non-UTF-8 body."""
    if type(counter) is not int or not 1 <= counter <= MAX_COUNTER:
        raise ValueError("counter must be an integer from 1 to 2**53-1")
    text = body.decode()
    sig = mac_hex(secret, body, counter)
    return ('{"n":' + str(counter) + ',"body":' + json.dumps(text) + ',"sig":"' + sig
            + '"}').encode()


# ---- replay protection --------------------------------------------------------------------------

class ReplayGuard:
    """The last accepted counter, kept in `path` (written as temp file + rename).

    `burst` writes may happen at once, then one more each `refill_s` seconds. `clock` returns
    seconds (time.time by default; any monotonic-ish source will do)."""

    def __init__(self, path, clock=None, burst=10, refill_s=6):
        if clock is None:
            import time

            clock = time.time
        self.path = path
        self.clock = clock
        self.burst = burst
        self.refill_s = refill_s
        self.tokens = burst
        self.refilled = clock()
        self.notice = None  # set when the stored counter could not be read
        self.last = self._read()

    def _read(self):
        try:
            with open(self.path) as f:
                text = f.read(32)
        except OSError as e:
            if e.args and e.args[0] == 2:  # ENOENT: no signed message accepted yet
                return 0
            import flash_error

            self.notice = ("replay counter unreadable (%s): old signed messages may replay"
                           % flash_error.describe(e))
            return 0
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if type(value) is not int or value < 0:
            self.notice = "replay counter file corrupt: old signed messages may replay"
            return 0
        return value

    def check(self, counter):
        """None if `counter` is new, else why it is refused."""
        if counter <= self.last:
            return f"replayed or stale message: n must be greater than {self.last}"
        return None

    def accept(self, counter):
        """Record `counter` as the last accepted one; None on success, else why not (the
        message must then be refused: acting on it unrecorded would let it replay later)."""
        now = self.clock()
        elapsed = now - self.refilled
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed / self.refill_s)
        self.refilled = now
        if self.tokens < 1:
            wait = int((1 - self.tokens) * self.refill_s) + 1
            return f"too many signed messages: retry in {wait} s"
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                f.write(str(counter))
            os.rename(tmp, self.path)
        except OSError as e:
            import flash_error

            return f"cannot record the message counter ({flash_error.describe(e)})"
        self.tokens -= 1
        self.last = counter
        return None


# ---- device side --------------------------------------------------------------------------------

def _open_envelope(payload):
    """(counter, body bytes, sig bytes, None) or (None, None, None, why)."""
    t = type(payload)
    if t is bytearray or t is memoryview:
        payload = bytes(payload)
    elif t is str:
        payload = payload.encode()
    elif t is not bytes:
        return None, None, None, "payload must be bytes"
    if not payload:
        return None, None, None, "empty payload"
    if len(payload) > MAX_ENVELOPE:
        return None, None, None, f"payload too large: {len(payload)} bytes (max {MAX_ENVELOPE})"
    import strict_json

    env, error = strict_json.loads(payload)
    if error:
        return None, None, None, "message " + error
    if type(env) is not dict or "sig" not in env:
        return None, None, None, 'unsigned message refused: signing is on ({"n", "body", "sig"})'
    if len(env) != 3 or "n" not in env or "body" not in env:
        return None, None, None, 'signed message needs exactly "n", "body" and "sig"'
    counter, body, sig = env["n"], env["body"], env["sig"]
    if type(counter) is not int or not 1 <= counter <= MAX_COUNTER:
        return None, None, None, '"n" must be an integer from 1 to 2**53-1'
    if type(body) is not str:
        return None, None, None, '"body" must be a string holding the JSON message'
    if type(sig) is not str or len(sig) != 64:
        return None, None, None, '"sig" must be 64 hex digits'
    try:
        sig = unhexlify(sig)
    except ValueError:
        return None, None, None, '"sig" must be 64 hex digits'
    # strict_json.loads returns whole code points on every port (an escaped surrogate pair is
    # one 4-byte UTF-8 sequence, as the host encoded it), so these are the exact signed bytes.
    body = body.encode()
    return counter, body, sig, None


def verify(secret, payload, guard):
    """(body bytes, None) if `payload` may be acted on, else (None, why it is refused).

    With an empty `secret` (signing off) the body is the payload. Otherwise the payload must be
    a valid envelope (see the module docstring) with a correct sig and a counter above
    `guard`'s last one; the counter is recorded before this returns the body. Either way the
    body must be strict JSON in valid UTF-8 (strict_json.accept: refused with the cause and
    byte offset), and is returned with any escaped surrogate pair written as UTF-8, so that
    json.loads gives whole characters on every port."""
    import strict_json

    if not secret:
        if len(payload) > MAX_ENVELOPE:
            return None, "payload too large: %d bytes (max %d)" % (len(payload), MAX_ENVELOPE)
        return strict_json.accept(payload)
    counter, body, sig, error = _open_envelope(payload)
    if error:
        return None, error
    try:
        expected = _mac(secret, counter, body)
    except ValueError:
        return None, "security.secret is not valid hex"
    if not _equal(expected, sig):
        return None, "bad signature"
    error = guard.check(counter)
    if error:
        return None, error
    error = guard.accept(counter)
    if error:
        return None, error
    body, error = strict_json.accept(body)
    return body, error and "body " + error
