# portable
# Positional DLMS lists without OBIS codes, mapped by the vendor document (Kaifa KFM_001 lists
# 1-3 in both phase counts, Netz Burgenland L&G): every position lands on its OBIS code.
import json

import han_build as build
import han_report
from dlms import DlmsDecoder
from dlms_codes import DONE

U32 = b"\x06\x00\x00\x00\x07"
U16 = b"\x12\x00\x05"
TEXT = b"\x09\x07KFM_001"
CLOCK = b"\x09\x0c\x07\xe8\x02\x1d\x04\x16\x30\x32\xff\x80\x00\x00"

KAIFA_1PHASE = ["1-1:0.2.129", "0-0:96.1.0", "0-0:96.1.7", "1-0:1.7.0", "1-0:2.7.0", "1-0:3.7.0",
                "1-0:4.7.0", "1-0:31.7.0", "1-0:32.7.0"]
KAIFA_3PHASE = ["1-1:0.2.129", "0-0:96.1.0", "0-0:96.1.7", "1-0:1.7.0", "1-0:2.7.0", "1-0:3.7.0",
                "1-0:4.7.0", "1-0:31.7.0", "1-0:51.7.0", "1-0:71.7.0", "1-0:32.7.0",
                "1-0:52.7.0", "1-0:72.7.0"]
KAIFA_LIST3 = ["0-0:1.0.0", "1-0:1.8.0", "1-0:2.8.0", "1-0:3.8.0", "1-0:4.8.0"]


def _keys(elements):
    body = b"\x02" + bytes((len(elements),)) + b"".join(elements)
    decoder = DlmsDecoder(on_reject=lambda r: None)
    apdu = build.notification(body)
    assert decoder.decode(bytearray(apdu), 0, len(apdu)) == DONE
    result = json.loads(han_report.dlms_json(decoder.push))
    return sorted(result["obis"]), result.get("raw", {}), result.get("flags", [])


def test_kaifa_lists_of_every_length_map_to_their_codes():
    for n, codes in ((9, KAIFA_1PHASE), (13, KAIFA_3PHASE), (14, KAIFA_1PHASE + KAIFA_LIST3),
                     (18, KAIFA_3PHASE + KAIFA_LIST3)):
        elements = [TEXT, TEXT, TEXT] + [U32] * (len(codes) - 3)
        if n > 13:
            elements[-5] = CLOCK
        keys, raw, _ = _keys(elements)
        assert keys == sorted(codes), n
        assert raw == {}, n
    keys, raw, _ = _keys([U32])
    assert keys == ["1-0:1.7.0"] and raw == {}  # list 1 inside a structure


def test_kaifa_list_1_is_active_power_alone():
    body = U32  # not a structure: a lone value
    decoder = DlmsDecoder(on_reject=lambda r: None)
    apdu = build.notification(body)
    assert decoder.decode(bytearray(apdu), 0, len(apdu)) == DONE
    result = json.loads(han_report.dlms_json(decoder.push))
    assert result["obis"] == {"1-0:1.7.0": 7} and result["units"] == {"1-0:1.7.0": "W"}


def test_other_lengths_and_lists_without_kfm_stay_unknown():
    for elements in ([TEXT] + [U32] * 9, [U32] * 9):
        keys, raw, flags = _keys(elements)
        assert keys == [] and "unknown_list" in flags and len(raw) == len(elements)


def test_burgenland_list_maps_by_its_types():
    elements = [U16] * 6 + [U32] * 4 + [U16] * 3 + [b"\x09\x04\x01\x02\x03\x04"]
    keys, raw, _ = _keys(elements)
    assert keys == sorted(["1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0", "1-0:31.7.0", "1-0:51.7.0",
                           "1-0:71.7.0", "1-0:1.7.0", "1-0:2.7.0", "1-0:1.8.0", "1-0:2.8.0",
                           "0-0:96.1.0"])
    assert sorted(raw) == ["item11", "item12", "item13"]
