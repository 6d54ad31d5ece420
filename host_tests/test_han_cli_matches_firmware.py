"""CPython-only: for every push of the HAN corpus, what tools/han_decode.py shows
(lib/han/han_stream.py and lib/han/han_report.py) agrees with what the firmware's HanSource
(lib/han/han_source.py) puts into its Reading from the same bytes and settings.

The CLI shows every value by its OBIS code as decoded; the Reading holds the ones the firmware
publishes, mapped by the firmware's rules (IEC 62056-6-1 value groups C, D, E). The test maps the
CLI's values by those rules, written out here independently, and compares field by field, both
ways: a value in one and not the other is a divergence too. Representation differences the CLI
documents are converted first: DSMR values in the telegram's unit (kW, kWh) and DSMR ids and
times as the telegram has them."""

import json
import re
from decimal import ROUND_FLOOR, Decimal

import han_build as build
import han_corpus_check as check
import pytest
import support
from han_meter import HanMeter
from han_source import HanSource
from han_stream import HanStreamDecoder
from reading import Reading

# DSMR unit spellings (case-insensitive, DSMR 5.0.2 P1 companion standard) -> base unit and
# power of ten; other units (m3, s, GJ) are not electrical and the firmware skips them.
_DSMR_UNITS = {"w": ("W", 0), "kw": ("W", 3), "wh": ("Wh", 0), "kwh": ("Wh", 3),
               "var": ("var", 0), "kvar": ("var", 3), "varh": ("varh", 0),
               "kvarh": ("varh", 3), "va": ("VA", 0), "kva": ("VA", 3), "vah": ("VAh", 0),
               "kvah": ("VAh", 3), "v": ("V", 0), "a": ("A", 0), "hz": ("Hz", 0)}
_COUNT = ""  # han_report.unit_name(255), the unit of a power factor
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")


class _Uart:
    """any()/readinto() over the bytes, 64 at a time, as the firmware reads its UART."""

    def __init__(self, data):
        self.data = bytes(data)

    def any(self):
        return len(self.data)

    def readinto(self, buf):
        n = min(len(buf), 64, len(self.data))
        buf[:n] = self.data[:n]
        self.data = self.data[n:]
        return n or None


def _code(key):
    """(A, B, C, D, E) of "A-B:C.D.E" or of DSMR's short "C.D.E" (A and B then 255)."""
    if "-" not in key:
        c, d, e = key.split(".")
        return 255, 255, int(c), int(d), int(e)
    a, rest = key.split("-", 1)
    b, rest = rest.split(":", 1)
    c, d, e = rest.split(".")
    return int(a), int(b), int(c), int(d), int(e)


def _id_field(a, b, c, d, e):
    # Which OBIS codes are the meter id (1) and model (2): IEC 62056-6-1 0-0:96.1.0 and 96.1.1,
    # the vendor lists (Aidon/Kaifa 96.1.7, Kamstrup 1-1:96.1.1 and 1-1:0.0.5).
    if a == 0 and b != 0:
        return 0
    if c == 96 and d == 1:
        if e == 0:
            return 1 if a == 0 else 0
        if e == 7:
            return 2
        if e == 1:
            return 2 if a == 1 else 1
    if a == 1 and c == 0 and d == 0 and e == 5:
        return 1
    return 0


def _dsmr_id(text):
    # DSMR ids are sent as hex of ASCII ("4B38..." is "K8..."); anything else as sent.
    if len(text) < 2 or len(text) % 2:
        return text
    try:
        chars = [int(text[k : k + 2], 16) for k in range(0, len(text), 2)]
    except ValueError:
        return text
    if not all(0x20 <= c <= 0x7E for c in chars):
        return text
    return "".join(chr(c) for c in chars)


def _dsmr_time(text):
    # "YYMMDDhhmmssX" (X: W winter, S summer) -> ISO 8601 local time.
    if len(text) != 13 or not text[:12].isdigit():
        return None
    return "20%s-%s-%sT%s:%s:%s" % (text[0:2], text[2:4], text[4:6], text[6:8], text[8:10],
                                    text[10:12])


def _number(value):
    """The Reading's form of an exact decimal: an int when integral as sent, else a float."""
    return value if isinstance(value, int) else float(value)


def _fields(push):
    """{field: value} that one decoded push (the CLI's JSON, decimals exact) sets in the
    Reading: "import_wh", "L2.voltage", "meter_id", ..."""
    out = {}
    dsmr = push["format"] == "dsmr"
    parts = {}  # (phase, q) -> value; q 1 P+, 2 P-, 3 Q+, 4 Q-
    tariffs = [0, 0]
    totals = set()
    for key, value in push["obis"].items():
        a, b, c, d, e = _code(key)
        unit = push["units"].get(key)
        if dsmr and unit is not None:
            base = _DSMR_UNITS.get(unit.lower())
            if base is None:
                unit = None  # not electrical: the firmware reads it as text (and skips it)
            else:
                unit = base[0]
                value = value * 10 ** base[1]
        if unit is None:
            if dsmr and isinstance(value, list):
                continue
            if isinstance(value, str) and a == 0 and c == 1 and d == 0 and e == 0:
                # The meter's clock: a COSEM date-time (the CLI shows it as ISO 8601; anything
                # else, as text or hex) or DSMR's "YYMMDDhhmmssX" (not e.g. the Danish NES
                # meters' "20240111 09:35:00", which the CLI shows as sent).
                value = _dsmr_time(value) if dsmr else value if _ISO.match(value) else None
                if value is not None:
                    out["meter_time"] = value
                continue
            field = _id_field(a, b, c, d, e)
            if field and isinstance(value, str) and value:
                out["meter_id" if field == 1 else "meter_model"] = \
                    _dsmr_id(value) if dsmr else value
            continue
        if a != 1 and a != 255:
            continue
        if d == 8:
            if unit not in ("Wh", "varh"):
                continue
            wh = int((Decimal(value) + Decimal("0.5")).to_integral_value(ROUND_FLOOR))
            if e == 0 and c <= 4:
                out[("import_wh", "export_wh", "reactive_import_varh",
                     "reactive_export_varh")[min(c, 4) - 1]] = wh
                totals.add(c)
            elif c in (1, 2) and 1 <= e <= 9:
                tariffs[c - 1] += wh
            elif e == 0 and 21 <= c <= 62 and c % 20 in (1, 2):
                out["L%d.%s" % ((c - 1) // 20, "import_wh" if c % 20 == 1 else "export_wh")] = wh
            continue
        if d != 7 or e != 0:
            continue
        v = _number(value)
        if c <= 4:
            parts[(0, c)] = v
            if c == 1:
                out["import_power"] = v
            elif c == 2:
                out["export_power"] = v
        elif c == 14:
            out["frequency"] = v
        elif 21 <= c <= 73:
            phase, q = (c - 1) // 20, c % 20
            if 1 <= q <= 4:
                parts[(phase, q)] = v
            elif q == 11:
                out["L%d.current" % phase] = v
            elif q == 12:
                out["L%d.voltage" % phase] = v
            elif q == 13 and unit == _COUNT:
                out["L%d.power_factor" % phase] = v
    for phase in range(4):
        prefix = "L%d." % phase if phase else ""
        for name, plus, minus in (("power", 1, 2), ("reactive_power", 3, 4)):
            if (phase, plus) in parts or (phase, minus) in parts:
                out[prefix + name] = parts.get((phase, plus), 0) - parts.get((phase, minus), 0)
    if tariffs[0] and 1 not in totals:
        out["import_wh"] = tariffs[0]
    if tariffs[1] and 2 not in totals:
        out["export_wh"] = tariffs[1]
    if not dsmr and "meter_time" not in out and "notification_datetime" in push:
        out["meter_time"] = push["notification_datetime"]
    return out


def _reading_fields(reading):
    out = {}
    for name in ("meter_id", "meter_model", "meter_time", "power", "import_power",
                 "export_power", "reactive_power", "import_wh", "export_wh",
                 "reactive_import_varh", "reactive_export_varh", "frequency"):
        if getattr(reading, name) is not None:
            out[name] = getattr(reading, name)
    for channel in reading.channels:
        for name in ("voltage", "current", "power", "reactive_power", "power_factor",
                     "import_wh", "export_wh"):
            if getattr(channel, name) is not None:
                out["%s.%s" % (channel.name, name)] = getattr(channel, name)
    return out


def _compare(data, settings):
    """(what the CLI's values give, what the firmware's Reading holds) after the bytes."""
    pushes = []
    decoder = HanStreamDecoder(lambda line: pushes.append(json.loads(line, parse_float=Decimal)),
                               None, HanMeter(settings))
    decoder.feed(data)
    decoder.end_of_input()
    expected = {}
    for push in pushes:  # a push updates what it carries; another meter's id clears the rest
        fields = _fields(push)
        if None is not expected.get("meter_id") != fields.get("meter_id", expected["meter_id"]):
            expected = {}
        expected.update(fields)
    # a grid total the meter never sent is the sum over the phases, when each has the value
    # (the source owns the grid's facts: lib/core/reading.py)
    named = {name.split(".")[0] for name in expected if name[0] == "L" and "." in name}
    phases = ["L1", "L2", "L3"] if named - {"L1"} else sorted(named)
    for name in ("power", "import_wh", "export_wh"):
        values = [expected.get(phase + "." + name) for phase in phases]
        if name not in expected and phases and None not in values:
            expected[name] = sum(values)

    reading = Reading("han")
    uart = _Uart(data)
    source = HanSource(uart, settings, reading)
    while uart.any():
        source.poll()
    return pushes, expected, _reading_fields(reading)


def _firmware_entries():
    # Bare APDUs (other readers' logs) never reach the firmware: it reads the serial line.
    return [e for e in support.han_corpus() if e.get("framing") != "apdu-only"]


@pytest.mark.parametrize("entry", _firmware_entries(), ids=lambda e: e["id"])
def test_cli_values_are_what_the_firmware_puts_in_its_reading(entry):
    pushes, expected, reading = _compare(check.entry_bytes(entry), check.entry_settings(entry))
    assert expected == reading


def test_the_corpus_gives_the_comparison_something_to_compare():
    compared = set()
    for entry in _firmware_entries():
        pushes, expected, reading = _compare(check.entry_bytes(entry), check.entry_settings(entry))
        compared.update(name.split(".")[-1] for name in reading)
    for name in ("meter_id", "meter_model", "meter_time", "power", "import_wh", "export_wh",
                 "voltage", "current", "frequency", "reactive_import_varh"):
        assert name in compared, name


def test_float_registers_reach_the_reading_as_the_cli_shows_them():
    # float32/float64 registers with a scaler and unit (A-XDR tags 23/24): the CLI shows them
    # scaled (lib/han/han_report.py); the firmware's Reading should hold the same values.
    def register(code, value, scaler, unit):
        return build.register(bytes(code) + b"\xff", value, scaler=scaler, unit=unit)

    import struct

    data = build.hdlc(build.notification(b"\x02\x02" + b"".join((
        register((1, 0, 1, 7, 0), b"\x17" + struct.pack(">f", 1234.5), -1, 27),
        register((1, 0, 32, 7, 0), b"\x18" + struct.pack(">d", 230.1), 0, 35)))))
    pushes, expected, reading = _compare(data, {})
    assert expected == {"import_power": 123.45, "power": 123.45, "L1.voltage": 230.1}
    assert reading == expected


def _push(*registers):
    power = build.register(b"\x01\x00\x01\x07\x00\xff", b"\x06\x00\x00\x00\x05", scaler=0,
                           unit=27)
    body = b"".join(build.register(bytes(code) + b"\xff", value) for code, value in registers)
    return build.hdlc(build.notification(bytes((0x02, len(registers) + 1)) + body + power))


_DATETIME = b"\x09\x0c\x07\xe8\x0a\x01\x02\x13\x00\x0a\xff\x80\x00\x00"


@pytest.mark.parametrize("data", [
    _push(((0, 1, 1, 0, 0), _DATETIME)),  # the clock under another channel B
    _push(((0, 0, 1, 0, 0), b"\x0a\x0c2024-01-01 1")),  # a clock as text: not a date-time
    _push(((0, 0, 1, 0, 0), b"\x09\x0c" + b"\xff" * 12)),  # a date-time with nothing set
    _push(((0, 0, 96, 1, 0), b"\x09\x04\x80\x01AB")),  # a binary id: hex in both
    _push(((0, 0, 96, 1, 7), b"\x0a\x046534"), ((1, 1, 96, 1, 1), b"\x09\x02XY")),
    build.telegram("XMX5LGBBFG1012345678", [  # tariffs without a total, per-phase export
        "0-0:1.0.0(101209113020W)", "0-0:96.1.1(4B384547303034303436333935353037)",
        "1-0:1.8.1(123456.789*kWh)", "1-0:1.8.2(000001.001*kWh)", "1-0:2.8.1(000000.500*kWh)",
        "1-0:1.7.0(01.193*kW)", "1-0:2.7.0(00.000*kW)", "1-0:32.7.0(220.1*V)",
        "1-0:31.7.0(001*A)", "0-1:24.2.1(101209112500W)(12785.123*m3)", "1-0:21.7.0(00.111*kW)",
        "1-0:22.7.0(00.200*kW)", "14.7.0(50.01*Hz)", "1-0:3.8.0(10.5*kvarh)"]),
    build.telegram("ISK5 phases", [  # per-phase power and energy, no totals
        "1-0:21.7.0(00.111*kW)", "1-0:22.7.0(00.000*kW)", "1-0:41.7.0(00.000*kW)",
        "1-0:42.7.0(00.200*kW)", "1-0:61.7.0(00.300*kW)", "1-0:62.7.0(00.000*kW)",
        "1-0:21.8.0(000001.001*kWh)", "1-0:41.8.0(000002.000*kWh)",
        "1-0:61.8.0(000003.000*kWh)"]),
], ids=["clock-channel-1", "clock-as-text", "clock-unset", "binary-id", "model-codes",
        "dsmr-tariffs", "dsmr-phases-only"])
def test_pushes_beyond_the_corpus_agree(data):
    pushes, expected, reading = _compare(data, {})
    assert len(pushes) == 1 and "power" in reading
    assert expected == reading


def test_an_id_with_control_characters_is_hex_in_both():
    pushes, expected, reading = _compare(_push(((0, 0, 96, 1, 0), b"\x09\x04AB\x01C")), {})
    assert expected["meter_id"] == "41420143"
    assert reading == expected
