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


def _setup_path():
    # The decoder's folders, lib/han and lib/core, and lib/config for the --key checks
    # (boards/catalog.py MODULE_FOLDERS), beside this script's folder (no os.path on
    # MicroPython). CPython searches them first, so no
    # same-named package shadows the device's modules; MicroPython last, so modules frozen into
    # the firmware or precompiled with mpy-cross on MICROPYPATH (as a board holds them) are
    # used when given.
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    repo = here.rsplit("/", 1)[0] if "/" in here else (".." if here == "." else ".")
    for folder in ("/lib/han", "/lib/core", "/lib/config"):
        lib = repo + folder
        if lib not in sys.path:
            if sys.implementation.name == "micropython":
                sys.path.append(lib)
            else:
                sys.path.insert(0, lib)


# The program is lib/han/han_cli.py: this script is compiled into the heap each run, a module can
# be frozen into the firmware with the decoder (bytecode in flash).
if __name__ == "__main__":
    try:
        _setup_path()
        # The decoder first: compiled from source (the unix port, a board without frozen
        # modules), its largest modules need their room while the heap is still empty.
        import han_stream  # noqa: F401
        from han_cli import main

        status = main(sys.argv[1:], __file__)
    except KeyboardInterrupt:
        status = 130
    except Exception as e:  # the CLI promises no traceback: report the bug in one line
        sys.stderr.write("han_decode: internal error: %s: %s\n" % (type(e).__name__, e))
        status = 1
    sys.exit(status)
