"""CPython-only property tests (hypothesis): mutated corpus frames and random byte streams never
make an exception escape the framer, the DLMS decoder, the DSMR parser, the JSON report or the
HAN source. Budget: HAN_FUZZ_EXAMPLES (default 150 per property; `make fuzz` raises it)."""

import json
import os

import han_build as build
import han_corpus_check as check
import support
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlms import DlmsDecoder
from han_meter import HanMeter
from han_source import HanSource
from han_stream import HanStreamDecoder
from reading import Reading

EXAMPLES = int(os.environ.get("HAN_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

CORPUS = support.han_corpus()
FRAMES = [check.entry_bytes(e) for e in CORPUS]
# Keys of the encrypted entries, so that mutations also reach the decrypted plaintext.
KEYS = [HanMeter(check.entry_settings(e)) for e in CORPUS if e.get("key_hex")]


def _decode_all(data, meter=None, chunk=0):
    """Feed data through the whole pipeline; every result must be valid JSON."""
    results = []
    reasons = []
    decoder = HanStreamDecoder(results.append, reasons.append, meter)
    if chunk:
        for i in range(0, len(data), chunk):
            decoder.feed(data[i : i + chunk])
    else:
        decoder.feed(data)
    decoder.end_of_input()
    for line in results:
        pushed = json.loads(line)
        assert isinstance(pushed["obis"], dict) and isinstance(pushed["units"], dict)
    assert all(isinstance(r, str) and r for r in reasons)
    return results


def _mutate(data, ops):
    data = bytearray(data)
    for op, pos, value in ops:
        if not data:
            break
        pos %= len(data)
        if op == 0:  # bit flip
            data[pos] ^= 1 << (value & 7)
        elif op == 1:  # truncate
            del data[pos:]
        elif op == 2:  # insert a byte
            data.insert(pos, value)
        elif op == 3:  # inject a flag (or an M-Bus start, or a telegram start)
            data.insert(pos, (0x7E, 0x68, 0x2F, 0x21)[value & 3])
        else:  # delete a byte
            del data[pos]
    return bytes(data)


ops = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4095), st.integers(0, 255)),
               min_size=1, max_size=8)


@FUZZ
@given(st.sampled_from(range(len(FRAMES))), ops, st.integers(0, 64))
def test_mutated_corpus_frames_never_raise(index, mutations, chunk):
    data = _mutate(FRAMES[index], mutations)
    meter = KEYS[index % len(KEYS)]
    _decode_all(data, meter, chunk)


@FUZZ
@given(st.binary(max_size=3000), st.integers(0, 300))
def test_random_bytes_never_raise(data, chunk):
    _decode_all(data, None, chunk)


@FUZZ
@given(st.lists(st.sampled_from(range(len(FRAMES))), min_size=1, max_size=6),
       st.binary(max_size=40), ops)
def test_frames_with_garbage_between_never_raise_and_survive(indexes, garbage, mutations):
    clean = [i for i in indexes if not CORPUS[i].get("edge_case")
             and CORPUS[i].get("framing") not in ("apdu-only",) and not CORPUS[i].get("key_hex")]
    stream = garbage.join(FRAMES[i] for i in indexes)
    _decode_all(_mutate(stream, mutations))
    # Unmutated, garbage between frames costs no clean frame (a garbage byte may at most
    # complete nothing: every clean frame is still decoded).
    hdlc_only = all(CORPUS[i].get("framing") == "hdlc" for i in indexes)
    if clean and hdlc_only and b"\x7e" not in garbage:
        results = _decode_all(stream)
        assert len(results) >= len(clean)


@FUZZ
@given(st.binary(min_size=1, max_size=600))
def test_random_apdus_never_raise(apdu):
    reasons = []
    decoder = DlmsDecoder(bytes(range(16)), bytes(range(16, 32)), reasons.append)
    for start in (b"", b"\x0f\x00\x00\x00\x00\x00", b"\xe0\x80\x00\x01\x00\x00",
                  b"\xdb\x08KFM\x10\x10\x00\x00\x23"):
        data = bytearray(start + apdu)
        decoder.decode(data, 0, len(data))


@FUZZ
@given(st.lists(st.text(alphabet="0123456789-:.()*kWhAV!/\r\n ", max_size=40), max_size=20),
       st.booleans())
def test_random_telegrams_never_raise(lines, crc):
    _decode_all(build.telegram("ABC5", lines, crc))


class _Uart:
    def __init__(self, data):
        self.data = data

    def any(self):
        return len(self.data)

    def readinto(self, buf):
        n = min(len(buf), len(self.data))
        buf[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


@FUZZ
@given(st.lists(st.sampled_from(range(len(FRAMES))), min_size=1, max_size=5), ops)
def test_han_source_never_raises(indexes, mutations):
    reading = Reading("han")
    source = HanSource(_Uart(_mutate(b"".join(FRAMES[i] for i in indexes), mutations)),
                       check.entry_settings(CORPUS[indexes[0]]), reading)
    for _ in range(100):
        source.poll()
        if not source._uart.data:
            break
    source._framer.end_of_input()
    diag = source.diagnostics()
    assert diag["pushes"] >= 0
    if reading.import_wh is not None:
        assert isinstance(reading.import_wh, int)
