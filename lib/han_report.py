# A decoded push as one line of JSON, for tools/han_decode.py and the tests (the firmware's read
# loop maps items straight into the Reading instead).
#
# {"obis": {"A-B:C.D.E": value}, "units": {...}, ...}: binary pushes in base units after
# scaling; ASCII telegrams with the telegram's own value and unit; strings as sent (octet-strings
# that are not text as hex); COSEM date-times as ISO 8601 local time. A number whose scale is
# unknown keeps its raw value and gets no unit. Values without an OBIS code go under "raw" as
# "item<position>". Keys are sorted and numbers printed from their exact decimal form, so CPython
# and MicroPython print the same bytes.
from binascii import hexlify

import dlms
import obis
from han_meter import number_text


_unit_json: dict = {}  # unit code -> its name as JSON text, for the codes met so far


def _hex(mv, off, n):
    return '"' + hexlify(bytes(mv[off : off + n])).decode() + '"'


def _text(mv, off, n):
    """JSON string of mv[off:off+n] as ASCII (other bytes escaped)."""
    if _printable(mv, off, n, True):
        return '"%s"' % str(memoryview(mv)[off : off + n], "ascii")  # no copy in between
    out = ['"']
    for i in range(off, off + n):
        c = mv[i]
        if c == 0x22 or c == 0x5C:
            out.append("\\" + chr(c))
        elif 0x20 <= c <= 0x7E:
            out.append(chr(c))
        else:
            out.append("\\u%04x" % c)
    out.append('"')
    return "".join(out)


def _string(s):
    return _text(s.encode(), 0, len(s))


def _printable(mv, off, n, plain=False):
    """True if mv[off:off+n] is printable ASCII (plain: and holds no quote or backslash)."""
    for i in range(off, off + n):
        c = mv[i]
        if not 0x20 <= c <= 0x7E or plain and (c == 0x22 or c == 0x5C):
            return False
    return True


def _write_object(table, write):
    # Keys are ours (OBIS text, "item<N>", fixed names): plain ASCII, nothing to escape. Values
    # are JSON texts or tables, written piece by piece: no line-sized string is ever built (on a
    # small heap a contiguous 1-2 KB block is what fragmentation denies first).
    write("{")
    sep = ""
    for k in sorted(table):
        write(sep)
        write('"')
        write(k)
        write('": ')
        v = table[k]
        if isinstance(v, dict):
            _write_object(v, write)
        else:
            write(v)
        sep = ", "
    write("}")


def _joined(writer, *args):
    pieces = []
    writer(*args, pieces.append)
    return "".join(pieces)


def _item(push, i, meter):
    """JSON text of item i's value and its unit code (0: no unit)."""
    mv = push.mv
    tag = push.tag[i]
    off = push.off[i]
    size = push.size[i]
    if tag == 9 or tag == 10 or tag == 12 or tag == 25:  # strings and date-time
        if size == 12 and (tag == 9 or tag == 25):
            t = dlms.datetime_text(mv, off)
            if t is not None:
                return '"' + t + '"', 0
        if tag != 25 and _printable(mv, off, size):
            return _text(mv, off, size), 0
        return _hex(mv, off, size), 0
    if tag == 23 or tag == 24:
        import struct

        v = struct.unpack_from(">f" if tag == 23 else ">d", mv, off)[0]
        if v != v or v in (float("inf"), float("-inf")):
            return "null", 0
        return ("%.7g" if tag == 23 else "%.15g") % v, push.unit[i]
    if tag <= 2 or tag == 4 or tag == 26 or tag == 27:  # containers, bit-string, date, time
        return _hex(mv, off, size), 0
    unit = push.unit[i]
    mant = push.num[i]
    exp = 0
    if unit:
        exp = push.scaler[i]
        if meter is not None:
            mant, exp = meter.scale(unit, mant, exp)
    return number_text(mant, exp), unit


def dlms_json(push, meter=None):
    """JSON line of a push decoded by dlms.DlmsDecoder (meter: han_meter.HanMeter or None)."""
    return _joined(write_dlms, push, meter)


def write_dlms(push, meter, write):
    """dlms_json(push, meter), handed to write(text) in pieces."""
    values = {}
    units = {}
    raw = {}
    top = {"format": '"dlms"'}
    for i in range(push.count):
        text, unit = _item(push, i, meter)
        if push.obis[i] == dlms.NO_OBIS:
            if i == push.version:
                top["list_version"] = text
            else:
                raw["item%d" % push.position[i]] = text
            continue
        key = push.obis_text(i)
        values[key] = text
        if unit:
            name = _unit_json.get(unit)
            if name is None:
                name = _unit_json[unit] = '"' + obis.unit_name(unit) + '"'  # nothing to escape
            units[key] = name
        elif key in units:
            del units[key]
    if push.time_off >= 0:
        t = dlms.datetime_text(push.mv, push.time_off)
        if t is not None:
            top["notification_datetime"] = '"' + t + '"'
    if push.has_title:
        top["system_title"] = _hex(push.system_title, 0, 8)
    flags = []
    names = dlms.FLAG_NAMES.split()
    for bit in range(len(names)):
        if push.flags & (1 << bit):
            flags.append(names[bit])
    _finish(top, values, units, raw, flags, write)


def _finish(top, values, units, raw, flags, write):
    top["obis"] = values
    top["units"] = units
    if raw:
        top["raw"] = raw
    if flags:
        flags.sort()
        top["flags"] = "[" + ", ".join('"' + f + '"' for f in flags) + "]"
    _write_object(top, write)


def dsmr_json(parser, buf, start, end, no_crc=False):
    """JSON line of the ASCII telegram buf[start:end] (values and units as the telegram has
    them); parser: a dsmr.DsmrParser to reuse."""
    return _joined(write_dsmr, parser, buf, start, end, no_crc)


def write_dsmr(parser, buf, start, end, no_crc, write):
    """dsmr_json(parser, buf, start, end, no_crc), handed to write(text) in pieces."""
    values = {}
    units = {}
    last = [None, None]  # key and group texts of the last data line, for continuation lines

    def on_line(p):
        if p.continuation:
            if last[0] is None:
                return
            key = last[0]
            groups = last[1]
        else:
            key = str(memoryview(buf)[p.line_start : p.key_end], "ascii")
            groups = []
            last[0] = key
            last[1] = groups
            if key in units:
                del units[key]
            if p.groups == 1:
                if p.numeric:
                    values[key] = number_text(p.mant, p.exp)
                    units[key] = _text(buf, p.unit_start, p.unit_end - p.unit_start)
                else:
                    # No unit: the text as sent (ids, tariffs, and anything not a number).
                    values[key] = _text(buf, p.value_start, p.line_end - 1 - p.value_start)
                groups.append(values[key])
                return
        q = p.key_end
        while q < p.line_end:
            r = buf.find(b")", q, p.line_end)
            groups.append(_text(buf, q + 1, r - q - 1))
            q = r + 1
        values[key] = "[" + ", ".join(groups) + "]"

    ident = buf.find(b"\n", start, end)
    ident = end if ident < 0 else ident
    if ident > start and buf[ident - 1] == 0x0D:
        ident -= 1
    top = {"format": '"dsmr"', "identification": _text(buf, start + 1, ident - start - 1)}
    parser.parse(buf, start, end, on_line)
    flags = []
    if parser.malformed:
        flags.append("malformed_lines")
        top["malformed_lines"] = str(parser.malformed)
    if no_crc:
        flags.append("no_crc")
    _finish(top, values, units, None, flags, write)
