"""Issue 16, defects 7 and 8, on the sim board against Mosquitto: invalid JSON and invalid UTF-8
on config/set and cmd are refused with the cause and byte offset and change nothing; valid
non-ASCII text (an emoji, escaped or raw) is taken, signed or not, and everything the reader
publishes (state, discovery, config, results) stays valid UTF-8."""

import json
import time

import pytest

from broker import Broker
from mqtt_observer import Observer, SimRun, publish, wait_until

DEVICE = "textmeter"
BASE = "meters/" + DEVICE
SECRET = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
EMOJI = "\U0001F600".encode()

# (payload, phrase the refusal must hold); the examples first
BAD_CONFIG = [
    (b'{"publish_interval_s": 5,}', "not valid JSON at byte 24: trailing comma"),
    (b'{"publish_interval_s" 5}', "not valid JSON at byte 22: ':' expected"),
    (b'{"publish_interval_s": 05}', "not valid JSON at byte 23: leading zero"),
    (b'{"mqtt": {"prefix": "\\x41"}}', "not valid JSON at byte 21: invalid escape"),
    (b'{"atm90e32": {"ct1": {"name": "a\xc0\xaf"}}}', "not valid UTF-8 at byte 32: overlong"),
    (b'{"atm90e32": {"ct1": {"name": "\\ud800"}}}', "not valid UTF-8 at byte 31: lone surrogate"),
    (b'{"atm90e32": {"ct1": {"name": "\xed\xa0\x80"}}}', "not valid UTF-8 at byte 31: surrogate"),
    (b'{"publish_interval_s": 5, "publish_interval_s": 6}', "byte 26: duplicate name"),
    (b"[" * 40 + b"]" * 40, "nested deeper than 16"),
]
BAD_COMMANDS = [
    (b'{"cmd": "identify", "id": "\xc0\xaf"}', "not valid UTF-8 at byte 27: overlong"),
    (b'{"cmd": "identify", "id": "\\udc00"}', "not valid UTF-8 at byte 27: lone surrogate"),
    (b'{"cmd": "identify",}', "not valid JSON at byte 18: trailing comma"),
    (b'{"cmd": "identify", "seconds": 01}', "not valid JSON at byte 31: leading zero"),
]


@pytest.fixture
def broker():
    with Broker() as b:
        yield b


def answers(observer, topic):
    return [json.loads(p) for p in observer.payloads(BASE + topic)]


def ask(broker, observer, payload, topic):
    """Send `payload` on BASE + topic and return the one answer on its result topic."""
    result = "/config/result" if topic == "/config/set" else topic + "/result"
    before = len(observer.payloads(BASE + result))
    publish(broker, BASE + topic, payload)
    assert wait_until(lambda: len(observer.payloads(BASE + result)) > before, timeout=10), payload
    return answers(observer, result)[-1]


def all_text_is_utf8(observer):
    """Everything the reader published (not what the test sent it) is valid UTF-8."""
    published = [(t, p) for t, p in observer.messages_under("")
                 if t not in (BASE + "/config/set", BASE + "/cmd")]
    assert len(published) > 10
    for topic, payload in published:
        try:
            payload.decode("utf-8")  # strict: refuses overlong, surrogates, truncation
        except UnicodeDecodeError as e:
            raise AssertionError("%s: %s: %r" % (topic, e, payload)) from None


def test_invalid_text_and_json_are_refused_and_an_emoji_is_taken_signed_or_not(broker, tmp_path):
    observer = Observer(broker, ["meters/#", "homeassistant/#"])
    state_dir = str(tmp_path)
    sim = SimRun(broker, state_dir, DEVICE, extra_args=["--quiet"]).start()
    try:
        assert wait_until(lambda: observer.payloads(BASE + "/state"), timeout=30), sim.log()
        retained = observer.payloads(BASE + "/config")[-1]
        for payload, phrase in BAD_CONFIG:
            answer = ask(broker, observer, payload, "/config/set")
            assert answer["ok"] is False and phrase in answer["error"], (payload, answer)
        assert observer.payloads(BASE + "/config")[-1] == retained  # nothing changed
        for payload, phrase in BAD_COMMANDS:
            answer = ask(broker, observer, payload, "/cmd")
            assert answer["ok"] is False and "id" not in answer, (payload, answer)  # no echo
            assert phrase in answer["error"], (payload, answer)
        # still running on the old config (the discovery below also needs a new reading)
        # valid text: an emoji as an escaped surrogate pair, then raw, in a name and a cmd id
        answer = ask(broker, observer, b'{"atm90e32": {"ct1": {"name": "PV \\ud83d\\ude00"}}}',
                     "/config/set")
        assert answer["ok"] is True and answer["changed"] == ["atm90e32.ct1.name"], answer
        assert wait_until(lambda: json.loads(observer.payloads(BASE + "/config")[-1])
                          ["atm90e32"]["ct1"]["name"] == "PV \U0001F600")
        assert EMOJI in observer.payloads(BASE + "/config")[-1]  # one 4-byte sequence
        answer = ask(broker, observer, b'{"cmd": "identify", "seconds": 1, "id": "x' + EMOJI
                     + b'"}', "/cmd")
        assert answer == {"ok": True, "cmd": "identify", "id": "x\U0001F600"}, answer
        # the new name reaches Home Assistant's discovery as valid UTF-8
        assert wait_until(lambda: any(EMOJI in p for _, p in
                                      observer.messages_under("homeassistant/")), timeout=25)
        all_text_is_utf8(observer)
    finally:
        assert sim.stop() == 0, sim.log()

    # the same reader with signing on (site settings applied at boot)
    import signing

    sim = SimRun(broker, state_dir, DEVICE, extra_args=["--quiet", "--secret", SECRET]).start()
    try:
        assert wait_until(lambda: observer.payloads(BASE + "/status")[-1:] == [b"online"],
                          timeout=30), sim.log()
        counter = int(time.time() * 1000)
        body = '{"atm90e32": {"ct2": {"name": "Küche \U0001F600"}}}'.encode()
        signed = signing.sign(SECRET, body, counter)
        assert b"\\ud83d\\ude00" in signed  # CPython's json escapes it as a surrogate pair
        answer = ask(broker, observer, signed, "/config/set")
        assert answer["ok"] is True and answer["changed"] == ["atm90e32.ct2.name"], answer
        body = b'{"cmd": "identify", "seconds": 1, "id": "' + EMOJI + b'"}'
        raw = ('{"n": %d, "body": %s, "sig": "%s"}' % (
            counter + 1, json.dumps(body.decode(), ensure_ascii=False),
            signing.mac_hex(SECRET, body, counter + 1))).encode()
        assert EMOJI in raw
        answer = ask(broker, observer, raw, "/cmd")
        assert answer == {"ok": True, "cmd": "identify", "id": "\U0001F600"}, answer
        # a signed body must be strict JSON too; an envelope with invalid UTF-8 names the byte
        answer = ask(broker, observer, signing.sign(SECRET, b'{"cmd": "identify",}', counter + 2),
                     "/cmd")
        assert answer["ok"] is False and "not valid JSON at byte 18: trailing comma" \
            in answer["error"], answer
        answer = ask(broker, observer, b'{"n": 5, "body": "\xc0\xaf", "sig": "00"}',
                     "/config/set")
        assert answer == {"ok": False, "error": "message not valid UTF-8 at byte 18: "
                          "overlong encoding"}, answer
        config = json.loads(observer.payloads(BASE + "/config")[-1])
        assert config["atm90e32"]["ct2"]["name"] == "Küche \U0001F600"
        assert config["atm90e32"]["ct1"]["name"] == "PV \U0001F600"
        all_text_is_utf8(observer)
    finally:
        assert sim.stop() == 0, sim.log()
    observer.close()
