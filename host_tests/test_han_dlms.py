# portable
# A-XDR / DLMS decoding beyond the corpus: types and signs, layouts, unknown structures, block
# transfer and glo-ciphering built here, and malformed APDUs (CPython and MicroPython).
import json

import han_build as build
import han_report
from dlms import DlmsDecoder
from dlms_codes import DONE, PENDING, REJECTED

OBIS_P = b"\x01\x00\x01\x07\x00\xff"  # 1-0:1.7.0
OBIS_I1 = b"\x01\x00\x1f\x07\x00\xff"  # 1-0:31.7.0
OBIS_E = b"\x01\x00\x01\x08\x00\xff"  # 1-0:1.8.0
OBIS_CLOCK = b"\x00\x00\x01\x00\x00\xff"
DATETIME = b"\x07\xe8\x02\x1d\x04\x16\x30\x32\xff\x80\x00\x00"  # 2024-02-29 22:48:50


def _decode(apdu, decoder=None):
    decoder = decoder or DlmsDecoder(on_reject=lambda r: None)
    status = decoder.decode(bytearray(apdu), 0, len(apdu))
    result = json.loads(han_report.dlms_json(decoder.push)) if status == DONE else None
    return status, result, decoder


def test_structures_with_scaler_unit_and_signed_types():
    body = b"\x01\x04" + build.register(OBIS_P, b"\x06\x00\x00\x07\xe5", 0, 27) + \
        build.register(OBIS_I1, b"\x10\xff\xf6", -1, 33) + \
        build.register(OBIS_E, b"\x06\x03\xc2\x5a\x64", 3, 30) + \
        build.register(OBIS_CLOCK, b"\x09\x0c" + DATETIME)
    status, result, _ = _decode(build.notification(body))
    assert status == DONE
    assert result["obis"] == {"1-0:1.7.0": 2021, "1-0:31.7.0": -1.0, "1-0:1.8.0": 63068772000,
                              "0-0:1.0.0": "2024-02-29T22:48:50"}
    assert result["units"] == {"1-0:1.7.0": "W", "1-0:31.7.0": "A", "1-0:1.8.0": "Wh"}
    assert "flags" not in result


def test_integer_types_of_every_width_keep_their_sign():
    values = ((b"\x0f\x80", -128), (b"\x11\x80", 128), (b"\x10\x80\x00", -32768),
              (b"\x12\x80\x00", 32768), (b"\x05\xff\xff\xff\xfe", -2), (b"\x06\xff\xff\xff\xfe",
              4294967294), (b"\x14\xff\xff\xff\xff\xff\xff\xff\xff", -1),
              (b"\x15\x00\x00\x00\x01\x00\x00\x00\x00", 4294967296))
    for encoded, want in values:
        body = b"\x02\x01" + build.register(OBIS_P, encoded, 0, 27)
        status, result, _ = _decode(build.notification(body))
        assert status == DONE
        assert result["obis"]["1-0:1.7.0"] == want, encoded


def test_header_date_time_encodings():
    body = b"\x02\x01" + build.register(OBIS_P, b"\x12\x00\x05", 0, 27)
    for header in (b"\x0c" + DATETIME, b"\x09\x0c" + DATETIME):
        status, result, _ = _decode(build.notification(body, datetime=header))
        assert result["notification_datetime"] == "2024-02-29T22:48:50", header
    status, result, _ = _decode(build.notification(body, datetime=b"\x00"))
    assert "notification_datetime" not in result
    unspecified = b"\x0c\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x00\xff"
    status, result, _ = _decode(build.notification(body, datetime=unspecified))
    assert status == DONE and "notification_datetime" not in result


def test_unknown_positional_list_is_reported_raw_and_flagged():
    body = b"\x02\x03\x12\x01\x00\x09\x03abc\x02\x02\x11\x01\x11\x02"
    status, result, _ = _decode(build.notification(body))
    assert status == DONE
    assert result["obis"] == {}
    assert result["raw"] == {"item1": 256, "item2": "abc", "item3": "020211011102"}
    assert "unknown_list" in result["flags"] and "nested_values" in result["flags"]


def test_values_without_scale_get_no_unit():
    # A flat OBIS/value list of an unknown vendor: values as sent, flagged, no invented unit.
    body = b"\x02\x04\x09\x06" + OBIS_P + b"\x06\x00\x00\x01\x00\x09\x06" + OBIS_I1 + \
        b"\x12\x01\x2c"
    status, result, _ = _decode(build.notification(body))
    assert result["obis"] == {"1-0:1.7.0": 256, "1-0:31.7.0": 300}
    assert result["units"] == {}
    assert result["flags"] == ["unscaled"]


def test_block_transfer_in_any_block_size():
    body = b"\x01\x02" + build.register(OBIS_P, b"\x06\x00\x00\x01\x00", 0, 27) + \
        build.register(OBIS_E, b"\x06\x00\x01\x00\x00", 0, 30)
    apdu = build.notification(body)
    for size in (1, 5, 16, len(apdu)):
        decoder = DlmsDecoder(on_reject=lambda r: None)
        blocks = build.gbt_blocks(apdu, size)
        for block in blocks[:-1]:
            assert _decode(block, decoder)[0] == PENDING
        status, result, _ = _decode(blocks[-1], decoder)
        assert status == DONE, size
        assert result["obis"] == {"1-0:1.7.0": 256, "1-0:1.8.0": 65536}


def test_block_transfer_larger_than_its_buffer_is_dropped():
    reasons = []
    decoder = DlmsDecoder(on_reject=reasons.append, block_size=64)
    apdu = build.notification(b"\x01\x10" + build.register(OBIS_P, b"\x06\x00\x00\x01\x00") * 16)
    statuses = [_decode(block, decoder)[0] for block in build.gbt_blocks(apdu, 40)]
    assert REJECTED in statuses and DONE not in statuses
    assert any("too large" in r for r in reasons)


def test_glo_ciphering_every_security_control():
    key = bytes(range(16))
    auth_key = bytes(range(16, 32))
    title = b"KFM\x10\x10\x00\x00\x23"
    body = b"\x02\x01" + build.register(OBIS_P, b"\x06\x00\x00\x00\x2a", 0, 27)
    apdu = build.notification(body)
    for sc, flags in ((0x20, ["encrypted"]), (0x21, ["encrypted"]),
                      (0x30, ["authenticated", "encrypted"]), (0x10, ["authenticated"])):
        frame = build.glo_cipher(apdu, key, auth_key, title, 1234 + sc, sc)
        decoder = DlmsDecoder(key, auth_key, lambda r: None)
        status, result, _ = _decode(frame, decoder)
        assert status == DONE, sc
        assert result["obis"] == {"1-0:1.7.0": 42}, sc
        assert result["flags"] == flags, sc
        assert result["system_title"] == "4b464d1010000023"


def test_glo_ciphering_failures_are_rejected_with_reasons():
    key = bytes(range(16))
    auth_key = bytes(range(16, 32))
    title = b"LGZ\x67\x72\xa9\xa1\x11"
    apdu = build.notification(b"\x02\x01" + build.register(OBIS_P, b"\x06\x00\x00\x00\x2a"))
    frame = bytearray(build.glo_cipher(apdu, key, auth_key, title, 7, 0x30))
    cases = (
        (DlmsDecoder(None, None), frame, "no key"),
        (DlmsDecoder(key, bytes(16)), frame, "tag mismatch"),
        (DlmsDecoder(bytes(16), None), build.glo_cipher(apdu, key, b"", title, 7, 0x20),
         "wrong key"),
        (DlmsDecoder(key + key, None), frame, "key length"),
        (DlmsDecoder(key, auth_key), frame[:-1], "shorter"),
    )
    for decoder, data, reason in cases:
        reasons = []
        decoder._on_reject = reasons.append
        assert _decode(data, decoder)[0] == REJECTED, reason
        assert reason in reasons[0], (reason, reasons)
    # Truncated ciphered APDUs are rejected and leave the decoder whole for the next push.
    decoder = DlmsDecoder(key, auth_key, on_reject=lambda r: None)
    for n in range(1, 16):
        assert _decode(frame[:n], decoder)[0] == REJECTED, n
        assert len(decoder.system_title) == 8, n
    status, result, _ = _decode(frame, decoder)
    assert status == DONE and result["system_title"] == title.hex(), result


def test_malformed_apdus_are_rejected_not_raised():
    good = build.notification(b"\x02\x02" + build.register(OBIS_P, b"\x06\x00\x00\x01\x00") +
                              build.register(OBIS_E, b"\x09\x03abc"))
    reasons = []
    decoder = DlmsDecoder(on_reject=reasons.append)
    for n in range(1, len(good)):
        status, _, _ = _decode(good[:n], decoder)
        assert status == REJECTED, n
    for apdu in (b"\x0f", b"\x42\x00", b"\x0f\x00\x00\x00\x00\x00\x13\x01", b"\xe0\x80",
                 b"\x0f\x00\x00\x00\x00\x00\x02\x01\x01\x85\xff", b"\xdb\x08"):
        assert _decode(apdu, decoder)[0] == REJECTED, apdu
    assert len(reasons) >= len(good) - 1


def test_deep_nesting_is_rejected():
    apdu = build.notification(b"\x02\x01" * 40 + b"\x11\x00")
    reasons = []
    assert _decode(apdu, DlmsDecoder(on_reject=reasons.append))[0] == REJECTED
    assert "deep" in reasons[0]


def test_more_values_than_the_table_holds_are_flagged_not_overflowing():
    body = b"\x01\x50" + build.register(OBIS_P, b"\x11\x01", 0, 27) * 80
    status, result, decoder = _decode(build.notification(body), DlmsDecoder(capacity=16))
    assert status == DONE
    assert decoder.push.count == 16
    assert "truncated" in result["flags"]
