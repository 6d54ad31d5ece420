"""Read HAN captures on the host and turn them into the sim board's replay file (CPython only).

Accepted inputs:
- hex text: one push per line (whitespace inside a line ignored, `#` comments and blank lines
  skipped); a line `pause SECONDS` keeps the line silent that long (tests of a silent meter);
- a `.jsonl` corpus like host_tests/data/han_frames.jsonl: each entry's `hex` or `text` is a push;
- raw bytes: split into pushes at HDLC frame boundaries (flag + format field + length) and at the
  end of ASCII telegrams (`!` + CRC + CR LF); bytes between frames stay with the following push.
The replay file is a sequence of (2-byte big-endian length, push bytes); a zero length is followed
by a 2-byte big-endian pause in units of 10 ms. See boards/sim_uart.py.
"""

import binascii
import json
import string

_HEX = set(string.hexdigits + string.whitespace)


class Pause:
    """A silent stretch of line in a capture."""

    def __init__(self, seconds):
        if not 0 < seconds <= 655:
            raise ValueError("pause must be 0..655 s")
        self.seconds = seconds


def _is_hex_text(data):
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return False
    lines = [ln for ln in text.splitlines()
             if ln.strip() and not ln.lstrip().startswith(("#", "pause"))]
    return bool(lines) and all(set(ln) <= _HEX for ln in lines)


def split_raw(data):
    """Split a raw byte stream into pushes (see the module docstring)."""
    pushes, start, i = [], 0, 0
    while i < len(data):
        b = data[i]
        if b == 0x7E and i + 2 < len(data) and data[i + 1] & 0xF0 == 0xA0:
            length = ((data[i + 1] & 0x07) << 8) | data[i + 2]
            end = i + length + 2  # opening flag + length bytes + closing flag
            if end <= len(data):
                pushes.append(data[start:end])
                start = i = end
                continue
        if b == ord("!"):
            line_end = data.find(b"\n", i)
            if 0 <= line_end - i <= 7:
                pushes.append(data[start:line_end + 1])
                start = i = line_end + 1
                continue
        i += 1
    if start < len(data):
        pushes.append(data[start:])
    return pushes


def load_pushes(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".jsonl"):
        pushes = []
        for line in data.decode("utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                if entry.get("hex"):
                    pushes.append(binascii.unhexlify(entry["hex"]))
                elif entry.get("text"):
                    pushes.append(entry["text"].encode("latin-1"))
        return pushes
    if _is_hex_text(data):
        pushes = []
        for line in data.decode("ascii").splitlines():
            if line.strip().startswith("pause"):
                pushes.append(Pause(float(line.split()[1])))
                continue
            line = "".join(line.split())
            if line and not line.startswith("#"):
                if len(line) % 2:
                    raise ValueError("odd number of hex digits in %s" % path)
                pushes.append(binascii.unhexlify(line))
        return pushes
    return split_raw(data)


def write_replay(pushes, path):
    if not pushes:
        raise ValueError("the capture holds no data")
    with open(path, "wb") as f:
        for push in pushes:
            if isinstance(push, Pause):
                f.write(b"\0\0" + int(push.seconds * 100).to_bytes(2, "big"))
                continue
            for offset in range(0, len(push), 4096):
                chunk = push[offset:offset + 4096]
                f.write(len(chunk).to_bytes(2, "big") + chunk)
