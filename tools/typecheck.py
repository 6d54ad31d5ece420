#!/usr/bin/env python3
"""Type-check the firmware, lib/ and each port's board modules against that port's MicroPython
stubs (mypy; stubs installed by `make setup` into .typings/<port>).

The stubs differ per port (no `esp32` module in the esp8266 stubs), so each port is checked on
its own with only its own board modules. A clean check does not prove the port supports a
feature: the stubs merge documentation across ports (e.g. they show UART `invert` on the
ESP8266, which lacks it); board modules guard such calls themselves.

usage: typecheck.py [PORT ...]   (default: esp32 esp8266 rp2)
"""

import glob
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mp_env

REPO = mp_env.REPO


def _port_boards():
    """Board modules per port, from boards/catalog.py; the sim board (unix port) is checked by
    the tests instead."""
    catalog = mp_env.catalog()
    ports = {}
    for port in ("esp32", "esp8266", "rp2"):
        modules = ports.setdefault(port, [])
        for board in catalog.boards_on(port):
            modules += [m for m in catalog.BOARDS[board]["modules"] if m not in modules]
    return {port: tuple(modules) for port, modules in ports.items()}


PORT_BOARDS = _port_boards()
# Modules that only exist for the host: CPython stand-ins for MicroPython built-ins.
HOST_ONLY = {"lib/core/micropython.py", "lib/core/cpython_ticks.py"}


def files_for(port):
    files = []
    for folder in mp_env.catalog().MODULE_FOLDERS:
        for path in sorted(glob.glob(os.path.join(REPO, folder, "*.py"))):
            rel = os.path.relpath(path, REPO)
            if rel not in HOST_ONLY:
                files.append(rel)
    for board in PORT_BOARDS[port]:
        rel = os.path.join("boards", board + ".py")
        if os.path.exists(os.path.join(REPO, rel)):
            files.append(rel)
    return files


def check(port):
    stubs = os.path.join(REPO, ".typings", port)
    if not os.path.isdir(stubs):
        print("typecheck: no stubs for %s; run make setup" % port, file=sys.stderr)
        return 2
    env = dict(os.environ)
    # Stubs first, so `micropython`, `time`, `machine` resolve to the port's, not CPython's.
    # .deps holds umqtt.simple, which make deploy puts on boards whose stock firmware lacks it
    # (Pico W); after the port's own stubs so a frozen umqtt's stub wins where there is one.
    env["MYPYPATH"] = os.pathsep.join([stubs] + mp_env.source_dirs())
    cmd = [sys.executable, "-m", "mypy", "--custom-typeshed-dir", stubs,
           "--no-site-packages", "--follow-imports", "silent", "--explicit-package-bases",
           "--no-error-summary", "--cache-dir", os.path.join(REPO, ".mypy_cache", port),
           "--python-version", "3.11",
           "--config-file", os.path.join(REPO, "tools", "mypy.ini")] + files_for(port)
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    # Errors inside the stubs themselves (the rp2 board stubs have some) are not ours to fix;
    # everything about our files counts.
    raw = (result.stdout + result.stderr).splitlines()
    lines = [line for line in raw if line.strip() and not line.startswith(".typings")]
    out = "\n".join(lines) or "\n".join(raw[-5:])
    ours = [line for line in lines if ": error:" in line]
    crashed = result.returncode != 0 and not any(": error:" in line for line in raw)
    if ours or crashed:
        print("typecheck %s: FAILED" % port)
        print(out)
        return 1
    print("typecheck %s: ok (%d files)" % (port, len(files_for(port))))
    return 0


def main():
    ports = sys.argv[1:] or list(PORT_BOARDS)
    if any(p in ("-h", "--help") for p in ports):
        print(__doc__)
        return 0
    unknown = [p for p in ports if p not in PORT_BOARDS]
    if unknown:
        print("typecheck: unknown port %s (known: %s)" % (unknown[0], ", ".join(PORT_BOARDS)),
              file=sys.stderr)
        return 2
    return max(check(port) for port in ports)


if __name__ == "__main__":
    sys.exit(main())
