# A decoded push as one line of JSON, for tools/han_decode.py and the tests (the firmware's read
# loop maps items straight into the Reading instead).
#
# {"obis": {"A-B:C.D.E": value}, "units": {...}, ...}: binary pushes in base units after
# scaling; ASCII telegrams with the telegram's own value and unit; strings as sent (octet-strings
# that are not text as hex); COSEM date-times as ISO 8601 local time. A number whose scale is
# unknown keeps its raw value and gets no unit. Values without an OBIS code go under "raw" as
# "item<position>". Keys are sorted and numbers printed from their exact decimal form, so CPython
# and MicroPython print the same bytes.
#
# Heap: the line is written piece by piece, and no table of value texts is built: only the list
# of items (DLMS) or data lines (DSMR) in key order lives while a push is written; each value's
# text is made when it is written and is garbage right after. On a 24 KB heap many small
# strings alive at once are what fragments it (a 300-byte text then finds no room).
from binascii import hexlify

from micropython import const

import dlms
import dlms_codes
import obis
from han_decimal import float_decimal, number_text


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


def _printable(mv, off, n, plain=False):
    """True if mv[off:off+n] is printable ASCII (plain: and holds no quote or backslash)."""
    for i in range(off, off + n):
        c = mv[i]
        if not 0x20 <= c <= 0x7E or plain and (c == 0x22 or c == 0x5C):
            return False
    return True


def _write_object(names, top, write):
    # names: top's keys, already in sorted order. Values are JSON texts or (items, key, value)
    # tables for _write_table.
    write("{")
    sep = ""
    for k in names:
        v = top.get(k)
        if v is None:
            continue
        write(sep)
        write('"')
        write(k)  # ours (fixed names): nothing to escape
        write('": ')
        if isinstance(v, str):
            write(v)
        else:
            _write_table(v, write)
        sep = ", "
    write("}")


def _write_table(table, write):
    """{key(item): value} of items in key order; of items with the same key the last one
    (a dict's update). value(item, write, head) writes head and the value, or nothing (then
    returns False): the value text is made only here, and is garbage right after."""
    items, key, value = table
    items.sort(key=lambda i: (key(i), i))
    write("{")
    sep = ""
    for n in range(len(items)):
        k = key(items[n])
        if n + 1 < len(items) and key(items[n + 1]) == k:
            continue
        if value(items[n], write, '%s"%s": ' % (sep, k)):  # keys: nothing to escape
            sep = ", "
    write("}")


def _joined(writer, *args):
    pieces = []
    writer(*args, pieces.append)
    return "".join(pieces)


def _flags(top, flags):
    if flags:
        flags.sort()
        top["flags"] = "[" + ", ".join('"' + f + '"' for f in flags) + "]"


# -- DLMS --------------------------------------------------------------------------------------

_DLMS_NAMES = ("flags", "format", "list_version", "notification_datetime", "obis", "raw",
               "system_title", "units")


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
    unit = push.unit[i]
    if tag == 23 or tag == 24:
        mant = float_decimal(mv, off, tag)
        if mant is None:
            return "null", 0
        mant, exp = mant
    elif tag <= 2 or tag == 4 or tag == 26 or tag == 27:  # containers, bit-string, date, time
        return _hex(mv, off, size), 0
    else:
        mant = push.num[i]
        exp = 0
    if unit:
        exp += push.scaler[i]
        if meter is not None:
            mant, exp = meter.scale(unit, mant, exp)
    return number_text(mant, exp), unit


# Unit names by enumeration value 0..57 ("" where the value has no plain-ASCII name here).
_UNITS = "|a|mo|wk|d|h|min|s|deg|degC|currency|m|m/s|m3|m3|m3/h|m3/h|m3/d|m3/d|l|kg|N|Nm|Pa|" \
    "bar|J|J/h|W|VA|var|Wh|VAh|varh|A|C|V|V/m|F|Ohm|Ohm m2/m|Wb|T|A/m|H|Hz|1/(Wh)|1/(varh)|" \
    "1/(VAh)|V2h|A2h|kg/s|S|K|1/(V2h)|1/(A2h)|1/m3|%|Ah"


def unit_name(code):
    """The DLMS unit enumeration value's name."""
    # Walk the "|"-separated table instead of splitting it: no list of 58 strings per call.
    start = 0
    for _ in range(code):
        start = _UNITS.find("|", start) + 1
        if not start:
            return ""
    end = _UNITS.find("|", start)
    return _UNITS[start:] if end < 0 else _UNITS[start:end]


def obis_text(push, i):
    """'A-B:C.D.E' of item i's OBIS code (group F is 255 in pushes and not shown)."""
    ref = push.obis[i]
    src = push.mv
    if ref < 0:
        src = obis.CODES
        ref = 6 * (-2 - ref)
    return "%d-%d:%d.%d.%d" % (src[ref], src[ref + 1], src[ref + 2], src[ref + 3],
                               src[ref + 4])


def dlms_json(push, meter=None):
    """JSON line of a push decoded by dlms.DlmsDecoder (meter: han_meter.HanMeter or None)."""
    return _joined(write_dlms, push, meter)


def write_dlms(push, meter, write):
    """dlms_json(push, meter), handed to write(text) in pieces."""

    def value(i, write, head):
        write(head)
        write(_item(push, i, meter)[0])
        return True

    def unit(i, write, head):
        code = _item(push, i, meter)[1]
        if code:
            write(head)
            write('"' + unit_name(code) + '"')  # unit names: nothing to escape
        return code

    top = {"format": '"dlms"'}
    coded = []
    raw = []
    for i in range(push.count):
        if push.obis[i] != dlms_codes.NO_OBIS:
            coded.append(i)
        elif i == push.version:
            top["list_version"] = _item(push, i, meter)[0]
        else:
            raw.append(i)
    key = lambda i: obis_text(push, i)
    top["obis"] = (coded, key, value)
    top["units"] = (coded, key, unit)
    if raw:
        top["raw"] = (raw, lambda i: "item%d" % push.position[i], value)
    if push.time_off >= 0:
        t = dlms.datetime_text(push.mv, push.time_off)
        if t is not None:
            top["notification_datetime"] = '"' + t + '"'
    if push.has_title:
        top["system_title"] = _hex(push.system_title, 0, 8)
    flags = []
    names = dlms_codes.FLAG_NAMES.split()
    for bit in range(len(names)):
        if push.flags & (1 << bit):
            flags.append(names[bit])
    _flags(top, flags)
    _write_object(_DLMS_NAMES, top, write)


# -- DSMR --------------------------------------------------------------------------------------

_DSMR_NAMES = ("flags", "format", "identification", "malformed_lines", "obis", "units")
_STEP_COLLECT = const(0)
_STEP_COUNT = const(1)
_STEP_FIRST = const(2)
_STEP_GROUPS = const(3)
_STEP_UNIT = const(4)


class _Telegram:
    """The data lines of one telegram: their start offsets (continuation lines included, as
    the parser passes them). _read(n, step) has the parser read line n again, alone, and
    hands it to the write step (_STEP_*); value() and unit() are _write_table's writers."""

    def __init__(self, parser, buf, start, end):
        self.parser = parser
        self.buf = buf
        self.end = end
        self.starts = []
        self.step = _STEP_COLLECT
        parser.parse(buf, start, end, self._line)

    def _read(self, n, step):
        # From the line feed before the line to the one after it: that line alone.
        self.step = step
        ls = self.starts[n]
        j = self.buf.find(b"\n", ls, self.end)
        self.parser.parse(self.buf, ls - 1, self.end if j < 0 else j, self._line)

    def continues(self, n):
        """True if line n is a continuation line ("(...)" groups only)."""
        return n < len(self.starts) and self.buf[self.starts[n]] == 0x28

    def key(self, n):
        ls = self.starts[n]
        return str(memoryview(self.buf)[ls : self.buf.find(b"(", ls, self.end)], "ascii")

    def value(self, n, write, head):
        # One group: its value; several groups, or continuation lines after it: a list of
        # every group's value (the first one as a lone value would be).
        self.write = write
        write(head)
        self.many = self.continues(n + 1)
        if not self.many:
            self._read(n, _STEP_COUNT)
        if self.many:
            write("[")
        self.sep = ""
        self._read(n, _STEP_FIRST)
        while self.continues(n + 1):
            n += 1
            self._read(n, _STEP_GROUPS)
        if self.many:
            write("]")
        return True

    def unit(self, n, write, head):
        self.write = write
        self.head = head
        self.found = False
        self._read(n, _STEP_UNIT)
        return self.found

    def _line(self, p):
        step = self.step
        buf = self.buf
        if step == _STEP_COLLECT:
            self.starts.append(p.line_start)
        elif step == _STEP_COUNT:
            self.many = p.groups != 1
        elif step == _STEP_UNIT:
            if p.groups == 1 and p.numeric:
                self.write(self.head)
                self.write(_text(buf, p.unit_start, p.unit_end - p.unit_start))
                self.found = True
        elif step == _STEP_FIRST and p.groups == 1:
            if p.numeric:
                self.write(number_text(p.mant, p.exp))
            else:
                # No unit: the text as sent (ids, tariffs, and anything not a number).
                self.write(_text(buf, p.value_start, p.line_end - 1 - p.value_start))
            self.sep = ", "
        else:  # every "(...)" group of the line as a JSON string, continuing the list
            q = p.key_end
            while q < p.line_end:
                r = buf.find(b")", q, p.line_end)
                self.write(self.sep)
                self.write(_text(buf, q + 1, r - q - 1))
                self.sep = ", "
                q = r + 1


def dsmr_json(parser, buf, start, end, no_crc=False):
    """JSON line of the ASCII telegram buf[start:end] (values and units as the telegram has
    them); parser: a dsmr.DsmrParser to reuse."""
    return _joined(write_dsmr, parser, buf, start, end, no_crc)


def write_dsmr(parser, buf, start, end, no_crc, write):
    """dsmr_json(parser, buf, start, end, no_crc), handed to write(text) in pieces."""
    ident = buf.find(b"\n", start, end)
    ident = end if ident < 0 else ident
    if ident > start and buf[ident - 1] == 0x0D:
        ident -= 1
    top = {"format": '"dsmr"', "identification": _text(buf, start + 1, ident - start - 1)}
    lines = _Telegram(parser, buf, start, end)
    flags = []
    if parser.malformed:
        flags.append("malformed_lines")
        top["malformed_lines"] = str(parser.malformed)
    if no_crc:
        flags.append("no_crc")
    _flags(top, flags)
    keyed = [n for n in range(len(lines.starts)) if not lines.continues(n)]
    top["obis"] = (keyed, lines.key, lines.value)
    top["units"] = (keyed, lines.key, lines.unit)
    _write_object(_DSMR_NAMES, top, write)
