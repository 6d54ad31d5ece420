"""Decode HAN/P1 meter pushes: DLMS/COSEM (HDLC, M-Bus, block transfer, AES-GCM) and DSMR.

usage: han_decode.py [--key HEX] [--auth-key HEX] [--apdu] [FILE|-]

Reads FILE (or standard input for "-" or no FILE): hex text (whitespace ignored) or the raw
bytes of the serial line, told apart automatically, with any number of pushes and any garbage
between them. The framing of each push is detected: HDLC frames, M-Bus long frames or ASCII
telegrams (IEC 62056-21 mode D / DSMR). Frames are checked (HCS/FCS, M-Bus checksum, telegram
CRC) before anything is decoded.

Output: one JSON object per decoded push on standard output, keys sorted:
  obis     {"A-B:C.D.E": value}: binary pushes after scaling, in base units (W, var, VA, Wh,
           varh, V, A, Hz); ASCII telegrams with the telegram's own value; values without a
           unit (ids, tariffs) as the text sent; date-times as ISO 8601 local time. A number
           whose scale neither the frame nor a vendor document gives is the raw number and
           has no entry in "units".
  units    {"A-B:C.D.E": unit} for every scaled number
  raw      {"item<N>": value}: values without OBIS code (by position), if any
  flags    e.g. "encrypted", "authenticated", "unscaled", "unknown_list", "no_crc", if any
  format   "dlms" or "dsmr"; also notification_datetime, list_version, system_title or
           identification when the push has them
Every rejected frame or dropped push: one line on standard error with the reason.

options:
  --key HEX       AES-128 encryption key (32 hex digits; 64 for security suite 2)
  --auth-key HEX  authentication key, to verify the GCM tag of authenticated pushes
  --apdu          each input line is one bare APDU in hex (as other readers log decrypted
                  payloads), no HDLC/M-Bus framing
  -h, --help      this text

Exit status: 0 when the input was read to the end (whatever it held), 2 for usage errors.
Runs unchanged under CPython and MicroPython (stdlib only), so the device's decoder is what
gets tested.
"""

import sys


_CHUNK = 512
_HEX_DIGITS = b"0123456789abcdefABCDEF"


def _setup_path():
    # lib/ beside this script's folder (no os.path on MicroPython). CPython searches it first,
    # so no same-named package shadows the device's modules; MicroPython last, so modules
    # precompiled with mpy-cross on MICROPYPATH (as a board holds them) are used when given.
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    repo = here.rsplit("/", 1)[0] if "/" in here else (".." if here == "." else ".")
    lib = repo + "/lib"
    if lib not in sys.path:
        if sys.implementation.name == "micropython":
            sys.path.append(lib)
        else:
            sys.path.insert(0, lib)


def _help():
    # The module docstring; MicroPython does not keep docstrings, so read it from this file
    # there (instead of holding 2 KB of help text in the heap on every run).
    doc = globals().get("__doc__")
    if doc:
        return doc
    with open(__file__) as f:
        text = f.read()
    start = text.find('"""') + 3
    return text[start : text.find('"""', start)]


def _usage_error(message):
    sys.stderr.write("han_decode: %s\nusage: han_decode.py [--key HEX] [--auth-key HEX] "
                     "[--apdu] [FILE|-]  (--help for more)\n" % message)
    sys.exit(2)


def _parse_args(argv):
    options = {"key": "", "auth_key": "", "apdu": False, "file": "-"}
    files = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            sys.stdout.write(_help())
            sys.exit(0)
        elif arg in ("--key", "--auth-key"):
            if i + 1 >= len(argv):
                _usage_error("%s needs a hex value" % arg)
            options["key" if arg == "--key" else "auth_key"] = argv[i + 1]
            i += 1
        elif arg.startswith("--key=") or arg.startswith("--auth-key="):
            name, value = arg[2:].split("=", 1)
            options["key" if name == "key" else "auth_key"] = value
        elif arg == "--apdu":
            options["apdu"] = True
        elif arg.startswith("-") and arg != "-":
            _usage_error("unknown option %s" % arg)
        else:
            files.append(arg)
        i += 1
    if len(files) > 1:
        _usage_error("one input file at most")
    if files:
        options["file"] = files[0]
    return options


def _is_hex_text(data, n):
    for i in range(n):
        b = data[i]
        if b not in _HEX_DIGITS and b not in b" \t\r\n":
            return False
    return True


class _HexFeeder:
    """Hex text in chunks -> bytes for the decoder; an odd digit carries over. The digits are
    gathered in one preallocated buffer: no per-line or per-chunk strings are built."""

    def __init__(self, sink):
        self._sink = sink
        self._digits = bytearray(_CHUNK + 1)
        self._count = 0  # digits held (one carried over from the last chunk at most)
        self.skipped = 0  # characters that are neither hex digits nor whitespace

    def feed(self, text, n):
        import binascii

        digits = self._digits
        k = self._count
        for i in range(n):
            b = text[i]
            if b in _HEX_DIGITS:
                digits[k] = b
                k += 1
            elif b not in b" \t\r\n":
                self.skipped += 1
        even = k & ~1
        if even:
            self._sink(binascii.unhexlify(memoryview(digits)[:even]))
        if k & 1:
            digits[0] = digits[k - 1]
        self._count = k & 1

    def close(self):
        self.skipped += self._count


def _open(path):
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError:
        _usage_error("cannot open %s" % path)


def main(argv):
    options = _parse_args(argv)
    _setup_path()
    from han_meter import HanMeter
    from han_stream import HanStreamDecoder

    try:
        meter = HanMeter({"key": options["key"], "auth_key": options["auth_key"]})
    except ValueError as e:
        _usage_error(str(e).replace("han.key", "--key").replace("han.auth_key", "--auth-key"))

    def on_reject(reason):
        sys.stderr.write("han_decode: rejected: %s\n" % reason)

    decoder = HanStreamDecoder(None, on_reject, meter, out=sys.stdout)
    stream = _open(options["file"])
    if options["apdu"]:
        _decode_apdu_lines(stream, decoder, on_reject)
    else:
        _decode_stream(stream, decoder)
    decoder.end_of_input()
    if stream is not sys.stdin.buffer:
        stream.close()
    return 0


def _decode_stream(stream, decoder):
    # One chunk buffer filled with readinto for the whole input (raw bytes are fed from it).
    chunk = bytearray(_CHUNK)
    n = stream.readinto(chunk)
    if not n:
        return
    hexer = _HexFeeder(decoder.feed) if _is_hex_text(chunk, n) else None
    while n:
        if hexer is None:
            decoder.feed(chunk, n)
        else:
            hexer.feed(chunk, n)
        n = stream.readinto(chunk)
    if hexer is not None:
        hexer.close()
        if hexer.skipped:
            sys.stderr.write("han_decode: ignored %d characters that are not hex digits\n"
                             % hexer.skipped)


def _decode_apdu_lines(stream, decoder, on_reject):
    import binascii

    for line in stream:
        digits = b"".join(line.split())
        if not digits:
            continue
        if len(digits) & 1 or not _is_hex_text(digits, len(digits)):
            on_reject("APDU line is not hex")
            continue
        decoder.decode_apdu(bytearray(binascii.unhexlify(digits)))


if __name__ == "__main__":
    try:
        status = main(sys.argv[1:])
    except KeyboardInterrupt:
        status = 130
    except Exception as e:  # the CLI promises no traceback: report the bug in one line
        sys.stderr.write("han_decode: internal error: %s: %s\n" % (type(e).__name__, e))
        status = 1
    sys.exit(status)
