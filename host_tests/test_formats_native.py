# portable
# The native state JSON (lib/formats/native.py, docs/state.md): golden payloads, left-out values,
# UTF-8.
import json

import native
from format_fixtures import TS, atm_reading, context, han_reading
from reading import Reading


def _one(reading, ctx):
    messages = list(native.messages(reading, ctx))
    assert len(messages) == 1
    topic, payload, retain = messages[0]
    assert type(payload) is bytes
    return topic, json.loads(payload.decode("utf-8")), retain


def test_han_reading_golden():
    ctx = context()
    topic, state, retain = _one(han_reading(), ctx)
    assert topic == "meters/deadbeef/state"
    assert retain is False
    assert state == {
        "ts": TS,
        "src": "han",
        "id": "6970631401234567",
        "model": "MA304H3E",
        "mtime": "2025-04-15T18:07:50",
        "p": 1520,
        "p_imp": 1520,
        "p_exp": 0,
        "q": 310,
        "e_imp": 12345678,
        "e_exp": 4321,
        "eq_imp": 234567,
        "eq_exp": 8765,
        "ch": {
            "L1": {"u": 231.2, "i": 2.21},
            "L2": {"u": 229.8, "i": 3.4},
            "L3": {"u": 232.5, "i": 1.05},
        },
    }


def test_atm_reading_golden_keys_are_ports_and_numbers_at_their_resolution():
    # channels are keyed by their port (CT2, not its label "Solar"); W and var at 0.1, V 0.01,
    # A 0.001, PF 0.001 (quantities.QUANTITIES)
    topic, state, _ = _one(atm_reading(), context({"mqtt": {"prefix": "home/meters"}}))
    assert topic == "home/meters/deadbeef/state"
    assert state == {
        "ts": TS,
        "src": "atm90e32",
        "p": -1523.4,
        "q": -322.6,
        "e_imp": 987654,
        "e_exp": 123456,
        "f": 50.01,
        "t": 31,
        "ch": {
            "CT1": {
                "u": 241.37,
                "i": 6.452,
                "p": -1523.4,
                "q": -322.6,
                "s": 1557.4,
                "pf": -0.978,
                "e_imp": 987654,
                "e_exp": 123456,
            },
            "CT2": {
                "u": 241.35,
                "i": 5.04,
                "p": 1210.5,
                "pf": 0.995,
                "e_imp": 15,
                "e_exp": 54321,
            },
            "CT3": {"u": 241.12, "i": 12.31, "p": 2890.8, "e_imp": 4567},
        },
    }


def test_float_noise_never_reaches_the_payload():
    # values as float arithmetic leaves them (the captures); the text is the rounded
    # decimal on every port (CPython, the 64-bit unix port, the float32 builds)
    r = Reading("atm90e32", ("CT1",))
    ch = r.channels[0]
    ch.current = 8.928000000000001
    ch.power_factor = 0.9429999999999999
    ch.voltage = 231.05000000000004
    ch.power = -0.04  # rounds to 0: written as 0, not -0.0
    ch.frequency = 49.999
    payload = native.state_payload(r, context())
    assert b'"i":8.928' in payload and b'"pf":0.943' in payload
    assert b'"u":231.05' in payload and b'"p":0,' in payload and b'"f":50}' in payload
    assert b"0000" not in payload and b"9999" not in payload


def test_non_ascii_goes_out_as_raw_utf8():
    r = Reading("han", ("Varmepumpe ø°",))
    r.channels[0].voltage = 230.0
    payload = native.state_payload(r, context())
    assert "Varmepumpe ø°".encode("utf-8") in payload
    payload.decode("utf-8")  # raises if not valid UTF-8


def test_nan_inf_none_bool_and_strings_are_left_out():
    r = Reading("atm90e32", ("CT1", "CT2"))
    r.power = float("nan")
    r.frequency = float("inf")
    r.temperature = float("-inf")
    r.import_wh = True  # a bool is not a number here
    r.export_wh = "12"  # nor is text
    r.reactive_power = None
    r.channels[0].voltage = 230.0
    r.channels[0].current = float("nan")
    r.channels[1].current = float("nan")  # a channel with nothing left is left out entirely
    _, state, _ = _one(r, context())
    assert state == {"src": "atm90e32", "ch": {"CT1": {"u": 230.0}}}


def test_empty_reading_is_still_a_json_object():
    _, state, _ = _one(Reading("han"), context())
    assert state == {"src": "han"}


def test_special_characters_in_text_are_escaped():
    r = Reading("han", ('L"1\\', "L2\n"))
    r.meter_id = 'a"b\\c\td'
    r.channels[0].voltage = 1
    r.channels[1].voltage = 2
    _, state, _ = _one(r, context())
    assert state["id"] == 'a"b\\c\td'
    assert state["ch"] == {'L"1\\': {"u": 1}, "L2\n": {"u": 2}}


def test_buffer_reuse_does_not_leak_previous_payload():
    ctx = context()
    big = native.state_payload(atm_reading(), ctx)
    small = native.state_payload(Reading("han"), ctx)
    assert json.loads(small) == {"src": "han"}
    assert len(small) < len(big)
    # the payload handed out is a copy: building the next one does not change it
    again = native.state_payload(atm_reading(), ctx)
    assert again == big
    assert json.loads(small) == {"src": "han"}


def test_buffer_grows_for_a_large_reading():
    names = ["channel-with-a-long-name-%d" % n for n in range(12)]
    r = Reading("atm90e32", names)
    for n, channel in enumerate(r.channels):
        channel.voltage = 230.0 + n
        channel.import_wh = 10**9 + n
    ctx = context()
    payload = native.state_payload(r, ctx)
    state = json.loads(payload)
    assert len(payload) > 512
    assert sorted(state["ch"]) == sorted(names)
    assert state["ch"][names[11]] == {"u": 241.0, "e_imp": 10**9 + 11}


def test_negative_zero_and_large_counters():
    r = Reading("atm90e32", ("CT1",))
    r.power = -0.0
    r.import_wh = 2**40  # beyond 32 bits: lifetime counters of a large installation
    _, state, _ = _one(r, context())
    assert state["p"] == 0
    assert state["e_imp"] == 2**40


def test_state_costs_about_one_payload_of_heap_on_micropython():
    # The point of the shared writer: on MicroPython a state message allocates its bytes and
    # little else (a dict + json.dumps costs about three times the payload).
    from support import running_on_micropython, skip

    if not running_on_micropython():
        skip("heap accounting is MicroPython's")
    import gc

    reading = Reading("atm90e32", ("CT1", "CT2", "CT3", "CT4", "CT5", "CT6"))
    reading.timestamp = TS
    reading.frequency = 50.01
    for n, channel in enumerate(reading.channels):
        channel.voltage = 241.37 + n
        channel.current = 6.452 + n
        channel.power = -1523.41 + 100 * n
        channel.power_factor = -0.978
        channel.import_wh = 987654 + n
        channel.export_wh = 123456
    ctx = context()
    native.state_payload(reading, ctx)  # the buffer reaches its size once
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        payload = native.state_payload(reading, ctx)
        used = gc.mem_alloc() - before
    finally:
        gc.enable()
    assert len(payload) > 500
    # rounding a float to its resolution scales it once: one transient float object per float
    # value (none on the ESP8266, whose floats are not boxed), measured here
    floats = 1 + 4 * len(reading.channels)
    assert used <= len(payload) + 256 + floats * _float_cost(), (used, len(payload))


def _float_cost():
    """Heap bytes one float multiplication allocates on this port."""
    import gc

    x = reading_value = 1.5
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        x = reading_value * 10
        used = gc.mem_alloc() - before
    finally:
        gc.enable()
    assert x == 15
    return used
