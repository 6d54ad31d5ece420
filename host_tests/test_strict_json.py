# portable
# lib/config/strict_json.py: RFC 8259 JSON in RFC 3629 UTF-8, nothing more. A table of documents
# with the verdict and, for refusals, the byte offset and cause; under CPython every row is also
# checked against json.loads(strict=True) on the UTF-8-decoded text (the oracle), under
# MicroPython against the verdict alone (its own json is the lenient thing being guarded).
import json
import sys

import strict_json

CPYTHON = sys.implementation.name == "cpython"

# (document, None when valid, else (byte offset, a phrase of the cause))
VALID = (
    b"{}", b"[]", b'""', b"0", b"-0", b"1e5", b"1E+5", b"1e-5", b"-0.0e0", b"12.50",
    b"123456789012345678901234567890", b"true", b"false", b"null",
    b' \t\r\n{ "a" : [ 1 , 2 ] , "b" : { } }\n ',
    b'{"publish_interval_s": 30}',
    b'"\\" \\\\ \\/ \\b \\f \\n \\r \\t"',
    b'"\\u0041\\u00e9\\u20AC\\uFFFF\\u0000"',
    b'"\\ud83d\\ude00"', b'"\\uD83D\\uDE00"', b'"\\udbff\\udfff"',
    '"K\u00fcche \u20ac \U0001F600"'.encode(),
    b'"\xf4\x8f\xbf\xbf"', b'"\xef\xbf\xbf"', b'"\xed\x9f\xbf"', b'"\xee\x80\x80"',
    b'"\x7f"',
    b'{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}',
    b"[" * 16 + b"]" * 16,
    b'{"a":' * 15 + b"1" + b"}" * 15,
)

INVALID = (
    # the examples
    (b'{"a": 5,}', 7, "trailing comma"),
    (b'{"a" 5}', 5, "':' expected"),
    (b"05", 0, "leading zero"),
    (b'"\\x41"', 1, "invalid escape"),
    (b'{"name": "\xc0\xaf"}', 10, "UTF-8 at byte 10: overlong"),
    (b'{"name": "\\ud800"}', 10, "UTF-8 at byte 10: lone surrogate"),
    (b'{"name": "\xed\xa0\x80"}', 10, "UTF-8 at byte 10: surrogate"),
    # numbers (RFC 8259 section 6)
    (b"1.", 2, "digit expected after '.'"),
    (b".5", 0, "value expected"),
    (b"+1", 0, "value expected"),
    (b"01", 0, "leading zero"),
    (b"-01", 1, "leading zero"),
    (b"-", 1, "digit expected"),
    (b"-a", 1, "digit expected"),
    (b"1e", 2, "exponent"),
    (b"1e+", 3, "exponent"),
    (b"1.e5", 2, "digit expected after '.'"),
    (b"0x10", 1, "data after the value"),
    (b"NaN", 0, "value expected"),
    (b"Infinity", 0, "value expected"),
    (b"-Infinity", 1, "digit expected"),
    (b"1 2", 2, "data after the value"),
    # strings (RFC 8259 section 7)
    (b'"a\x00"', 2, "control character"),
    (b'"a\nb"', 2, "control character"),
    (b'"\t"', 1, "control character"),
    (b'"\x1f"', 1, "control character"),
    (b'"abc', 0, "unterminated string"),
    (b'"abc\\', 0, "unterminated string"),
    (b'"\\u12"', 1, "4 hex digits"),
    (b'"\\u12g4"', 1, "4 hex digits"),
    (b'"\\U0041"', 1, "invalid escape"),
    (b'"\\a"', 1, "invalid escape"),
    (b"'a'", 0, "value expected"),
    (b'"\\udc00"', 1, "lone surrogate"),
    (b'"\\ud83d"', 1, "lone surrogate"),
    (b'"\\ud83dx"', 1, "lone surrogate"),
    (b'"\\ud83d\\u0041"', 1, "lone surrogate"),
    (b'"\\ud83d\\ud83d"', 1, "lone surrogate"),
    (b'"\\ude00\\ud83d"', 1, "lone surrogate"),
    # UTF-8 (RFC 3629 section 4)
    (b'"\x80"', 1, "continuation"),
    (b'"\xc1\xbf"', 1, "overlong"),
    (b'"\xe0\x80\xaf"', 1, "overlong"),
    (b'"\xf0\x80\x80\xaf"', 1, "overlong"),
    (b'"\xc3"', 1, "truncated"),
    (b'"\xe2\x82"', 1, "truncated"),
    (b'"\xf0\x9f\x98"', 1, "truncated"),
    (b'"\xc3\x28"', 1, "truncated"),
    (b'"\xf4\x90\x80\x80"', 1, "above U+10FFFF"),
    (b'"\xf5\x80\x80\x80"', 1, "above U+10FFFF"),
    (b'"\xff"', 1, "not a UTF-8 byte"),
    (b'"\xed\xbf\xbf"', 1, "surrogate"),
    (b"\xff", 0, "UTF-8 at byte 0"),
    (b"[1, \xc3\xa9]", 4, "JSON at byte 4: value expected"),  # valid UTF-8, not JSON
    # BOM and whitespace (RFC 8259 sections 2 and 8.1)
    (b"\xef\xbb\xbf{}", 0, "byte order mark"),
    (b"", 0, "empty document"),
    (b" \n", 2, "empty document"),
    (b"\x0c{}", 0, "value expected"),
    (b"{}\x0b", 2, "data after the value"),
    (b"[1,\xc2\xa02]", 3, "value expected"),  # no-break space is not whitespace
    # structure
    (b"{", 1, "unexpected end"),
    (b"[", 1, "unexpected end"),
    (b"[1", 2, "unexpected end"),
    (b'{"a":1', 6, "unexpected end"),
    (b"]", 0, "value expected"),
    (b"[1,]", 2, "trailing comma"),
    (b"[,1]", 1, "value expected"),
    (b"[1 2]", 3, "',' or ']' expected"),
    (b'{"a":1 "b":2}', 7, "',' or '}' expected"),
    (b"{1: 2}", 1, "object name"),
    (b"{'a': 2}", 1, "object name"),
    (b'{"a"}', 4, "':' expected"),
    (b'{"a":}', 5, "value expected"),
    (b'{"a":1}}', 7, "data after the value"),
    (b"[1]]", 3, "data after the value"),
    (b"tru", 0, "unexpected character"),
    (b"True", 0, "value expected"),
    (b"nul", 0, "unexpected character"),
    (b"[true false]", 6, "',' or ']' expected"),
    (b"{}{}", 2, "data after the value"),
    (b"[" * 17 + b"]" * 17, 16, "nested deeper than 16"),
    (b"[" * 5000, 16, "nested deeper than 16"),
    (b'{"a":' * 17 + b"1" + b"}" * 17, 80, "nested deeper than 16"),
    # duplicate names (refused: a config change must say one thing)
    (b'{"a": 1, "a": 2}', 9, "duplicate name"),
    (b'{"a": 1, "\\u0061": 1}', 9, "duplicate name"),
    (b'{"x": [{"a": 1, "b": 2, "a": 3}]}', 24, "duplicate name"),
)


def _oracle(document):
    """CPython's verdict: UTF-8 (strict), then json.loads(strict=True), then no string holding
    a lone surrogate (CPython's json lets "\\ud800" through), no duplicate names, depth <= 16."""
    try:
        text = document.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if text.startswith("\ufeff"):
        return False  # CPython refuses the BOM in a str too; said here for the reader

    def no_duplicates(pairs):
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            raise ValueError("duplicate name")
        return dict(pairs)

    def no_constants(name):
        raise ValueError(name + " is not JSON")  # CPython's json takes NaN and Infinity

    try:
        value = json.loads(text, strict=True, object_pairs_hook=no_duplicates,
                           parse_constant=no_constants)
    except (ValueError, RecursionError):
        return False

    def sound(v, depth):
        if isinstance(v, (dict, list)):
            if depth == strict_json.MAX_DEPTH:
                return False
            items = list(v.items()) if isinstance(v, dict) else [(None, x) for x in v]
            return all((k is None or sound(k, depth)) and sound(x, depth + 1) for k, x in items)
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return False
        return True

    return sound(value, 0)


def test_valid_documents_are_accepted_and_parse_like_json():
    for document in VALID:
        assert strict_json.check(document) is None, document
        value, error = strict_json.loads(document)
        assert error is None, (document, error)
        if CPYTHON:
            assert _oracle(document), document
            assert value == json.loads(document.decode("utf-8")), document


def test_invalid_documents_are_refused_with_offset_and_cause():
    for document, offset, cause in INVALID:
        value, error = strict_json.loads(document)
        assert value is None and error is not None, document
        assert error.startswith("not valid JSON at byte %d: " % offset) \
            or error.startswith("not valid UTF-8 at byte %d: " % offset), (document, error)
        assert cause in error, (document, error)
        # check() is the same walk; only duplicate names need loads()
        assert strict_json.check(document) == (None if "duplicate" in cause else error)
        if CPYTHON:
            assert not _oracle(document), document


def test_duplicate_names_are_found_by_loads_not_check():
    # check() is the one-pass walk (no strings built); loads() compares names
    assert strict_json.check(b'{"a": 1, "a": 2}') is None
    assert strict_json.loads(b'{"a": 1, "a": 2}') == (
        None, "not valid JSON at byte 9: duplicate name in an object")


def test_astral_characters_are_whole_code_points_on_every_port():
    # MicroPython's json alone turns "\ud83d\ude00" into CESU-8 (two 3-byte surrogates)
    emoji = b"\xf0\x9f\x98\x80"
    for document in (b'{"n": "a\\ud83d\\ude00b"}', b'{"n": "a' + emoji + b'b"}',
                     b'["\\ud83d\\ude00", {"\\ud83d\\ude00": ["\\uD83D\\uDE00x"]}]'):
        value, error = strict_json.loads(document)
        assert error is None, error
        text = json.dumps(value)
        assert "\\ud83d\\ude00" in text or "\U0001F600" in text
    value, _ = strict_json.loads(b'["\\ud83d\\ude00", {"\\ud83d\\ude00": ["\\uD83D\\uDE00x"]}]')
    assert value[0].encode() == emoji
    assert list(value[1])[0].encode() == emoji
    assert value[1]["\U0001F600"][0].encode() == emoji + b"x"
    assert len(value[0]) == 1
    value, _ = strict_json.loads(b'"\\u00e9\\ud83d\\ude00\\ud7ff\\ue000\\udbff\\udfff"')
    assert value.encode() == b"\xc3\xa9" + emoji + b"\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf"


def test_any_bytes_like_input_and_str():
    document = b'{"a": [1, "x"]}'
    for form in (document, bytearray(document), memoryview(document), document.decode()):
        assert strict_json.loads(form) == ({"a": [1, "x"]}, None)
    assert "trailing comma" in strict_json.check(memoryview(b"[1,]"))


def test_every_prefix_of_a_valid_document_is_refused_without_crashing():
    document = '{"a": [1, -2.5e3, "K\u00fcche \U0001F600 \\ud83d\\ude00", true, null]}'.encode()
    for end in range(len(document)):
        error = strict_json.check(document[:end])
        assert error is not None and "at byte" in error, document[:end]
    assert strict_json.check(document) is None
