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

import dlms
import obis
from han_meter import number_text


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
    # names: top's keys, already in sorted order. Values are JSON texts or (writer, argument)
    # pairs that write a nested object themselves.
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
            v[0](v[1], write)
        sep = ", "
    write("}")


def _joined(writer, *args):
    pieces = []
    writer(*args, pieces.append)
    return "".join(pieces)


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


def _same_code(push, i, j):
    """Items i and j have the same OBIS code (so the same key: the text is one-to-one)."""
    a = push.obis[i]
    b = push.obis[j]
    src_a = src_b = push.mv
    if a < 0:
        src_a = obis.CODES
        a = 6 * (-2 - a)
    if b < 0:
        src_b = obis.CODES
        b = 6 * (-2 - b)
    for k in range(5):
        if src_a[a + k] != src_b[b + k]:
            return False
    return True


def _keyed_items(push, raw):
    """Items that give a key under "obis" (raw: under "raw"), in key order; of items with the
    same key only the last one (it overwrites the others)."""
    found = []
    for i in range(push.count):
        if (push.obis[i] == dlms.NO_OBIS) != raw or raw and i == push.version:
            continue
        for j in range(i + 1, push.count):
            if push.obis[j] == push.obis[i] if raw else \
                    push.obis[j] != dlms.NO_OBIS and _same_code(push, i, j):
                if not raw or push.position[j] == push.position[i] and j != push.version:
                    break
        else:
            found.append(i)
    found.sort(key=(lambda i: "item%d" % push.position[i]) if raw else push.obis_text)
    return found


def _write_values(job, write):
    push, meter, items, raw = job
    write("{")
    sep = ""
    for i in items:
        write(sep)
        write('"')
        write("item%d" % push.position[i] if raw else push.obis_text(i))
        write('": ')
        write(_item(push, i, meter)[0])
        sep = ", "
    write("}")


def _write_units(job, write):
    push, meter, items = job
    write("{")
    sep = ""
    for i in items:
        unit = _item(push, i, meter)[1]
        if unit:
            write(sep)
            write('"')
            write(push.obis_text(i))
            write('": "')
            write(obis.unit_name(unit))  # unit names: nothing to escape
            write('"')
            sep = ", "
    write("}")


def dlms_json(push, meter=None):
    """JSON line of a push decoded by dlms.DlmsDecoder (meter: han_meter.HanMeter or None)."""
    return _joined(write_dlms, push, meter)


def write_dlms(push, meter, write):
    """dlms_json(push, meter), handed to write(text) in pieces."""
    top = {"format": '"dlms"'}
    if 0 <= push.version < push.count and push.obis[push.version] == dlms.NO_OBIS:
        top["list_version"] = _item(push, push.version, meter)[0]
    items = _keyed_items(push, False)
    top["obis"] = (_write_values, (push, meter, items, False))
    top["units"] = (_write_units, (push, meter, items))
    raw = _keyed_items(push, True)
    if raw:
        top["raw"] = (_write_values, (push, meter, raw, True))
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
    _flags(top, flags)
    _write_object(_DLMS_NAMES, top, write)


def _flags(top, flags):
    if flags:
        flags.sort()
        top["flags"] = "[" + ", ".join('"' + f + '"' for f in flags) + "]"


# -- DSMR --------------------------------------------------------------------------------------

_DSMR_NAMES = ("flags", "format", "identification", "malformed_lines", "obis", "units")
_LF = 0x0A
_LPAREN = 0x28


class _Telegram:
    """One ASCII telegram being written: its data lines (start offsets, continuation lines
    included, as the parser passed them) and, per key, the line that sets its value."""

    def __init__(self, parser, buf, start, end):
        self.parser = parser
        self.buf = buf
        self.end = end
        self.lines = []
        self.write = None
        self.sep = ""
        parser.parse(buf, start, end, self._add)

    def _add(self, p):
        self.lines.append(p.line_start)

    def key_end(self, ls):
        return self.buf.find(_LPAREN, ls, self.end)

    def key(self, ls):
        return str(memoryview(self.buf)[ls : self.key_end(ls)], "ascii")

    def same_key(self, a, b):
        buf = self.buf
        n = self.key_end(a) - a
        if self.key_end(b) - b != n:
            return False
        for k in range(n):
            if buf[a + k] != buf[b + k]:
                return False
        return True

    def keyed_lines(self):
        """Indexes in self.lines of the lines whose key is not set again later, in key order
        (a later line with the same key replaces the value and the unit: json_dsmr's dict)."""
        buf = self.buf
        lines = self.lines
        found = []
        for n in range(len(lines)):
            a = lines[n]
            if buf[a] == _LPAREN:
                continue
            for m in range(n + 1, len(lines)):
                b = lines[m]
                if buf[b] != _LPAREN and self.same_key(a, b):
                    break
            else:
                found.append(n)
        found.sort(key=lambda n: self.key(lines[n]))
        return found

    def parse_line(self, ls, on_line):
        # The parser reads one line again: from the line feed before it to the one after it.
        buf = self.buf
        j = buf.find(_LF, ls, self.end)
        self.parser.parse(buf, ls - 1, self.end if j < 0 else j, on_line)

    def write_value(self, n, write):
        """The JSON value of the data line lines[n] and the continuation lines after it."""
        lines = self.lines
        self.write = write
        more = n + 1 < len(lines) and self.buf[lines[n + 1]] == _LPAREN
        many = more
        if not more:
            self.parse_line(lines[n], self._count_groups)
            many = self.sep  # groups != 1: a list even without continuation lines
        if many:
            write("[")
        self.sep = ""
        self.parse_line(lines[n], self._write_first)
        n += 1
        while n < len(lines) and self.buf[lines[n]] == _LPAREN:
            self.parse_line(lines[n], self._write_groups)
            n += 1
        if many:
            write("]")

    def _count_groups(self, p):
        self.sep = p.groups != 1

    def _write_first(self, p):
        if p.groups == 1:
            if p.numeric:
                self.write(number_text(p.mant, p.exp))
            else:
                # No unit: the text as sent (ids, tariffs, and anything not a number).
                self.write(_text(self.buf, p.value_start, p.line_end - 1 - p.value_start))
            self.sep = ", "
        else:
            self._write_groups(p)

    def _write_groups(self, p):
        buf = self.buf
        q = p.key_end
        while q < p.line_end:
            r = buf.find(b")", q, p.line_end)
            self.write(self.sep)
            self.write(_text(buf, q + 1, r - q - 1))
            self.sep = ", "
            q = r + 1

    def write_unit(self, n, write):
        self.write = write
        self.parse_line(self.lines[n], self._write_unit)

    def _write_unit(self, p):
        if p.groups == 1 and p.numeric:
            self.write(self.sep)
            self.write('"')
            self.write(self.key(p.line_start))
            self.write('": ')
            self.write(_text(self.buf, p.unit_start, p.unit_end - p.unit_start))
            self.sep = ", "


def _write_dsmr_values(job, write):
    telegram, keyed = job
    write("{")
    sep = ""
    for n in keyed:
        write(sep)
        write('"')
        write(telegram.key(telegram.lines[n]))
        write('": ')
        telegram.write_value(n, write)
        sep = ", "
    write("}")


def _write_dsmr_units(job, write):
    telegram, keyed = job
    write("{")
    telegram.sep = ""
    for n in keyed:
        telegram.write_unit(n, write)
    write("}")


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
    telegram = _Telegram(parser, buf, start, end)
    flags = []
    if parser.malformed:
        flags.append("malformed_lines")
        top["malformed_lines"] = str(parser.malformed)
    if no_crc:
        flags.append("no_crc")
    _flags(top, flags)
    keyed = telegram.keyed_lines()
    top["obis"] = (_write_dsmr_values, (telegram, keyed))
    top["units"] = (_write_dsmr_units, (telegram, keyed))
    _write_object(_DSMR_NAMES, top, write)
