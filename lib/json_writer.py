# A JSON object writer into one reusable byte buffer, shared by the publishing formats.
#
# Why not json.dumps(dict): the formats would first build a dict per payload (dozens of small
# objects) and MicroPython's json.dumps then builds a str that still has to be encoded to bytes.
# Here the pieces go straight into a bytearray that lives as long as the firmware; only the
# number texts and the final `bytes` copy are allocated. The output is identical on CPython and
# MicroPython: members come out in the order they are written, non-ASCII text as raw UTF-8
# (RFC 8259 §8.1), and values that JSON cannot carry (NaN, ±inf, wrong types) are left out.
import json

_INF = float("inf")
_NINF = float("-inf")

try:  # CPython escapes non-ASCII by default; MicroPython never does and has no such keyword
    json.dumps("", ensure_ascii=False)
    _ASCII_KW = True
except TypeError:
    _ASCII_KW = False


def _quote(text):
    """`text` (str) as a JSON string literal in UTF-8 bytes."""
    if _ASCII_KW:
        return json.dumps(text, ensure_ascii=False).encode("utf-8")
    return json.dumps(text).encode("utf-8")


def is_number(value):
    """True for an int or a finite float; bools, None, NaN, ±inf and everything else are not."""
    kind = type(value)
    if kind is int:
        return True
    if kind is float:
        # false for NaN (every comparison with it is false) and for ±inf; allocates nothing
        return _NINF < value < _INF
    return False


def number_text(value):
    """The JSON text of a value that passed is_number()."""
    if type(value) is int:
        return b"%d" % value
    return b"%r" % value


def fixed3_text(milli):
    """An integer count of thousandths as an exact decimal text: 12345678 -> b"12345.678".

    Used for kWh from integer Wh: a float division would lose Wh on single-precision boards.
    """
    sign = b""
    if milli < 0:
        sign = b"-"
        milli = -milli
    return b"%s%d.%03d" % (sign, milli // 1000, milli % 1000)


class JsonWriter:
    """Builds one JSON object at a time: begin(), members, end(), then payload().

    Nested objects are opened with begin_object(key); a member written after an object closes
    gets its comma because closing an object always completes a member of its parent.
    """

    def __init__(self, size=512):
        self._buf = bytearray(size)
        self._view = memoryview(self._buf)
        self._pos = 0
        self._comma = False

    def _write(self, data):
        end = self._pos + len(data)
        if end > len(self._buf):
            self._grow(end)
        self._view[self._pos : end] = data
        self._pos = end

    def _grow(self, needed):
        # rare: the buffer keeps its new size, so steady-state publishing stops growing it
        size = len(self._buf) * 2
        while size < needed:
            size *= 2
        buf = bytearray(size)
        buf[: self._pos] = self._view[: self._pos]
        self._buf = buf
        self._view = memoryview(buf)

    def _key(self, key):
        if self._comma:
            self._write(b",")
        self._comma = True
        if type(key) is bytes:
            self._write(b'"')
            self._write(key)
            self._write(b'":')
        else:
            self._write(_quote(key))
            self._write(b":")

    def begin(self):
        self._pos = 0
        self._write(b"{")
        self._comma = False

    def begin_object(self, key):
        """`key` is bytes (plain ASCII, written as is) or str (escaped)."""
        self._key(key)
        self._write(b"{")
        self._comma = False

    def begin_array(self, key):
        self._key(key)
        self._write(b"[")
        self._comma = False

    def item_string(self, text):
        if self._comma:
            self._write(b",")
        self._comma = True
        self._write(_quote(text))

    def item_number(self, value):
        if not is_number(value):
            return False
        if self._comma:
            self._write(b",")
        self._comma = True
        self._write(number_text(value))
        return True

    def end_array(self):
        self._write(b"]")
        self._comma = True

    def end(self):
        self._write(b"}")
        self._comma = True

    def number(self, key, value):
        """Writes the member if `value` is a finite number; returns whether it did."""
        if not is_number(value):
            return False
        self._key(key)
        self._write(number_text(value))
        return True

    def fixed3(self, key, milli):
        """An integer count of thousandths written as an exact decimal (see fixed3_text)."""
        if type(milli) is not int:
            return False
        self._key(key)
        self._write(fixed3_text(milli))
        return True

    def string(self, key, text):
        """Writes the member if `text` is a str; returns whether it did."""
        if type(text) is not str:
            return False
        self._key(key)
        self._write(_quote(text))
        return True

    def literal(self, key, text):
        """A member whose value is already JSON text (bytes), e.g. b"true"."""
        self._key(key)
        self._write(text)

    def payload(self):
        """The finished document as `bytes` (a copy: the buffer is reused by the next one)."""
        return bytes(self._view[: self._pos])

    def size(self):
        return self._pos
