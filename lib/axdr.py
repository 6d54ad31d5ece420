# A-XDR decoding of DLMS "Data" (IEC 62056-6-2 Data CHOICE, A-XDR rules of IEC 61334-6):
# a one-byte type tag, then the value; arrays and structures give their element count, strings
# their length, in the A-XDR length form (1 byte < 0x80, else 0x8N and N big-endian bytes).
#
# Reader works on a memoryview that ends exactly where the APDU ends, so reading past the end
# raises IndexError, which the caller turns into a rejection. It allocates nothing per element
# except the Python ints of large values.
from micropython import const

NULL = const(0)
ARRAY = const(1)
STRUCTURE = const(2)
BOOLEAN = const(3)
BIT_STRING = const(4)
INT32 = const(5)  # double-long
UINT32 = const(6)  # double-long-unsigned
OCTET_STRING = const(9)
VISIBLE_STRING = const(10)
UTF8_STRING = const(12)
BCD = const(13)
INT8 = const(15)  # integer
INT16 = const(16)  # long
UINT8 = const(17)  # unsigned
UINT16 = const(18)  # long-unsigned
COMPACT_ARRAY = const(19)
INT64 = const(20)
UINT64 = const(21)
ENUM = const(22)
FLOAT32 = const(23)
FLOAT64 = const(24)
DATE_TIME = const(25)
DATE = const(26)
TIME = const(27)

MAX_DEPTH = const(8)

# Size of the fixed-length types by tag (0: variable length, container or unsupported).
_SIZE = bytes(
    (0, 0, 0, 1, 0, 4, 4, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2, 1, 2, 0, 8, 8, 1, 4, 8, 12, 5, 4)
)
# Tags whose value is a two's complement integer.
_SIGNED = bytes(
    (0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0)
)


class Malformed(Exception):
    pass


def is_integer(tag):
    return tag == UINT32 or tag == UINT16 or tag == INT16 or tag == INT32 or tag == UINT8 or \
        tag == INT8 or tag == ENUM or tag == UINT64 or tag == INT64 or tag == BOOLEAN or tag == BCD


def is_string(tag):
    return tag == OCTET_STRING or tag == VISIBLE_STRING or tag == UTF8_STRING


class Reader:
    """Cursor over one APDU. element() decodes the element at pos into tag/num/off/size."""

    def __init__(self, mv, pos=0):
        self.mv = mv
        self.pos = pos
        self.tag = 0
        self.num = 0  # integer value, or element count of a container
        self.off = 0  # where the value (string bytes, container content) starts
        self.size = 0  # string length in bytes

    def length(self):
        mv = self.mv
        n = mv[self.pos]
        self.pos += 1
        if n < 0x80:
            return n
        k = n & 0x7F
        if k > 2:
            raise Malformed("A-XDR length field too long")
        n = 0
        for _ in range(k):
            n = (n << 8) | mv[self.pos]
            self.pos += 1
        return n

    def element(self):
        mv = self.mv
        tag = mv[self.pos]
        self.pos += 1
        self.tag = tag
        if tag < 28:
            size = _SIZE[tag]
            if size:
                off = self.pos
                end = off + size
                if end > len(mv):
                    raise Malformed("value runs past the end of the APDU")
                self.off = off
                self.size = size
                self.pos = end
                if size <= 8 and tag < DATE_TIME and tag != FLOAT32 and tag != FLOAT64:
                    v = 0
                    for i in range(off, end):
                        v = (v << 8) | mv[i]
                    if _SIGNED[tag] and mv[off] & 0x80:
                        v -= 1 << (8 * size)
                    self.num = v
                return tag
        if tag == STRUCTURE or tag == ARRAY:
            self.num = self.length()
            self.off = self.pos
            return tag
        if tag == OCTET_STRING or tag == VISIBLE_STRING or tag == UTF8_STRING:
            n = self.length()
        elif tag == BIT_STRING:
            n = (self.length() + 7) >> 3
        elif tag == NULL:
            self.size = 0
            return tag
        else:
            raise Malformed("unsupported A-XDR data type")
        self.off = self.pos
        self.size = n
        self.pos += n
        if self.pos > len(mv):
            raise Malformed("value runs past the end of the APDU")
        return tag

    def skip(self, depth=0):
        """Skip one whole element (containers included)."""
        tag = self.element()
        if tag == STRUCTURE or tag == ARRAY:
            if depth >= MAX_DEPTH:
                raise Malformed("A-XDR nesting too deep")
            for _ in range(self.num):
                self.skip(depth + 1)
        return tag

    def float_value(self):
        import struct

        return struct.unpack_from(">f" if self.tag == FLOAT32 else ">d", self.mv, self.off)[0]
