# DSMR / IEC 62056-21 mode D telegram parsing (DSMR 5.0.2 P1 companion standard, chapter 6):
#   /XXXn<identification>        first line
#   (blank line)
#   A-B:C.D.E(value*unit)(...)    one data object per line, CR LF line ends
#   !CRC                          end line (the framer has checked the CRC already)
# Each data line is parsed into the reusable DsmrLine record and handed to a callback; malformed
# lines are counted and skipped, never fatal. Values keep the telegram's text: the callback gets
# the spans, and for a single "number*unit" group the decimal mantissa/exponent and the unit.
from micropython import const

import obis

_LPAREN = const(0x28)
_RPAREN = const(0x29)
_STAR = const(0x2A)

# Unit spellings (compared case-insensitively) -> (DLMS unit code, power of ten to base unit).
_UNITS = (
    (b"w", obis.UNIT_W, 0), (b"kw", obis.UNIT_W, 3), (b"wh", obis.UNIT_WH, 0),
    (b"kwh", obis.UNIT_WH, 3), (b"var", obis.UNIT_VAR, 0), (b"kvar", obis.UNIT_VAR, 3),
    (b"varh", obis.UNIT_VARH, 0), (b"kvarh", obis.UNIT_VARH, 3), (b"va", obis.UNIT_VA, 0),
    (b"kva", obis.UNIT_VA, 3), (b"vah", obis.UNIT_VAH, 0), (b"kvah", obis.UNIT_VAH, 3),
    (b"v", obis.UNIT_V, 0), (b"a", obis.UNIT_A, 0), (b"hz", obis.UNIT_HZ, 0),
)  # fmt: skip


class DsmrLine:
    def __init__(self):
        self.continuation = False  # a line of only "(...)" groups continuing the previous one
        self.a = self.b = self.c = self.d = self.e = 0  # A, B are 255 when the code omits them
        self.key_start = self.key_end = 0  # OBIS text span
        self.groups = 0  # number of "(...)" groups
        self.groups_start = 0  # first "(" of the line
        self.line_end = 0
        self.value_start = self.value_end = 0  # first group, before "*"
        self.unit_start = self.unit_end = 0  # first group, after "*" (empty span: no unit)
        self.numeric = False  # first group value is a decimal number
        self.mant = 0  # value = mant * 10^exp
        self.exp = 0
        self.unit_code = 0  # DLMS unit code of the unit (0: none or not an electrical unit)
        self.unit_exp = 0  # power of ten from the telegram's unit to the base unit (kW -> 3)


def _digits(buf, i, end, limit):
    # Decimal number at buf[i:]: returns (value, next index); next == i when no digit.
    v = 0
    j = i
    while j < end and 0x30 <= buf[j] <= 0x39 and j - i < limit:
        v = v * 10 + buf[j] - 0x30
        j += 1
    return v, j


def _parse_obis(buf, i, end, line):
    # "A-B:C.D.E" or "C.D.E"; every group 0..255.
    v, j = _digits(buf, i, end, 3)
    if j == i:
        return False
    if j < end and buf[j] == 0x2D:  # "-"
        line.a = v
        v, k = _digits(buf, j + 1, end, 3)
        if k == j + 1 or k >= end or buf[k] != 0x3A:  # ":"
            return False
        line.b = v
        v, j = _digits(buf, k + 1, end, 3)
        if j == k + 1:
            return False
    else:
        line.a = line.b = 255
    line.c = v
    for n in range(2):
        if j >= end or buf[j] != 0x2E:  # "."
            return False
        v, k = _digits(buf, j + 1, end, 3)
        if k == j + 1:
            return False
        if n == 0:
            line.d = v
        else:
            line.e = v
        j = k
    return j == end and line.a <= 255 and line.b <= 255 and line.c <= 255 and \
        line.d <= 255 and line.e <= 255


def _parse_decimal(buf, i, end, line):
    neg = i < end and buf[i] == 0x2D
    if neg or (i < end and buf[i] == 0x2B):
        i += 1
    m, j = _digits(buf, i, end, 30)
    if j == i:
        return False
    e = 0
    if j < end and buf[j] == 0x2E:
        k = j + 1
        while k < end and 0x30 <= buf[k] <= 0x39:
            m = m * 10 + buf[k] - 0x30
            k += 1
        e = j + 1 - k
        j = k
    if j != end:
        return False
    line.mant = -m if neg else m
    line.exp = e
    return True


def _unit(buf, a, b, line):
    line.unit_code = 0
    line.unit_exp = 0
    n = b - a
    for spelling, code, exp in _UNITS:
        if len(spelling) != n:
            continue
        k = 0
        while k < n and buf[a + k] | 0x20 == spelling[k]:
            k += 1
        if k == n:
            line.unit_code = code
            line.unit_exp = exp
            return


def _parse_line(buf, ls, le, line):
    line.line_end = le
    if buf[ls] == _LPAREN:
        line.continuation = True
        p = ls
    else:
        line.continuation = False
        p = buf.find(b"(", ls, le)
        if p < 0 or not _parse_obis(buf, ls, p, line):
            return False
    line.key_start = ls
    line.key_end = p
    line.groups_start = p
    n = 0
    q = p
    while q < le:
        if buf[q] != _LPAREN:
            return False
        r = buf.find(b")", q, le)
        if r < 0:
            return False
        if n == 0:
            star = buf.find(b"*", q + 1, r)
            line.value_start = q + 1
            if star < 0:
                line.value_end = line.unit_start = line.unit_end = r
            else:
                line.value_end = star
                line.unit_start = star + 1
                line.unit_end = r
        n += 1
        q = r + 1
    line.groups = n
    if n == 0:
        return False
    line.numeric = n == 1 and line.unit_end > line.unit_start and \
        _parse_decimal(buf, line.value_start, line.value_end, line)
    if line.numeric:
        _unit(buf, line.unit_start, line.unit_end, line)
    return True


def parse_telegram(buf, start, end, line, on_line):
    """Call on_line(line) for each data line of the telegram buf[start:end].

    Returns the number of malformed lines skipped. The identification line is not passed on.
    """
    bad = 0
    i = buf.find(b"\n", start, end)
    if i < 0:
        return 0
    i += 1
    while i < end:
        j = buf.find(b"\n", i, end)
        if j < 0:
            j = end
        le = j
        if le > i and buf[le - 1] == 0x0D:
            le -= 1
        if le > i:
            if buf[i] == 0x21:  # "!": end line
                break
            if _parse_line(buf, i, le, line):
                on_line(line)
            else:
                bad += 1
        i = j + 1
    return bad


def identification_end(buf, start, end):
    """End of the identification line (without CR LF)."""
    j = buf.find(b"\n", start, end)
    if j < 0:
        j = end
    if j > start and buf[j - 1] == 0x0D:
        j -= 1
    return j
