# portable
# Signed config/set and cmd messages: HMAC-SHA256 against the RFC 4231 vectors, the envelope,
# and refusal of unsigned, wrongly signed, tampered and replayed messages.
import json
import os
from binascii import hexlify, unhexlify

import signing

SECRET = "00112233445566778899aabbccddeeff"
BODY = b'{"publish_interval_s": 30}'


def _hex(b):
    return hexlify(b).decode()


def test_hmac_sha256_rfc4231_vectors():
    # RFC 4231 section 4: test cases 1, 2, 3, 4, 6 and 7 (5 is a truncated output).
    vectors = (
        (b"\x0b" * 20, b"Hi There",
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (b"Jefe", b"what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (b"\xaa" * 20, b"\xdd" * 50,
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        (bytes(range(1, 26)), b"\xcd" * 50,
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than "
         b"block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    )
    for key, message, expected in vectors:
        assert _hex(signing.hmac_sha256(key, message)) == expected


def test_envelope_vector():
    # Pins the construction (key = the secret's bytes; MAC over b"v1\n" + n + b"\n" + body) so a
    # host tool in any language can check itself. Computed with CPython's hmac module.
    assert signing.mac_hex(SECRET, BODY, 1700000000000) == (
        "d3f82f9ee0476510ab68c8dc1039c9043fe5f161a3114ed1c377470d20e14719")
    env = json.loads(signing.sign(SECRET, BODY, 1700000000000))
    assert env == {"n": 1700000000000, "body": BODY.decode(),
                   "sig": "d3f82f9ee0476510ab68c8dc1039c9043fe5f161a3114ed1c377470d20e14719"}


class Guard(signing.ReplayGuard):
    """A ReplayGuard in a fresh temp file with a hand-driven clock."""

    def __init__(self, path=None, **kw):
        self.now = 1000.0
        if path is None:
            path = _temp_path()
        signing.ReplayGuard.__init__(self, path, clock=lambda: self.now, **kw)


_paths = []


def _temp_path():
    try:
        import tempfile

        directory = tempfile.gettempdir()
    except ImportError:  # MicroPython
        directory = "/tmp"
    path = "%s/replay_test_%s.json" % (directory, _hex(os.urandom(6)))
    _paths.append(path)
    return path


def _cleanup():
    while _paths:
        path = _paths.pop()
        for name in (path, path + ".tmp"):
            try:
                os.remove(name)
            except OSError:
                pass


def test_good_message_passes_and_its_counter_is_recorded():
    guard = Guard()
    try:
        body, error = signing.verify(SECRET, signing.sign(SECRET, BODY, 5), guard)
        assert error is None and body == BODY
        assert guard.last == 5
        with open(guard.path) as f:
            assert json.loads(f.read()) == 5
        body, error = signing.verify(SECRET, signing.sign(SECRET, b'{"cmd": "reboot"}', 6),
                                     guard)
        assert body == b'{"cmd": "reboot"}' and guard.last == 6
    finally:
        _cleanup()


def test_replays_and_old_counters_are_refused():
    guard = Guard()
    try:
        first = signing.sign(SECRET, BODY, 100)
        assert signing.verify(SECRET, first, guard)[1] is None
        body, error = signing.verify(SECRET, first, guard)
        assert body is None and "replayed" in error and "100" in error
        body, error = signing.verify(SECRET, signing.sign(SECRET, b"{}", 99), guard)
        assert body is None and "replayed" in error
        # After a reboot (a new guard on the same file) the old message is still refused.
        rebooted = Guard(guard.path)
        assert rebooted.last == 100 and rebooted.notice is None
        assert "replayed" in signing.verify(SECRET, first, rebooted)[1]
        assert signing.verify(SECRET, signing.sign(SECRET, BODY, 101), rebooted)[1] is None
    finally:
        _cleanup()


def test_unsigned_wrongly_signed_and_tampered_messages_are_refused():
    guard = Guard()
    try:
        good = signing.sign(SECRET, BODY, 7)
        env = json.loads(good)
        flipped = env["sig"][:10] + ("0" if env["sig"][10] != "0" else "1") + env["sig"][11:]
        cases = (
            (BODY, "unsigned"),  # a plain config/set
            (b'{"cmd": "reboot"}', "unsigned"),
            (b"", "empty"),
            (b"{", "not valid JSON at byte 1"),
            (b"[1]", "unsigned"),
            (b"\xff", "not valid UTF-8 at byte 0"),
            (b" " * 3000, "too large"),
            (signing.sign("ff" * 16, BODY, 7), "bad signature"),  # another key
            (json.dumps({"n": 7, "body": BODY.decode(), "sig": flipped}).encode(),
             "bad signature"),
            (json.dumps({"n": 8, "body": BODY.decode(), "sig": env["sig"]}).encode(),
             "bad signature"),  # counter changed
            (json.dumps({"n": 7, "body": '{"publish_interval_s": 3}', "sig": env["sig"]})
             .encode(), "bad signature"),  # body changed
            (json.dumps({"n": 7, "body": BODY.decode()}).encode(), "unsigned"),
            (json.dumps({"body": BODY.decode(), "sig": env["sig"]}).encode(), '"n"'),
            (json.dumps({"n": 7, "sig": env["sig"]}).encode(), '"body"'),
            (json.dumps({"n": 7, "body": BODY.decode(), "sig": env["sig"], "x": 1}).encode(),
             "exactly"),
            (json.dumps({"n": "7", "body": BODY.decode(), "sig": env["sig"]}).encode(), '"n"'),
            (json.dumps({"n": 7.0, "body": BODY.decode(), "sig": env["sig"]}).encode(), '"n"'),
            (json.dumps({"n": True, "body": BODY.decode(), "sig": env["sig"]}).encode(), '"n"'),
            (json.dumps({"n": 0, "body": BODY.decode(), "sig": env["sig"]}).encode(), '"n"'),
            (json.dumps({"n": 2 ** 53, "body": BODY.decode(), "sig": env["sig"]}).encode(),
             '"n"'),
            (json.dumps({"n": 7, "body": {"publish_interval_s": 30}, "sig": env["sig"]})
             .encode(), '"body"'),
            (json.dumps({"n": 7, "body": BODY.decode(), "sig": env["sig"][:-2]}).encode(),
             '"sig"'),
            (json.dumps({"n": 7, "body": BODY.decode(), "sig": "zz" + env["sig"][2:]}).encode(),
             '"sig"'),
            (json.dumps({"n": 7, "body": BODY.decode(), "sig": 5}).encode(), '"sig"'),
        )
        for payload, phrase in cases:
            body, error = signing.verify(SECRET, payload, guard)
            assert body is None, payload
            assert phrase in error, (payload, error)
            assert SECRET not in error and env["sig"] not in error
        assert guard.last == 0  # nothing refused was recorded
        assert signing.verify(SECRET, good, guard) == (BODY, None)  # the real one still works
    finally:
        _cleanup()


def test_envelope_spelling_does_not_matter():
    # The MAC covers the body's bytes, not the envelope's JSON: key order, spacing and escapes
    # in the envelope may differ between host implementations.
    guard = Guard()
    try:
        body = '{"atm90e32": {"ct1": {"name": "K\u00fcche"}}}'.encode()
        sig = signing.mac_hex(SECRET, body, 42)
        payload = ('{ "sig" : "%s",\n  "body": "{\\"atm90e32\\": {\\"ct1\\": {\\"name\\": '
                   '\\"K\\u00fcche\\"}}}", "n" : 42 }' % sig.upper()).encode()
        assert signing.verify(SECRET, payload, guard) == (body, None)
    finally:
        _cleanup()


def test_a_body_with_an_emoji_verifies_whether_escaped_or_raw():
    # The host signs the exact bytes; the envelope may carry an astral character as a \u
    # surrogate pair (sign() does: json.dumps escapes) or raw. MicroPython's json made CESU-8 of
    # the pair, so the bytes differed from the signed ones ("bad signature").
    guard = Guard()
    try:
        body = '{"atm90e32": {"ct1": {"name": "PV \U0001F600"}}}'.encode()
        # CPython's json.dumps (in sign()) escapes it, MicroPython's does not: escape by hand
        escaped = signing.sign(SECRET, body, 50).replace(b"\xf0\x9f\x98\x80", b"\\ud83d\\ude00")
        assert b"\\ud83d\\ude00" in escaped
        assert signing.verify(SECRET, escaped, guard) == (body, None)
        sig = signing.mac_hex(SECRET, body, 51)
        raw = b'{"n": 51, "sig": "' + sig.encode() + b'", "body": "' \
            + body.replace(b'"', b'\\"') + b'"}'
        assert b"\xf0\x9f\x98\x80" in raw
        assert signing.verify(SECRET, raw, guard) == (body, None)
    finally:
        _cleanup()


def test_envelopes_with_invalid_json_or_text_are_refused_with_the_cause():
    guard = Guard()
    try:
        body = b'{"publish_interval_s": 30}'
        sig = signing.mac_hex(SECRET, body, 60)
        good = '{"n": 60, "body": "{\\"publish_interval_s\\": 30}", "sig": "%s"}' % sig
        cases = (
            (good.replace('"}', '",}'), "not valid JSON at byte %d: trailing comma"
             % (len(good) - 1)),
            (good.replace('"n":', '"n"'), "not valid JSON at byte 5"),
            (good.replace('"n": 60', '"n": 060'), "leading zero"),
            (good.replace('"body": "{', '"body": "\\x41{'), "invalid escape"),
            (good.replace('"sig"', '"s\\ud800"'), "not valid UTF-8"),
            (good.replace('"n": 60', '"n": 60, "n": 60'), "duplicate name"),
        )
        for payload, phrase in cases:
            result, error = signing.verify(SECRET, payload.encode(), guard)
            assert result is None and phrase in error, (payload, error)
        overlong = good.encode().replace(b'"sig"', b'"s\xc0\xafig"')
        result, error = signing.verify(SECRET, overlong, guard)
        assert result is None and "not valid UTF-8 at byte" in error, error
        assert guard.last == 0
        assert signing.verify(SECRET, good.encode(), guard) == (body, None)
    finally:
        _cleanup()


# config/set and cmd bodies, signed or not, are strict JSON in valid UTF-8 (issue 16: MicroPython's
# json alone took all of these): (body, the refusal with signing off)
INVALID_BODIES = (
    (b'{"publish_interval_s": 5,}', "not valid JSON at byte 24: trailing comma"),
    (b'{"publish_interval_s" 5}', "not valid JSON at byte 22: ':' expected"),
    (b'{"publish_interval_s": 05}', "not valid JSON at byte 23: leading zero"),
    (b'{"device_id": "\\x41"}', "not valid JSON at byte 15: invalid escape"),
    (b'{"atm90e32": {"ct1": {"name": "\\ud800"}}}',
     "not valid UTF-8 at byte 31: lone surrogate escape (high half)"),
    (b'{"publish_interval_s": 5, "publish_interval_s": 6}',
     "not valid JSON at byte 26: duplicate name in an object"),
    (b"", "not valid JSON at byte 0: empty document"),
)


def test_invalid_bodies_are_refused_signed_or_not():
    guard = Guard()
    try:
        for n, (body, error) in enumerate(INVALID_BODIES, 1):
            assert signing.verify("", body, guard) == (None, error), body
            signed = signing.sign(SECRET, body, n)
            assert signing.verify(SECRET, signed, guard) == (None, "body " + error), body
        for body in (b'{"atm90e32": {"ct1": {"name": "\xc0\xaf"}}}',
                     b'{"atm90e32": {"ct1": {"name": "\xed\xa0\x80"}}}'):
            result, error = signing.verify("", body, guard)
            assert result is None and error.startswith("not valid UTF-8 at byte 31: "), error
        result, error = signing.verify("", b" " * 3000, guard)
        assert result is None and "too large" in error
    finally:
        _cleanup()


def test_non_ascii_text_comes_out_as_whole_characters():
    # An escaped surrogate pair is one character; MicroPython's json alone made CESU-8 of it,
    # which was then stored and published as invalid UTF-8.
    import config_schema as cs
    import strict_json

    emoji = b"\xf0\x9f\x98\x80"
    guard = Guard()
    try:
        for payload in (b'{"atm90e32": {"ct1": {"name": "K\\u00fcche \\ud83d\\ude00"}}}',
                        b'{"atm90e32": {"ct1": {"name": "K\xc3\xbcche ' + emoji + b'"}}}'):
            body, error = signing.verify("", payload, guard)
            assert error is None, error
            result, config = cs.apply_change(cs.defaults(), body)
            assert result["ok"], result
            name = config["atm90e32"]["ct1"]["name"]
            assert name.encode() == b"K\xc3\xbcche " + emoji and len(name) == 7
            published = b"".join(cs.redacted_json(config))
            assert strict_json.check(published) is None
            assert emoji in published or b"\\ud83d\\ude00" in published
    finally:
        _cleanup()


def test_signing_off_passes_messages_through():
    guard = Guard()
    try:
        assert signing.verify("", BODY, guard) == (BODY, None)
        assert guard.last == 0
    finally:
        _cleanup()


def test_counter_writes_are_rate_limited_and_never_skipped():
    guard = Guard(burst=3, refill_s=10)
    try:
        n = 1
        for _ in range(3):
            assert signing.verify(SECRET, signing.sign(SECRET, BODY, n), guard)[1] is None
            n += 1
        over = signing.sign(SECRET, BODY, n)
        body, error = signing.verify(SECRET, over, guard)
        assert body is None and "too many" in error and "retry in" in error
        assert guard.last == n - 1  # a refused message is not recorded...
        guard.now += 10
        assert signing.verify(SECRET, over, guard) == (BODY, None)  # ...so it can come again
        assert signing.verify(SECRET, signing.sign(SECRET, BODY, n + 1), guard)[1]
        guard.now += 1000  # the budget refills, but never above the burst
        for k in range(3):
            assert signing.verify(SECRET, signing.sign(SECRET, BODY, n + 2 + k), guard)[1] is None
        assert "too many" in signing.verify(SECRET, signing.sign(SECRET, BODY, n + 9), guard)[1]
        guard.now -= 5000  # a clock stepping back does not crash or refill
        assert "too many" in signing.verify(SECRET, signing.sign(SECRET, BODY, n + 9), guard)[1]
    finally:
        _cleanup()


def test_unwritable_counter_refuses_the_message():
    guard = Guard(path="/nonexistent-dir/replay.json")
    body, error = signing.verify(SECRET, signing.sign(SECRET, BODY, 1), guard)
    assert body is None and "cannot record" in error
    assert error.endswith("(ENOENT)"), error  # the cause in words, not a bare errno
    assert guard.last == 0


def test_corrupt_counter_file_is_reported():
    path = _temp_path()
    try:
        for content in ("garbage", "-5", "1.5", '"7"', ""):
            with open(path, "w") as f:
                f.write(content)
            guard = Guard(path)
            assert guard.last == 0 and "corrupt" in guard.notice, content
        with open(path, "w") as f:
            f.write("123")
        guard = Guard(path)
        assert guard.last == 123 and guard.notice is None
    finally:
        _cleanup()


def test_sign_rejects_bad_input():
    for counter in (0, -1, 2 ** 53, "5", 1.0, True):
        try:
            signing.sign(SECRET, BODY, counter)
            raised = False
        except ValueError:
            raised = True
        assert raised, counter
    for secret in ("xyz", "abc"):
        try:
            signing.sign(secret, BODY, 1)
            raised = False
        except ValueError:
            raised = True
        assert raised, secret


def test_long_secret_and_non_ascii_body():
    guard = Guard()
    try:
        secret = _hex(os.urandom(64))  # 128 hex digits: the longest the schema allows
        body = '{"atm90e32": {"ct3": {"name": "\u00c9t\u00e9 \u2013 \u6c34"}}}'.encode()
        payload = signing.sign(secret, body, 3)
        assert signing.verify(secret, payload, guard) == (body, None)
        other = secret[:-2] + ("11" if secret.endswith("00") else "00")
        assert signing.verify(other, signing.sign(secret, body, 4), guard) == (
            None, "bad signature")
    finally:
        _cleanup()


def test_constant_time_compare_is_correct():
    a = unhexlify("00" * 31 + "01")
    assert signing._equal(a, a)
    assert not signing._equal(a, unhexlify("00" * 32))
    assert not signing._equal(a, a[:31])
    assert not signing._equal(unhexlify("80" + "00" * 31), unhexlify("00" * 32))
