# DSMR / IEC 62056-21 mode D telegrams (DSMR 5.0.2 P1 companion standard, chapter 6):
#   /XXXn<identification>        first line
#   (blank line)
#   A-B:C.D.E(value*unit)(...)    one data object per line, CR LF line ends
#   !CRC                          end line (the framer has checked the CRC already)
# DsmrParser.parse() fills its own fields for each data line and calls on_line(parser);
# malformed lines are counted and skipped, never fatal. Values keep the telegram's text: the
# callback gets spans into the buffer and, for one "number*unit" group, the decimal mantissa
# and exponent and the unit's DLMS code.
from micropython import const

# Byte values; find() takes them as ints (a bytes constant each would be an object in RAM).
_LF = const(0x0A)
_LPAREN = const(0x28)
_RPAREN = const(0x29)
_STAR = const(0x2A)

# Unit spellings (lower case) and their DLMS unit code and power of ten to the base unit, one
# bytes literal (no tuple and bytes object per spelling in RAM): per entry the spelling's
# length, the spelling, the unit code (27 W, 28 VA, 29 var, 30 Wh, 31 VAh, 32 varh, 33 A,
# 35 V, 44 Hz) and the power of ten.
_UNITS = (
    b"\x01w\x1b\x00" b"\x02kw\x1b\x03" b"\x02wh\x1e\x00" b"\x03kwh\x1e\x03"
    b"\x03var\x1d\x00" b"\x04kvar\x1d\x03" b"\x04varh\x20\x00" b"\x05kvarh\x20\x03"
    b"\x02va\x1c\x00" b"\x03kva\x1c\x03" b"\x03vah\x1f\x00" b"\x04kvah\x1f\x03"
    b"\x01v\x23\x00" b"\x01a\x21\x00" b"\x02hz\x2c\x00"
)


def _digits(buf, i, end, limit):
    # Decimal digits at buf[i:]: returns value * 256 + count (no tuple to allocate).
    v = 0
    j = i
    while j < end and 0x30 <= buf[j] <= 0x39 and j - i < limit:
        v = v * 10 + buf[j] - 0x30
        j += 1
    return v * 256 + j - i


class DsmrParser:
    def __init__(self):
        self.continuation = False  # a line of only "(...)" groups continuing the previous one
        self.obis = bytearray(5)  # A, B, C, D, E (A and B are 255 when the code omits them)
        self.key_end = 0  # the OBIS text is buf[line_start:key_end]
        self.line_start = self.line_end = 0  # line without CR LF; groups from key_end
        self.groups = 0  # number of "(...)" groups
        self.value_start = self.value_end = 0  # first group, before "*"
        self.unit_start = self.unit_end = 0  # first group, after "*" (empty: no unit)
        self.numeric = False  # a single group "number*unit"
        self.mant = self.exp = 0  # its value: mant * 10^exp
        self.unit = 0  # DLMS unit code of the unit (0: none or not an electrical unit)
        self.unit_exp = 0  # power of ten from the telegram's unit to the base unit (kW: 3)
        self.malformed = 0

    def parse(self, buf, start, end, on_line):
        """on_line(self) for each data line of the telegram buf[start:end]."""
        self.malformed = 0
        i = buf.find(_LF, start, end) + 1  # the identification line is not data
        while 0 < i < end:
            ls = i  # the line is buf[ls:le], without CR LF
            j = buf.find(_LF, i, end)
            if j < 0:
                j = end
            le = j - 1 if j > i and buf[j - 1] == 0x0D else j
            i = j + 1
            if le <= ls:
                continue
            if buf[ls] == 0x21:  # "!": end line
                return
            # Counted as malformed until it has parsed (every "continue" below skips it).
            self.malformed += 1
            self.line_start = ls
            self.line_end = le
            self.continuation = buf[ls] == _LPAREN
            p = ls if self.continuation else buf.find(_LPAREN, ls, le)
            if p < 0:
                continue
            if not self.continuation:
                # The OBIS code "A-B:C.D.E" or "C.D.E" in buf[ls:p], every group 0..255.
                o = self.obis
                q = ls
                k = 0  # groups read; 0 after a malformed one
                pattern = 0  # the separators seen, two bits each: 1 "-", 2 ":", 3 "."
                while True:
                    d = _digits(buf, q, p, 3)
                    if not d & 255 or d >> 8 > 255 or k == 5:
                        k = 0
                        break
                    o[k] = d >> 8
                    k += 1
                    q += d & 255
                    if q == p:
                        break
                    c = buf[q]
                    pattern = pattern * 4 + (1 if c == 0x2D else 2 if c == 0x3A else
                                             3 if c == 0x2E else 0)
                    if not pattern & 3:
                        k = 0
                        break
                    q += 1
                if k == 3 and pattern == 0xF:  # "C.D.E": no medium and channel given
                    o[4] = o[2]
                    o[3] = o[1]
                    o[2] = o[0]
                    o[0] = o[1] = 255
                elif k != 5 or pattern != 0x6F:  # "-", ":", ".", "."
                    continue
            self.key_end = p
            n = 0  # "(...)" groups; -1: malformed
            while p < le:
                q = buf.find(_RPAREN, p, le)
                if buf[p] != _LPAREN or q < 0:
                    n = -1
                    break
                if n == 0:
                    star = buf.find(_STAR, p + 1, q)
                    self.value_start = p + 1
                    self.value_end = q if star < 0 else star
                    self.unit_start = q if star < 0 else star + 1
                    self.unit_end = q
                n += 1
                p = q + 1
            if n < 0:
                continue
            self.groups = n
            self.numeric = False
            if n == 1 and self.unit_end > self.unit_start:
                # "number*unit": an optionally signed decimal number.
                q = self.value_start
                e = self.value_end
                neg = buf[q] == 0x2D
                if neg or buf[q] == 0x2B:
                    q += 1
                d = _digits(buf, q, e, 30)
                if d & 255:
                    m = d >> 8
                    q += d & 255
                    k = 0
                    if q < e and buf[q] == 0x2E:
                        d = _digits(buf, q + 1, e, 30)
                        k = d & 255
                        m = m * 10**k + (d >> 8)
                        q += 1 + k
                    self.mant = -m if neg else m
                    self.exp = -k
                    self.numeric = q == e
            if self.numeric:
                # The unit's DLMS code and power of ten, from _UNITS.
                self.unit = self.unit_exp = 0
                a = self.unit_start
                size = self.unit_end - a
                units = _UNITS
                t = 0
                while t < len(units):
                    if units[t] == size:
                        k = 0
                        while k < size and buf[a + k] | 0x20 == units[t + 1 + k]:
                            k += 1
                        if k == size:
                            self.unit = units[t + 1 + size]
                            self.unit_exp = units[t + 2 + size]
                            break
                    t += units[t] + 3
            if n:
                self.malformed -= 1
                on_line(self)
