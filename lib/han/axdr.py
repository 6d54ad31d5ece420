# A-XDR decoding of DLMS "Data" (IEC 62056-6-2 Data CHOICE, A-XDR rules of IEC 61334-6):
# a one-byte type tag, then the value; arrays and structures give their element count, strings
# their length, in the A-XDR length form (1 byte < 0x80, else 0x8N and N big-endian bytes).
# Tags: 0 null, 1 array, 2 structure, 3 boolean, 4 bit-string, 5 int32, 6 uint32,
# 9 octet-string, 10 visible-string, 12 utf8-string, 13 bcd, 15 int8, 16 int16, 17 uint8,
# 18 uint16, 19 compact-array (unsupported), 20 int64, 21 uint64, 22 enum, 23 float32,
# 24 float64, 25 date-time, 26 date, 27 time.
#
# The functions read through a cursor `r`: any object with `apdu` (a memoryview that ends
# exactly where the APDU ends, so reading past the end raises IndexError, which the caller turns
# into a rejection) and `pos`; element() fills its `value`, `value_start` and `value_size`. The
# DLMS decoder is its own cursor (functions, not a Reader class: one type object less in RAM).
# Malformed data raises ValueError(n): n is the line of the reason text in dlms_codes.REASONS (the
# decoder's one text constant for all its rejection reasons). Nothing is allocated per element
# except the Python ints of large values.
from micropython import const

# Lines of dlms_codes.REASONS.
_LENGTH_TOO_LONG = const(14)  # "A-XDR length too long"
_PAST_THE_END = const(15)  # "value past the APDU end"
_UNSUPPORTED_TYPE = const(16)  # "unsupported A-XDR type"
_TOO_DEEP = const(17)  # "A-XDR nesting too deep"

# Type tags (IEC 62056-6-2 Data CHOICE): the names every module uses.
NULL = const(0)
ARRAY = const(1)
STRUCTURE = const(2)
BIT_STRING = const(4)
INT32 = const(5)
UINT32 = const(6)
OCTET_STRING = const(9)
VISIBLE_STRING = const(10)
UTF8_STRING = const(12)
INT8 = const(15)
UINT16 = const(18)
ENUM = const(22)
FLOAT32 = const(23)
FLOAT64 = const(24)
DATE_TIME = const(25)
DATE = const(26)
TIME = const(27)
NUMBERS = b"\x05\x06\x0d\x0f\x10\x11\x12\x14\x15\x17\x18"  # integer and float tags, no enum
_MAX_DEPTH = const(8)

# By tag: size of the fixed-length types (0: variable length, container or unsupported), and
# bit 7 set for two's complement integers, bit 6 for types that are not integers.
_SIZE = b"\x00\x00\x00\x01\x00\x84\x04\x00\x00\x00\x00\x00\x00\x01\x00\x81\x82\x01\x02\x00" \
    b"\x88\x08\x01\x44\x48\x4c\x45\x44"


def length(r):
    """The A-XDR length at r.pos; r.pos moves past it."""
    mv = r.apdu
    n = mv[r.pos]
    r.pos += 1
    if n < 0x80:
        return n
    k = n & 0x7F
    if k > 2:
        raise ValueError(_LENGTH_TOO_LONG)
    n = 0
    for _ in range(k):
        n = (n << 8) | mv[r.pos]
        r.pos += 1
    return n


def element(r):
    """Decode the element at r.pos into r.value (integer value, or element count of a
    container), r.value_start (where the value or the container content starts) and
    r.value_size (value length in bytes); r.pos moves past its header (containers) or past all
    of it. Returns the tag."""
    mv = r.apdu
    tag = mv[r.pos]
    r.pos += 1
    if tag < 28:
        info = _SIZE[tag]
        size = info & 0x3F
        if size:
            off = r.pos
            r.value_start = off
            r.value_size = size
            r.pos = off + size
            if r.pos > len(mv):
                raise ValueError(_PAST_THE_END)
            if not info & 0x40:
                v = 0
                for i in range(off, off + size):
                    v = (v << 8) | mv[i]
                if info & 0x80 and mv[off] & 0x80:
                    v -= 1 << (8 * size)
                r.value = v
            return tag
    if tag == STRUCTURE or tag == ARRAY:
        r.value = length(r)
        r.value_start = r.pos
        return tag
    if tag == OCTET_STRING or tag == VISIBLE_STRING or tag == UTF8_STRING:
        n = length(r)
    elif tag == BIT_STRING:
        n = (length(r) + 7) >> 3
    elif tag == 0:
        r.value_size = 0
        return tag
    else:
        raise ValueError(_UNSUPPORTED_TYPE)
    r.value_start = r.pos
    r.value_size = n
    r.pos += n
    if r.pos > len(mv):
        raise ValueError(_PAST_THE_END)
    return tag


def skip(r, depth=0):
    """Skip one whole element at r.pos (containers included); returns its tag."""
    tag = element(r)
    if tag == STRUCTURE or tag == ARRAY:
        if depth >= _MAX_DEPTH:
            raise ValueError(_TOO_DEEP)
        for _ in range(r.value):
            skip(r, depth + 1)
    return tag
