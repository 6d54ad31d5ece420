"""Strict JSON for messages from outside (config/set, cmd, signed envelopes).

MicroPython's `json.loads` is lenient: it takes `{"a": 5,}`, `{"a" 5}`, `05`, `"\\x41"`, and
text that is not UTF-8 (an overlong `\\xc0\\xaf`, a lone surrogate `\\ud800`), which would then be
stored and republished. `check()` walks the bytes once, by index, building no strings, and
accepts exactly RFC 8259 (sections 2-7) in UTF-8 (RFC 3629, RFC 8259 section 8.1); only what it
accepts is handed to `json.loads`. `accept()` is what the firmware calls (signing.verify, for
every config/set and cmd, signed or not): it also refuses duplicate names and writes escaped
surrogate pairs as UTF-8, which MicroPython's json would turn into CESU-8. Imported only when
such a message arrives and dropped again (app._RARE_MODULES).

Choices where RFC 8259 leaves room:
- No byte order mark (section 8.1: implementations MUST NOT add one; we refuse it).
- A `\\u` escape must not leave a lone surrogate (section 8.2: such strings are not text);
  a high surrogate escape followed by a low one is one code point.
- Duplicate names in an object are refused (section 4 leaves their meaning open; a config
  change must say one thing).
- Containers nest at most MAX_DEPTH deep: no config or command needs more, and the walk (and
  `json.loads` after it) stays bounded.

Errors are texts naming the cause and the byte offset (counted from 0), e.g.
"not valid JSON at byte 9: trailing comma" or "not valid UTF-8 at byte 12: overlong encoding".
"""

import json

from micropython import const

MAX_DEPTH = const(16)

_QUOTE = const(0x22)
_BACKSLASH = const(0x5C)
_COMMA = const(0x2C)
_COLON = const(0x3A)
_OPEN_OBJECT = const(0x7B)
_CLOSE_OBJECT = const(0x7D)
_OPEN_ARRAY = const(0x5B)
_CLOSE_ARRAY = const(0x5D)
_MINUS = const(0x2D)
_PLUS = const(0x2B)
_DOT = const(0x2E)
_ZERO = const(0x30)
_NINE = const(0x39)

_JSON = "not valid JSON"
_UTF8 = "not valid UTF-8"


def _fail(kind, at, why):
    # ValueError (no class of our own: one less object in the heap); only _fail raises it here
    raise ValueError("%s at byte %d: %s" % (kind, at, why))


def _space(data, i, n):
    # RFC 8259 section 2: whitespace is space, tab, line feed and carriage return only
    while i < n:
        c = data[i]
        if c != 0x20 and c != 0x0A and c != 0x0D and c != 0x09:
            break
        i += 1
    return i


def _hex(c):
    if 0x30 <= c <= 0x39:
        return c - 0x30
    c |= 0x20  # lower case
    if 0x61 <= c <= 0x66:
        return c - 0x57
    return -1


def _escape_code(data, i, n):
    """The code unit of the 4 hex digits of a \\u escape at data[i] (the backslash)."""
    if i + 6 > n:
        _fail(_JSON, i, "\\u needs 4 hex digits")
    code = 0
    for j in range(i + 2, i + 6):
        digit = _hex(data[j])
        if digit < 0:
            _fail(_JSON, i, "\\u needs 4 hex digits")
        code = code << 4 | digit
    return code


def _utf8_sequence(data, i, n):
    """The end of the UTF-8 sequence whose lead byte (>= 0x80) is data[i] (RFC 3629 section 4)."""
    c = data[i]
    if c < 0xC2:
        _fail(_UTF8, i, "overlong encoding" if c >= 0xC0 else "unexpected continuation byte")
    if c < 0xE0:
        size, low, high = 2, 0x80, 0xBF
    elif c < 0xF0:
        size = 3
        low = 0xA0 if c == 0xE0 else 0x80  # E0 80..9F would be overlong
        high = 0x9F if c == 0xED else 0xBF  # ED A0..BF would be a surrogate (U+D800..DFFF)
    elif c < 0xF5:
        size = 4
        low = 0x90 if c == 0xF0 else 0x80  # F0 80..8F would be overlong
        high = 0x8F if c == 0xF4 else 0xBF  # F4 90.. would be above U+10FFFF
    else:
        _fail(_UTF8, i, "above U+10FFFF" if c < 0xF8 else "not a UTF-8 byte")
    if i + 1 >= n:
        _fail(_UTF8, i, "truncated sequence")
    second = data[i + 1]
    if not 0x80 <= second <= 0xBF:
        _fail(_UTF8, i, "truncated sequence")
    if second < low:
        _fail(_UTF8, i, "overlong encoding")
    if second > high:
        _fail(_UTF8, i, "surrogate" if c == 0xED else "above U+10FFFF")
    for j in range(i + 2, i + size):
        if j >= n or not 0x80 <= data[j] <= 0xBF:
            _fail(_UTF8, i, "truncated sequence")
    return i + size


def _string(data, i, n, counts):
    """The end of the string whose opening quote is data[i] (RFC 8259 section 7)."""
    start = i
    i += 1
    while True:
        if i >= n:
            _fail(_JSON, start, "unterminated string")
        c = data[i]
        if c == _QUOTE:
            return i + 1
        if c == _BACKSLASH:
            if i + 1 >= n:
                _fail(_JSON, start, "unterminated string")
            e = data[i + 1]
            if e == 0x75:  # u
                code = _escape_code(data, i, n)
                if 0xDC00 <= code <= 0xDFFF:
                    _fail(_UTF8, i, "lone surrogate escape (low half)")
                if 0xD800 <= code <= 0xDBFF:
                    # must be followed by the low half: \uDC00..\uDFFF (RFC 8259 section 7)
                    if i + 7 < n and data[i + 6] == _BACKSLASH and data[i + 7] == 0x75:
                        low = _escape_code(data, i + 6, n)
                        if 0xDC00 <= low <= 0xDFFF:
                            counts[1] += 1
                            i += 12
                            continue
                    _fail(_UTF8, i, "lone surrogate escape (high half)")
                i += 6
            elif e in b'"\\/bfnrt':
                i += 2
            else:
                _fail(_JSON, i, "invalid escape")
        elif c < 0x20:
            _fail(_JSON, i, "control character in string")
        elif c < 0x80:
            i += 1
        else:
            i = _utf8_sequence(data, i, n)


def _number(data, i, n):
    """The end of the number starting at data[i] (RFC 8259 section 6)."""
    if data[i] == _MINUS:
        i += 1
    if i >= n or not _ZERO <= data[i] <= _NINE:
        _fail(_JSON, i, "digit expected")
    if data[i] == _ZERO:
        i += 1
        if i < n and _ZERO <= data[i] <= _NINE:
            _fail(_JSON, i - 1, "leading zero")
    else:
        while i < n and _ZERO <= data[i] <= _NINE:
            i += 1
    if i < n and data[i] == _DOT:
        i += 1
        if i >= n or not _ZERO <= data[i] <= _NINE:
            _fail(_JSON, i, "digit expected after '.'")
        while i < n and _ZERO <= data[i] <= _NINE:
            i += 1
    if i < n and data[i] | 0x20 == 0x65:  # e or E
        i += 1
        if i < n and (data[i] == _PLUS or data[i] == _MINUS):
            i += 1
        if i >= n or not _ZERO <= data[i] <= _NINE:
            _fail(_JSON, i, "digit expected in exponent")
        while i < n and _ZERO <= data[i] <= _NINE:
            i += 1
    return i


def _literal(data, i, n, word):
    end = i + len(word)
    if end > n or data[i:end] != word:
        _fail(_JSON, i, "unexpected character")
    return end


def _unexpected(data, i, n, what):
    if i >= n:
        _fail(_JSON, i, "unexpected end, " + what)
    if data[i] >= 0x80:
        _utf8_sequence(data, i, n)  # invalid UTF-8 is named as such
    _fail(_JSON, i, what)


def _key(data, i, n, counts):
    """A member name and its colon at data[i]; the index of the value."""
    if i >= n or data[i] != _QUOTE:
        _unexpected(data, i, n, "object name (a string) expected")
    i = _space(data, _string(data, i, n, counts), n)
    counts[0] += 1
    if i >= n or data[i] != _COLON:
        _unexpected(data, i, n, "':' expected")
    return _space(data, i + 1, n)


def _walk(data, counts):
    """Raises ValueError unless `data` is one strict JSON text. counts[0] += object members,
    counts[1] += surrogate pair escapes."""
    n = len(data)
    if n >= 3 and data[0] == 0xEF and data[1] == 0xBB and data[2] == 0xBF:
        _fail(_JSON, 0, "byte order mark")
    objects = 0  # bit d set when the container at depth d + 1 is an object
    depth = 0
    i = _space(data, 0, n)
    if i >= n:
        _fail(_JSON, i, "empty document")
    while True:
        # a value starts at i
        c = data[i] if i < n else -1
        if c == _OPEN_OBJECT or c == _OPEN_ARRAY:
            if depth == MAX_DEPTH:
                _fail(_JSON, i, "nested deeper than %d" % MAX_DEPTH)
            is_object = c == _OPEN_OBJECT
            objects = objects << 1 | is_object
            depth += 1
            i = _space(data, i + 1, n)
            if i < n and data[i] == (_CLOSE_OBJECT if is_object else _CLOSE_ARRAY):
                i += 1
                objects >>= 1
                depth -= 1
            elif is_object:
                i = _key(data, i, n, counts)
                continue
            else:
                continue
        elif c == _QUOTE:
            i = _string(data, i, n, counts)
        elif c == _MINUS or _ZERO <= c <= _NINE:
            i = _number(data, i, n)
        elif c == 0x74:
            i = _literal(data, i, n, b"true")
        elif c == 0x66:
            i = _literal(data, i, n, b"false")
        elif c == 0x6E:
            i = _literal(data, i, n, b"null")
        else:
            _unexpected(data, i, n, "value expected")
        # after a value: a comma, the end of its container, or the end of the text
        while True:
            i = _space(data, i, n)
            if depth == 0:
                if i < n:
                    _unexpected(data, i, n, "data after the value")
                return
            close = _CLOSE_OBJECT if objects & 1 else _CLOSE_ARRAY
            if i < n and data[i] == close:
                i += 1
                objects >>= 1
                depth -= 1
                continue
            if i >= n or data[i] != _COMMA:
                _unexpected(data, i, n, "',' or '%s' expected" % chr(close))
            comma = i
            i = _space(data, i + 1, n)
            if i < n and data[i] == close:
                _fail(_JSON, comma, "trailing comma")
            if objects & 1:
                i = _key(data, i, n, counts)
            break


def _as_bytes(data):
    t = type(data)
    if t is bytes:
        return data
    if t is str:
        return data.encode()
    return bytes(data)  # bytearray, memoryview: slices of bytes compare on every port


def check(data):
    """None when `data` (bytes) is one strict JSON text, else why not (with the byte offset)."""
    data = _as_bytes(data)
    try:
        _walk(data, [0, 0])
    except ValueError as e:
        return e.args[0]
    return None


def _members(value):
    """How many members the objects in the parsed `value` hold (depth bounded by MAX_DEPTH)."""
    t = type(value)
    if t is dict:
        total = len(value)
        for key in value:
            total += _members(value[key])
        return total
    if t is list:
        total = 0
        for item in value:
            total += _members(item)
        return total
    return 0


def _duplicate(data):
    """The error naming the first duplicate object name in `data` (a valid JSON text)."""
    names = []  # per open container: the names seen (None for an array)
    n = len(data)
    i = 0
    while i < n:
        c = data[i]
        if c == _OPEN_OBJECT:
            names.append([])
        elif c == _OPEN_ARRAY:
            names.append(None)
        elif c == _CLOSE_OBJECT or c == _CLOSE_ARRAY:
            names.pop()
        elif c == _QUOTE:
            end = _string(data, i, n, [0, 0])
            seen = names[-1] if names else None
            if seen is not None and data[_space(data, end, n)] == _COLON:
                name = json.loads(bytes(data[i:end]))
                if name in seen:
                    return "%s at byte %d: duplicate name in an object" % (_JSON, i)
                seen.append(name)
            i = end
            continue
        i += 1
    return "%s: duplicate name in an object" % _JSON


def _raw_pairs(data):
    """`data` (a checked JSON text) with each escaped surrogate pair written as its 4 UTF-8
    bytes, the way every json.loads reads it (MicroPython's alone would make CESU-8 of it)."""
    out = bytearray()
    n = len(data)
    start = 0
    i = 0
    while i < n:
        if data[i] == _BACKSLASH:  # only inside strings in a checked text
            code = _escape_code(data, i, n) if data[i + 1] == 0x75 else 0
            if 0xD800 <= code <= 0xDBFF:  # check() let only whole pairs through
                code = 0x10000 + ((code - 0xD800) << 10) + (_escape_code(data, i + 6, n) - 0xDC00)
                out += data[start:i]
                out.append(0xF0 | code >> 18)
                out.append(0x80 | (code >> 12) & 0x3F)
                out.append(0x80 | (code >> 6) & 0x3F)
                out.append(0x80 | code & 0x3F)
                i += 12
                start = i
                continue
            i += 2  # the escaped character (maybe a quote) is not the end of the string
            continue
        i += 1
    out += data[start:]
    return bytes(out)


def accept(data):
    """(text, None) when bytes `data` is one strict JSON text without duplicate names, else
    (None, why not). `text` is `data`, or, if it holds escaped surrogate pairs, the same JSON
    with them written as UTF-8, so that json.loads gives whole characters on every port."""
    data = _as_bytes(data)
    counts = [0, 0]
    try:
        _walk(data, counts)
    except ValueError as e:
        return None, e.args[0]
    if counts[0] > 1 and _members(json.loads(data)) != counts[0]:
        return None, _duplicate(data)
    return (_raw_pairs(data) if counts[1] else data), None


def loads(data):
    """(value, None) for bytes `data` holding one strict JSON text, else (None, why not).

    Strings in `value` are whole characters on every port; duplicate names are refused."""
    text, error = accept(data)
    if error:
        return None, error
    return json.loads(text), None
