# tools/han_decode.py's whole command line program (the script itself is a small entry that
# imports this): frozen into the firmware image with the decoder, its bytecode stays in flash
# and only its data takes heap, so the CLI decodes on a board-sized heap (24 KB on the 32-bit
# ESP8266-like build). Usage, options, output and exit status: tools/han_decode.py's docstring.
import sys


_CHUNK = 512
_HEX_DIGITS = b"0123456789abcdefABCDEF"


def _help(script):
    # The script's docstring, read from its file: MicroPython keeps no docstrings (and the help
    # text is not held in the heap on every run), and CPython prints the same bytes.
    with open(script) as f:
        text = f.read()
    start = text.find('"""') + 3
    return text[start : text.find('"""', start)]


def _usage_error(message):
    sys.stderr.write("han_decode: %s\nusage: han_decode.py [--key HEX] [--auth-key HEX] "
                     "[--apdu] [FILE|-]  (--help for more)\n" % message)
    sys.exit(2)


def _parse_args(argv, script):
    options = {"key": "", "auth_key": "", "apdu": False, "file": "-"}
    files = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            sys.stdout.write(_help(script))
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


def _key_settings(options):
    """The han settings of --key/--auth-key, checked by the config schema's rows for han.key
    and han.auth_key (what the firmware accepts); a usage error names the option. Blanks and
    colons between the digits are allowed here, as keys are often written in groups."""
    settings = {}
    for name, option in (("key", "--key"), ("auth_key", "--auth-key")):
        text = options[name].replace(" ", "").replace(":", "")
        if text:
            import config_schema

            _, error = config_schema.check("han." + name, text)
            if error:
                _usage_error(error.replace("han." + name, option, 1))
        settings[name] = text
    # the schema is not needed for decoding: its heap goes back to the decoder
    sys.modules.pop("config_schema", None)
    return settings


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


def main(argv, script):
    """Run the CLI on argv (without the program name); script: tools/han_decode.py's path, for
    --help. Returns the exit status (usage errors exit with 2 through SystemExit)."""
    options = _parse_args(argv, script)
    settings = _key_settings(options)
    from han_meter import HanMeter
    from han_stream import HanStreamDecoder

    meter = HanMeter(settings)

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
