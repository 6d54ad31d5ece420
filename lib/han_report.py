# A decoded push as plain data, for tools/han_decode.py and the tests (not used by the firmware's
# read loop, which maps items straight into the Reading).
#
# Result.data is {"obis": {"A-B:C.D.E": value}, "units": {...}, ...}: numbers after scaling in
# base units for binary pushes, the telegram's own value and unit for ASCII; strings as sent
# (octet-strings that are not text in hex); COSEM date-times as ISO 8601 local time. A value
# whose scale is unknown keeps its raw number and gets no unit. Values without OBIS code are
# under "raw" as "item<position>".
# Result.json() renders it with sorted keys and numbers printed from their exact decimal form,
# so CPython and MicroPython print the same bytes.
import axdr
import dlms
import dsmr
import obis


def number(mant, exp):
    """(python value, JSON text) of mant * 10**exp."""
    if exp >= 0:
        v = mant * 10**exp
        return v, str(v)
    k = -exp
    digits = str(-mant if mant < 0 else mant)
    if len(digits) <= k:
        digits = "0" * (k - len(digits) + 1) + digits
    frac = digits[-k:].rstrip("0") or "0"
    text = ("-" if mant < 0 else "") + digits[:-k] + "." + frac
    return mant / 10**k, text


def _hex(mv, off, n):
    return "".join("%02x" % mv[i] for i in range(off, off + n))


def _printable(mv, off, n):
    for i in range(off, off + n):
        if not 0x20 <= mv[i] <= 0x7E:
            return False
    return True


def cosem_datetime(mv, off):
    """ISO 8601 local time of a 12-byte COSEM date-time (Blue Book 4.1.6.1), or None.

    Fields: year (2), month, day, weekday, hour, minute, second, hundredths, deviation (2),
    clock status. Unspecified seconds (0xFF) count as 0; other unspecified fields make it None.
    """
    year = (mv[off] << 8) | mv[off + 1]
    month = mv[off + 2]
    day = mv[off + 3]
    hour = mv[off + 5]
    minute = mv[off + 6]
    second = mv[off + 7]
    if second == 0xFF:
        second = 0
    if year == 0xFFFF or not 1 <= month <= 12 or not 1 <= day <= 31 or hour > 23 or \
            minute > 59 or second > 59:
        return None
    return "%04d-%02d-%02dT%02d:%02d:%02d" % (year, month, day, hour, minute, second)


def _string(mv, off, n, tag):
    if tag == axdr.OCTET_STRING and n == 12:
        t = cosem_datetime(mv, off)
        if t is not None:
            return t
    if _printable(mv, off, n):
        return "".join(chr(mv[i]) for i in range(off, off + n))
    if tag == axdr.UTF8_STRING:
        try:
            return str(bytes(mv[off : off + n]), "utf-8")
        except UnicodeError:
            pass  # not valid UTF-8 either: fall through to hex
    return _hex(mv, off, n)


def _json_string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif c < 0x20 or c > 0x7E:
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


class Result:
    def __init__(self, kind):
        self.values = {}
        self.texts = {}  # JSON text of every number in values and raw
        self.units = {}
        self.raw = {}
        self.meta = {"format": kind}
        self.flags = []

    def _put(self, table, key, value, text=None):
        table[key] = value
        if text is not None:
            self.texts[key if table is self.values else "raw:" + key] = text
        elif key in self.texts:
            del self.texts[key]

    def to_dict(self):
        d = {"obis": self.values, "units": self.units}
        if self.raw:
            d["raw"] = self.raw
        if self.flags:
            d["flags"] = sorted(self.flags)
        for k in self.meta:
            d[k] = self.meta[k]
        return d

    def json(self):
        d = self.to_dict()
        parts = []
        for key in sorted(d):
            value = d[key]
            if isinstance(value, dict):
                prefix = "raw:" if key == "raw" else ""
                items = []
                for k in sorted(value):
                    items.append(_json_string(k) + ": " + self._json_value(prefix + k, value[k]))
                text = "{" + ", ".join(items) + "}"
            else:
                text = self._json_value(None, value)
            parts.append(_json_string(key) + ": " + text)
        return "{" + ", ".join(parts) + "}"

    def _json_value(self, key, value):
        if isinstance(value, str):
            return _json_string(value)
        if isinstance(value, list):
            return "[" + ", ".join(_json_string(v) for v in value) + "]"
        if key is not None and key in self.texts:
            return self.texts[key]
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


def dlms_result(push, meter=None):
    """Result of a push decoded by dlms.DlmsDecoder (meter: han_meter.HanMeter or None)."""
    res = Result("dlms")
    mv = push.mv
    for i in range(push.count):
        tag = push.tag[i]
        off = push.off[i]
        size = push.size[i]
        unit = push.unit[i]
        text = None
        if tag == axdr.STRUCTURE or tag == axdr.ARRAY:
            value = _hex(mv, off, size)
        elif axdr.is_string(tag) or tag == axdr.BIT_STRING:
            value = _string(mv, off, size, tag) if tag != axdr.BIT_STRING else _hex(mv, off, size)
        elif tag == axdr.DATE_TIME:
            value = cosem_datetime(mv, off) or _hex(mv, off, size)
        elif tag == axdr.DATE or tag == axdr.TIME:
            value = _hex(mv, off, size)
        elif tag == axdr.FLOAT32 or tag == axdr.FLOAT64:
            reader = axdr.Reader(mv)
            reader.tag = tag
            reader.off = off
            value = reader.float_value()
            text = ("%.7g" if tag == axdr.FLOAT32 else "%.15g") % value
        else:
            mant, exp = push.num[i], 0
            if unit:
                exp = push.scaler[i]
                if meter is not None:
                    mant, exp = meter.scale(unit, mant, exp)
            value, text = number(mant, exp)
        if push.obis[i] == dlms.NO_OBIS:
            if i == push.version:
                res.meta["list_version"] = value
            else:
                res._put(res.raw, "item%d" % push.position[i], value, text)
            continue
        key = push.obis_text(i)
        res._put(res.values, key, value, text)
        if unit:
            res.units[key] = obis.unit_name(unit)
        elif key in res.units:
            del res.units[key]
    if push.time_off >= 0:
        t = cosem_datetime(mv, push.time_off)
        if t is not None:
            res.meta["notification_datetime"] = t
    if push.has_title:
        res.meta["system_title"] = _hex(push.system_title, 0, 8)
    for bit in range(len(dlms.FLAG_NAMES)):
        if push.flags & (1 << bit):
            res.flags.append(dlms.FLAG_NAMES[bit])
    return res


def dsmr_result(buf, start, end, no_crc=False):
    """Result of the ASCII telegram buf[start:end]: values and units as the telegram has them."""
    res = Result("dsmr")
    ident_end = dsmr.identification_end(buf, start, end)
    res.meta["identification"] = "".join(chr(buf[i]) for i in range(start + 1, ident_end))
    state = [None]  # key of the last data line, for continuation lines

    def text(a, b):
        return "".join(chr(buf[i]) for i in range(a, b))

    def on_line(line):
        if line.continuation:
            key = state[0]
            if key is None:
                return
            previous = res.values[key]
            values = previous if isinstance(previous, list) else [previous]
        else:
            key = text(line.key_start, line.key_end)
            state[0] = key
            values = []
            if key in res.units:
                del res.units[key]
        if not line.continuation and line.groups == 1:
            if line.numeric:
                value, jtext = number(line.mant, line.exp)
                res._put(res.values, key, value, jtext)
                res.units[key] = text(line.unit_start, line.unit_end)
            else:
                res._put(res.values, key, text(line.value_start, line.line_end - 1))
            return
        # Several groups: the list of group texts as sent.
        q = line.groups_start
        while q < line.line_end:
            r = buf.find(b")", q, line.line_end)
            values.append(text(q + 1, r))
            q = r + 1
        res._put(res.values, key, values)

    bad = dsmr.parse_telegram(buf, start, end, dsmr.DsmrLine(), on_line)
    if bad:
        res.flags.append("malformed_lines")
        res.meta["malformed_lines"] = bad
    if no_crc:
        res.flags.append("no_crc")
    return res
