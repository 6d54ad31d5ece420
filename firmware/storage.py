# Small files on the board's flash, written so that a reset at any moment leaves either the old
# or the new content: write a temporary file, then rename it over the target. LittleFS (the
# default on ESP32/ESP8266/rp2) renames atomically; FAT does not (MicroPython docs,
# reference/filesystem.rst), so boards must keep the default LittleFS.
import os


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path):
    try:
        os.remove(path)
    except OSError:
        return False
    return True


def write_atomic(path, data):
    """Replace `path` with `data` (str or bytes) atomically. OSError (e.g. flash full) leaves
    the old file untouched and is raised to the caller."""
    write_pieces_atomic(path, (data,), "wb" if isinstance(data, (bytes, bytearray)) else "w")


def write_pieces_atomic(path, pieces, mode="wb"):
    """write_atomic() of the concatenated `pieces`, written one by one (never held whole)."""
    tmp = path + ".tmp"
    try:
        with open(tmp, mode) as f:
            for piece in pieces:
                f.write(piece)
        os.rename(tmp, path)
    except BaseException:
        # flash full, or an interrupt (Ctrl-C) half-way: no partial temp file is left behind
        remove(tmp)
        raise


def read_text(path):
    """The file's text, or None when it does not exist or cannot be read."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def chunks(path, size=128):
    """The file's bytes in pieces of up to `size` bytes, read into one buffer (each piece is
    valid until the next is read): for streaming a file without holding it whole."""
    buf = bytearray(size)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                return
            yield view[:n]
