# portable
# Helpers shared by tests on CPython (pytest) and MicroPython (host_tests/mp_runner.py).
import json

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
REPO = _HERE.rsplit("/", 1)[0] if "/" in _HERE else "."
DATA = _HERE + "/data"


class Skip(Exception):
    """Raised by skip() under MicroPython; pytest gets its own skip."""


def skip(reason):
    try:
        import pytest
    except ImportError:
        raise Skip(reason) from None
    pytest.skip(reason)


def han_corpus():
    """The real HAN/P1 captures (see host_tests/data/README.md), one dict per entry."""
    entries = []
    with open(DATA + "/han_frames.jsonl") as f:
        for line in f:
            line = line.strip()
            if line:
                entries.append(json.loads(line))
    return entries


def approx_equal(a, b, rel=1e-6):
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return a == b
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


def running_on_micropython():
    import sys

    return sys.implementation.name == "micropython"


def scratch_path(name):
    """A file name in the temporary folder (CPython: the system's; MicroPython: /tmp)."""
    try:
        import tempfile

        folder = tempfile.gettempdir()
    except ImportError:
        folder = "/tmp"
    return "%s/%s" % (folder, name)
