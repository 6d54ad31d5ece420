# portable
# The streaming framer: every chunk size, garbage, shared and fill flags, corrupt frames,
# segmentation, M-Bus segments, ASCII telegrams, bounded memory (CPython and MicroPython).
import han_build as build
import han_corpus_check as check
import support
from crc16 import crc16_arc, crc16_x25, crc16_x25_loop
from han_framer import FLAG_NO_CRC, KIND_ASCII, KIND_HDLC, KIND_MBUS, HanFramer


class Collector:
    def __init__(self, **kw):
        self.pushes = []
        self.rejects = []
        self.framer = HanFramer(self.on_push, self.rejects.append, **kw)

    def on_push(self, kind, buf, start, end, flags):
        self.pushes.append((kind, bytes(buf[start:end]), flags))


def _frames(data, chunk=0):
    c = Collector()
    if chunk:
        for i in range(0, len(data), chunk):
            c.framer.feed(data[i : i + chunk])
    else:
        c.framer.feed(data)
    c.framer.end_of_input()
    return c


def _mixed_stream():
    corpus = check.corpus_by_id()
    aidon = check.entry_bytes(corpus["aidon-se-gh156-1"])
    kaifa = check.entry_bytes(corpus["kaifa-no-gh493-2"])
    dsmr = check.entry_bytes(corpus["dsmr-aidon-adn9-6534-evcc"])
    tinetz = check.entry_bytes(corpus["enc-kaifa-tinetz-at-doc"])
    gbt = b"".join(check.entry_bytes(corpus["gbt-lg-ch-gh740-%d" % n]) for n in (1, 2, 3))
    garbage = b"\x00\x13\xfe\x7e\x68\x03\x2f!h\xa0"
    return garbage + aidon + kaifa[:-5] + kaifa + garbage + dsmr + tinetz + b"\x7e\x7e" + gbt


def test_crc_check_values():
    data = b"123456789"
    assert crc16_x25(data, 0, 9) == 0x906E  # CRC-16/X.25 catalogue check value
    assert crc16_x25_loop(data, 0, 9) == 0x906E
    assert crc16_arc(data, 0, 9) == 0xBB3D  # CRC-16/ARC catalogue check value
    frame = check.entry_bytes(check.corpus_by_id()["aidon-se-gh156-1"])
    fcs = crc16_x25_loop(frame, 1, len(frame) - 3)
    assert fcs == frame[-3] | (frame[-2] << 8)
    assert crc16_x25(frame, 1, len(frame) - 3) == fcs


def test_every_chunk_size_gives_the_same_pushes():
    data = _mixed_stream()
    whole = _frames(data)
    kinds = [p[0] for p in whole.pushes]
    # aidon, kaifa (after its truncated copy), dsmr, tinetz (2 M-Bus frames), 3 GBT blocks
    assert kinds == [KIND_HDLC, KIND_HDLC, KIND_ASCII, KIND_MBUS] + [KIND_HDLC] * 3, kinds
    # Every small chunk size puts a chunk boundary at every offset of every frame in many
    # phases; larger ones add the cases where whole frames arrive in one read. A prime stride
    # keeps the larger sizes' boundaries from repeating the same offsets.
    stride = 97 if support.running_on_micropython() else 31
    sizes = list(range(1, 130)) + list(range(130, len(data) + 1, stride)) + [len(data)]
    for size in sizes:
        c = _frames(data, size)
        assert c.pushes == whole.pushes, size
        assert c.rejects == whole.rejects, size
        assert c.framer.bytes_discarded == whole.framer.bytes_discarded, size


def test_garbage_is_counted_and_the_following_frame_found():
    frame = build.hdlc(b"\x0f\x40\x00\x00\x00\x00\x02\x01\x06\x00\x00\x01\x00")
    c = _frames(b"\x01\x02\x03garbage" + frame)
    assert len(c.pushes) == 1
    assert c.framer.bytes_discarded == 10
    assert c.pushes[0][1] == b"\x0f\x40\x00\x00\x00\x00\x02\x01\x06\x00\x00\x01\x00"


def test_shared_and_fill_flags():
    a = build.hdlc(b"\x0fA")
    b = build.hdlc(b"\x0fB")
    shared = a + b[1:]  # the closing flag of a opens b
    c = _frames(b"\x7e\x7e\x7e" + shared + b"\x7e\x7e")
    assert [p[1] for p in c.pushes] == [b"\x0fA", b"\x0fB"]
    assert c.framer.bytes_discarded == 0
    assert c.rejects == []


def test_flag_byte_inside_the_information_field():
    info = b"\x0f\x7e\x7e\x7e\x7e\x7e" * 10
    c = _frames(build.hdlc(info) + build.hdlc(b"\x0fnext"))
    assert [p[1] for p in c.pushes] == [info, b"\x0fnext"]


def test_address_lengths_one_two_and_four_bytes():
    for dest, src in ((b"\x03", b"\x21"), (b"\x02\x23", b"\x41"), (b"\x00\x02\x00\x23", b"\x03")):
        c = _frames(build.hdlc(b"\x0fX", dest=dest, src=src))
        assert [p[1] for p in c.pushes] == [b"\x0fX"], (dest, src)


def test_corrupt_frames_are_rejected_and_counted_then_resync():
    good = build.hdlc(b"\x0fgood")
    bad_fcs = bytearray(build.hdlc(b"\x0fbad!"))
    bad_fcs[-4] ^= 0x01
    bad_hcs = bytearray(build.hdlc(b"\x0fbad!"))
    bad_hcs[7] ^= 0x80
    half = build.hdlc(b"\x0f" + b"x" * 100)[:60]
    c = _frames(bytes(bad_fcs) + bytes(bad_hcs) + half + good)
    assert [p[1] for p in c.pushes] == [b"\x0fgood"]
    assert c.framer.crc_errors >= 2
    assert any("FCS" in r for r in c.rejects) and any("HCS" in r for r in c.rejects)


def test_wrong_parity_stream_yields_nothing():
    # 8E1 bytes read as 8N1 (corpus edge-kamstrup-gh355-2): no frame survives the checks.
    entry = check.corpus_by_id()["edge-kamstrup-gh355-2"]
    c = _frames(check.entry_bytes(entry))
    assert c.pushes == []
    assert c.framer.bytes_discarded > 0


def test_hdlc_segments_are_reassembled_and_incomplete_ones_dropped():
    apdu = b"\x0f" + bytes(range(200))
    segmented = build.hdlc_segments(apdu, 64)
    for chunk in (0, 1, 5, 64):
        c = _frames(segmented, chunk)
        assert [p[1] for p in c.pushes] == [apdu], chunk
        assert c.framer.pushes_ok == 1
    frames = segmented.split(b"\x7e\x7e")
    partial = b"\x7e\x7e".join(frames[:2]) + b"\x7e"  # two of four segments, then a new push
    c = _frames(partial + build.hdlc(b"\x0fnew"))
    assert [p[1] for p in c.pushes] == [b"\x0fnew"]
    assert c.framer.pushes_dropped == 1
    assert any("segmented" in r for r in c.rejects)


def test_segmented_push_larger_than_the_reassembly_buffer_is_dropped():
    c = Collector(reassembly_size=100)
    c.framer.feed(build.hdlc_segments(b"\x0f" + bytes(300), 60) + build.hdlc(b"\x0fok"))
    assert [p[1] for p in c.pushes] == [b"\x0fok"]
    assert any("too large" in r for r in c.rejects)


def test_mbus_long_frames_concatenate_and_check_sums():
    apdu = b"\x0f" + bytes(range(256)) * 2
    data = build.mbus(apdu, 200)
    for chunk in (0, 3, 200):
        c = _frames(data, chunk)
        assert [(p[0], p[1]) for p in c.pushes] == [(KIND_MBUS, apdu)], chunk
    broken = bytearray(data)
    broken[300] ^= 0xFF
    c = _frames(bytes(broken) + build.mbus(b"\x0fok"))
    assert [p[1] for p in c.pushes] == [b"\x0fok"]
    assert any("M-Bus" in r for r in c.rejects)


def test_ascii_telegrams_with_crc_without_crc_and_with_a_bad_crc():
    good = build.telegram("ADN9 6534", ["1-0:1.7.0(0001.000*kW)"])
    nocrc = build.telegram("ISK9\\2M551T-200", ["1-0:1.7.0(02.356*kW)"], crc=False)
    bad = bytearray(build.telegram("KAM5", ["1-0:1.7.0(0000.714*kW)"]))
    bad[-4] = ord("0") if bad[-4] != ord("0") else ord("1")
    c = _frames(good + bytes(bad) + nocrc)
    assert [(p[0], p[1], p[2]) for p in c.pushes] == [(KIND_ASCII, good, 0),
                                                      (KIND_ASCII, nocrc, FLAG_NO_CRC)]
    assert c.framer.no_crc == 1
    assert any("CRC" in r for r in c.rejects)


def test_stray_slash_in_binary_data_does_not_hide_frames():
    frame = build.hdlc(b"\x0fX")
    c = _frames(b"/ABC5 binary \x00\x01" + frame + b"/xx" + frame)
    assert [p[1] for p in c.pushes] == [b"\x0fX", b"\x0fX"]


def test_memory_stays_bounded_whatever_the_input():
    c = Collector()
    size = len(c.framer._buf)
    # Telegram starts that never end, long runs of garbage and frame headers claiming 2 KB.
    c.framer.feed(b"/ABC5" + b"x" * 5000)
    c.framer.feed(b"\x7e\xa7\xff" + b"\x55" * 3000)
    c.framer.feed(bytes(range(256)) * 40)
    c.framer.feed(build.hdlc(b"\x0fafter"))
    assert len(c.framer._buf) == size
    assert c.pushes[-1][1] == b"\x0fafter"
    assert c.framer.bytes_in == 5005 + 3003 + 10240 + len(build.hdlc(b"\x0fafter"))


def test_largest_hdlc_frame_fits():
    info = b"\x0f" + bytes(2047 - 2 - 1 - 2 - 1 - 2 - 2 - 3 - 1)
    frame = build.hdlc(info)
    assert ((frame[1] & 7) << 8) | frame[2] == 2047
    c = _frames(frame, 100)
    assert [p[1] for p in c.pushes] == [info]
