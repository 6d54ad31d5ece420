"""Where the host finds the MicroPython unix port and the firmware's module path (CPython only).

One definition shared by `tools/sim.py`, the tests and the Makefile (`python tools/mp_env.py
path` prints MICROPYPATH), so the sim board and the tests run the firmware the same way.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Order matters: firmware and libraries first, then the repo root (the `boards` package), then the
# fetched third-party modules (umqtt.simple), which on a real board are frozen into the firmware.
SOURCE_DIRS = ("firmware", "lib", "", ".deps")


def micropython_binary():
    candidate = os.path.join(REPO, ".venv", "bin", "micropython")
    if os.path.exists(candidate):
        return candidate
    return os.path.join(os.path.dirname(sys.executable), "micropython")


def micropython_path(extra=()):
    dirs = [os.path.join(REPO, d) if d else REPO for d in SOURCE_DIRS]
    return ":".join(list(extra) + dirs)


def micropython_env(extra_path=(), base=None):
    env = dict(os.environ if base is None else base)
    env["MICROPYPATH"] = micropython_path(extra_path)
    return env


def micropython_command(script, heap=None, args=()):
    cmd = [micropython_binary()]
    if heap:
        cmd += ["-X", "heapsize=%s" % heap]
    return cmd + [script] + list(args)


if __name__ == "__main__":
    if sys.argv[1:] == ["path"]:
        print(micropython_path())
    elif sys.argv[1:] == ["binary"]:
        print(micropython_binary())
    else:
        raise SystemExit("usage: mp_env.py path|binary")
