# A JSON object writer into one reusable buffer, shared by the publishing formats.
#
# Why not json.dumps(dict): the formats would first build a dict per payload (dozens of small
# objects) and json.dumps then builds a str that still has to be encoded to bytes. Here the
# pieces go straight into one io.BytesIO that lives as long as the firmware. On MicroPython,
# json.dump() of a number or a str into a BytesIO formats it in place, so a payload costs one
# allocation: the final `bytes` copy (measured under the unix port: docs/state.md). CPython's
# json.dump writes str, so there the numbers go through bytes formatting instead; the output is
# the same: members in the order written, non-ASCII text as raw UTF-8 (RFC 8259 §8.1), and
# values JSON cannot carry (NaN, ±inf, wrong types) left out.
import io
import json

_INF = float("inf")
_NINF = float("-inf")


# Whether json.dump() writes into a BytesIO: MicroPython does, CPython writes str chunks.
try:
    json.dump(0, io.BytesIO())
    _IN_PLACE = True
except TypeError:
    _IN_PLACE = False


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
    """The JSON text of a value that passed is_number(), as bytes."""
    if type(value) is int:
        return b"%d" % value
    return b"%r" % value


# 10 ** decimals for the resolutions of quantities.QUANTITIES (0..3 decimals)
_SCALES = (1, 10, 100, 1000)


def _fits(value):
    """A number _fixed() can scale: an int, or a float well inside the float range (no meter
    reads 1e30 of anything; beyond, scaling could overflow to inf)."""
    return type(value) is int or (type(value) is float and -1e30 < value < 1e30)


class JsonWriter:
    """Builds one JSON object at a time: begin(), members, end(), then payload().

    Nested objects are opened with begin_object(key); a member written after an object closes
    gets its comma because closing an object always completes a member of its parent.
    """

    def __init__(self, size=512):
        # MicroPython's BytesIO(n) preallocates n bytes; it keeps its capacity across seek(0)
        self._out = io.BytesIO(size) if _IN_PLACE else io.BytesIO()
        self._comma = False
        self._chunk = bytearray(64)  # chunks(): what one piece is read into

    def _text(self, text):
        if _IN_PLACE:  # MicroPython: never escapes non-ASCII, takes no ensure_ascii
            json.dump(text, self._out)
        else:
            self._out.write(json.dumps(text, ensure_ascii=False).encode("utf-8"))

    def _number(self, value):
        if _IN_PLACE:
            json.dump(value, self._out)
        else:
            self._out.write(number_text(value))

    def _key(self, key):
        if self._comma:
            self._out.write(b",")
        self._comma = True
        if type(key) is bytes:
            self._out.write(b'"')
            self._out.write(key)
            self._out.write(b'":')
        else:
            self._text(key)
            self._out.write(b":")

    def begin(self):
        self._out.seek(0)
        self._out.write(b"{")
        self._comma = False

    def begin_object(self, key):
        """`key` is bytes (plain ASCII, written as is) or str (escaped)."""
        self._key(key)
        self._out.write(b"{")
        self._comma = False

    def begin_array(self, key):
        self._key(key)
        self._out.write(b"[")
        self._comma = False

    def item_string(self, text):
        if self._comma:
            self._out.write(b",")
        self._comma = True
        self._text(text)

    def item_number(self, value):
        if not is_number(value):
            return False
        if self._comma:
            self._out.write(b",")
        self._comma = True
        self._number(value)
        return True

    def end_array(self):
        self._out.write(b"]")
        self._comma = True

    def end(self):
        self._out.write(b"}")
        self._comma = True

    def number(self, key, value):
        """Writes the member if `value` is a finite number; returns whether it did."""
        if not is_number(value):
            return False
        self._key(key)
        self._number(value)
        return True

    def quantity(self, key, value, decimals):
        """Writes the member rounded to `decimals` (a quantities.QUANTITIES resolution) if `value`
        is a finite number; returns whether it did. See _fixed()."""
        if not _fits(value):
            return False
        self._key(key)
        self._fixed(value, decimals)
        return True

    def number_text(self, value, decimals):
        """`value` rounded to `decimals` as JSON number text (bytes), None for a non-number:
        1523.4100000000001 -> b"1523.41", 50.0 -> b"50", -0.0004 at 3 decimals -> b"0"."""
        if not _fits(value):
            return None
        self._out.seek(0)
        self._fixed(value, decimals)
        return self.payload()

    def _fixed(self, value, decimals):
        """A finite number rounded to `decimals`, its text made from integers: the scaled count
        and a decimal point, trailing zeros dropped. So the text is the same on CPython and on
        MicroPython with double or single-precision floats, whose float repr differs
        (231.05000000000004 here, 231.05 there). Allocates at most the one float of the scaling
        (none where floats are not boxed, as on the ESP8266)."""
        if type(value) is int:
            self._number(value)
            return
        count = round(value * _SCALES[decimals])
        while decimals and count % 10 == 0:
            count //= 10
            decimals -= 1
        if not decimals:
            self._number(count)
            return
        if count < 0:
            self._out.write(b"-")
            count = -count
        scale = _SCALES[decimals]
        self._number(count // scale)
        fraction = count % scale
        self._out.write(b".")
        scale //= 10
        while fraction < scale:  # the fraction's leading zeros (its last digit is not 0)
            self._out.write(b"0")
            scale //= 10
        self._number(fraction)

    def fixed3(self, key, milli):
        """An integer count of thousandths as an exact decimal: 12345678 -> 12345.678.

        Used for kWh from integer Wh: a float division would lose Wh on single-precision boards.
        """
        if type(milli) is not int:
            return False
        self._key(key)
        if milli < 0:
            self._out.write(b"-")
            milli = -milli
        self._number(milli // 1000)
        fraction = milli % 1000
        self._out.write(b".00" if fraction < 10 else b".0" if fraction < 100 else b".")
        self._number(fraction)
        return True

    def string(self, key, text):
        """Writes the member if `text` is a str; returns whether it did."""
        if type(text) is not str:
            return False
        self._key(key)
        self._text(text)
        return True

    def payload(self):
        """The finished document as `bytes` (a copy: the buffer is reused by the next one).

        The buffer may hold a longer earlier document past the current position: only the
        bytes up to it are this one.
        """
        size = self._out.tell()
        self._out.seek(0)
        return self._out.read(size)

    def chunks(self):
        """The finished document as a function that yields it in pieces of up to 64 bytes read
        from the buffer, so that it is never copied whole (MqttLink.publish_pieces calls the
        function twice: to measure, then to send). Valid until the next begin()."""
        out = self._out
        size = out.tell()
        chunk = self._chunk
        view = memoryview(chunk)

        def pieces():
            out.seek(0)
            left = size
            while left > 0:
                n = out.readinto(chunk)
                if not n:
                    return
                if n > left:
                    n = left
                left -= n
                yield view[:n]

        return pieces
