"""CPython-only: the firmware's App when Home Assistant discovery finds no room in the heap
(firmware/app.py publish_reading): the reading is published all the same, the failure is
counted, and discovery runs again with the next reading."""

import sys
import types

import config_schema
from reading import Reading

import app


class FakeBoard:
    NAME = "fake"
    MODEL = "test board"

    def watchdog(self, timeout_ms):
        return types.SimpleNamespace(feed=lambda: None)

    def unique_id(self):
        return b"\x01\x02\x03\x04\x05\x06"


class FakeLink:
    connected = True

    def __init__(self):
        self.queued = []
        self.published = []

    def queue(self, topic, payload, retain=False):
        self.queued.append((topic, payload))

    def publish(self, topic, payload, retain=False, qos=0):
        self.published.append((topic, payload))
        return True


def test_discovery_without_room_is_retried_and_the_reading_still_goes_out(tmp_path,
                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)  # the App keeps its announced-sensor list in the current folder
    firmware = app.App(FakeBoard(), config_schema.defaults(), [])
    firmware.link = FakeLink()
    firmware.reading = Reading("han", ("L1",))
    firmware.reading.power = 1234
    firmware.source = object()
    attempts = []

    def announce(instance):
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise MemoryError("memory allocation failed, allocating 425 bytes")
        instance.session_announced = True

    monkeypatch.setitem(sys.modules, "link_events", types.SimpleNamespace(announce=announce))
    monkeypatch.setattr(app, "_drop_rare_modules", lambda: None)  # keep the stand-in loaded
    firmware.publish_reading()
    assert attempts == [0] and firmware.announce_retries == 1
    assert [topic for topic, _ in firmware.link.queued] == [firmware.ctx.state_topic]
    assert not firmware.session_announced
    firmware.publish_reading()  # nothing new in the reading, but the announcement is owed
    assert attempts == [0, 1] and firmware.session_announced
    assert len(firmware.link.queued) == 2
    firmware.publish_reading()  # announced: not again
    assert attempts == [0, 1]
    assert firmware.announce_retries == 1
