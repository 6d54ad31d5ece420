# portable
# DSMR / IEC 62056-21 mode D telegrams: values and units as sent, malformed lines skipped,
# telegrams without CRC flagged, bad CRCs rejected (CPython and MicroPython).
import json

import han_build as build
from han_stream import HanStreamDecoder


def _decode(data):
    results = []
    rejects = []
    decoder = HanStreamDecoder(lambda line: results.append(json.loads(line)), rejects.append)
    decoder.feed(data)
    decoder.end_of_input()
    return results, rejects


def test_values_units_and_text_exactly_as_the_telegram_states():
    lines = [
        "0-0:1.0.0(240108164940W)",
        "1-0:1.8.0(00010117.368*kWh)",
        "1-0:3.8.0(00001759.974*kVArh)",
        "1-0:3.7.0(0001.279*kvar)",
        "1-0:31.7.0(007*A)",
        "1-0:32.7.0(221.2*V)",
        "1-0:14.7.0(50.00*Hz)",
        "1-0:13.7.0(0.998)",
        "0-0:96.13.0()",
        "0-1:24.2.1(170102161005W)(00000.107*m3)",
        "1-0:2.7.0(-0000.010*kW)",
    ]
    results, rejects = _decode(build.telegram("ADN9 6534", lines))
    assert rejects == []
    r = results[0]
    assert r["identification"] == "ADN9 6534"
    assert r["obis"] == {
        "0-0:1.0.0": "240108164940W", "1-0:1.8.0": 10117.368, "1-0:3.8.0": 1759.974,
        "1-0:3.7.0": 1.279, "1-0:31.7.0": 7, "1-0:32.7.0": 221.2, "1-0:14.7.0": 50.0,
        "1-0:13.7.0": "0.998", "0-0:96.13.0": "",
        "0-1:24.2.1": ["170102161005W", "00000.107*m3"], "1-0:2.7.0": -0.01,
    }
    assert r["units"] == {"1-0:1.8.0": "kWh", "1-0:3.8.0": "kVArh", "1-0:3.7.0": "kvar",
                          "1-0:31.7.0": "A", "1-0:32.7.0": "V", "1-0:14.7.0": "Hz",
                          "1-0:2.7.0": "kW"}
    assert "flags" not in r


def test_malformed_lines_are_skipped_and_counted():
    lines = ["1-0:1.7.0(0000.714*kW)", "1-0:4:24.7.0(0000.000*kVAr)", "garbage line",
             "1-0:21.7.0(0000.247*kW", "1-0:999.7.0(1*W)", "1-0:44.7.0(0000.182*kVAr)"]
    results, _ = _decode(build.telegram("KAM5", lines))
    r = results[0]
    assert r["obis"] == {"1-0:1.7.0": 0.714, "1-0:44.7.0": 0.182}
    assert r["malformed_lines"] == 4
    assert r["flags"] == ["malformed_lines"]


def test_telegram_without_crc_is_decoded_and_flagged_bad_crc_rejected():
    lines = ["1-0:1.7.0(02.356*kW)"]
    results, rejects = _decode(build.telegram("ISK9\\2M551T-200", lines, crc=False))
    assert results[0]["flags"] == ["no_crc"]
    assert results[0]["obis"] == {"1-0:1.7.0": 2.356}
    bad = bytearray(build.telegram("KFM5", lines))
    bad[10] ^= 0x01  # one bit flipped in transit
    results, rejects = _decode(bytes(bad))
    assert results == []
    assert any("CRC" in r for r in rejects)


def test_continuation_lines_and_short_obis_codes():
    lines = ["0-1:24.3.0(121030140000)(00)(60)(1)(0-1:24.2.1)(m3)", "(00001.001)",
             "1.8.0(12.5*kWh)"]
    results, _ = _decode(build.telegram("XMX5", lines))
    r = results[0]
    assert r["obis"]["0-1:24.3.0"][-1] == "00001.001"
    assert r["obis"]["1.8.0"] == 12.5


def test_seven_bit_parity_garbage_is_not_a_telegram():
    data = bytearray(build.telegram("ISK5", ["1-0:1.7.0(00.244*kW)"]))
    for i in range(0, len(data), 3):
        data[i] |= 0x80  # 7E1 read as 8N1: the parity bit lands in bit 7
    results, rejects = _decode(bytes(data))
    assert results == []
