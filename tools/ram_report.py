#!/usr/bin/env python3
"""Free heap after importing each board's module set, on the MicroPython unix port.

usage: ram_report.py [--board BOARD ...] [--json]

For every board of tools/deploy.py (the sim board twice: HAN and ATM90E32 source), imports the
modules the firmware loads at boot for that board's source (app with config handling, reading,
the source chain, the MQTT link, the native and Home Assistant formats, umqtt.simple where the
stock firmware lacks it (ESP32 and ESP8266 builds have it frozen in), and the sim board's own
modules; a real board's module imports `machine` and its `wifi` imports `network`, which the
unix port lacks, so those two are left out) and reports, after gc.collect():

  ram     .mpy files loaded from a filesystem (MICROPYPATH): bytecode copied into the heap
  romfs   the same .mpy files in a ROMFS image (tools/mp_romfs.py): bytecode runs from flash

Each is run twice: with -X heapsize set to the board's heap after boot (ESP8266 ~36 KB,
ESP32 ~110 KB, Pico W ~190 KB; the sim rows use the soak budgets, 24K HAN and 48K ATM90E32),
where "fits" says whether every import succeeded; and with a large heap, for the bytes used.

The unix port is 64-bit, the boards are 32-bit: pointers, object headers and GC blocks (32
bytes here, 16 there) are twice a board's, so the raw figures overstate a board's use. The
"32-bit est." column is (used - qstr text) / 2 + qstr text: everything halves except the
characters of interned names. It is an estimate, not a board measurement. Frozen modules
(firmware built with the modules in a manifest) also put the qstr pool and the raw-code
structures in flash: the "qstr pool" column is what that removes on top of ROMFS (64-bit bytes).

options:
  --board BOARD   report this board only (repeatable); default: every board
  --json          one JSON object per row instead of the table
  -h, --help      this text

Exit status 0 (the figures are a report, not a test), 2 for usage errors.
"""

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy
import mp_env
import mp_romfs

REPO = mp_env.REPO
BIG_HEAP = "1024K"

# The board's heap after boot (MicroPython docs and measurements on the boards; 32-bit bytes).
PLATFORM_HEAP = {"esp8266": 36 * 1024, "esp32": 110 * 1024, "rp2": 190 * 1024}
BOARD_PLATFORM = {"d1mini_han": "esp8266", "esp32_han": "esp32", "esp32_split": "esp32",
                  "esp32_6ch": "esp32", "picow_ct6": "rp2"}
# What the sim board is held to (issue 8: the HAN firmware in 24K, the ATM90E32 one in 48K).
SIM_BUDGET = {"han": 24 * 1024, "atm90e32": 48 * 1024}
# The ESP8266 HAN build must leave the firmware this much (issue 7): used must stay below it.
ESP8266_BUDGET = 24 * 1024

# Modules firmware/app.py imports at boot and on the first publish, by source; their own
# imports follow. Modules imported only for a command, a signed message or a disabled format
# (commands, signing, ct6, victron, tasmota, values) are not counted.
COMMON = ("app", "reading", "mqtt_link", "native", "home_assistant")
SOURCE_MODULES = {"han": ("han_source",), "atm90e32": ("atm90e32_source", "energy_store")}
SIM_MODULES = {"han": ("boards.sim", "boards.sim_uart"),
               "atm90e32": ("boards.sim", "boards.sim_atm90e32")}

_PROBE = r'''
import gc
import sys
import micropython


def _qstr():
    micropython.qstr_info()


gc.collect()
print("BASE", gc.mem_alloc(), gc.mem_free())
_qstr()
failed = None
for name in sys.argv[1:]:
    try:
        __import__(name)
    except MemoryError:
        failed = name
        break
gc.collect()
print("END", gc.mem_alloc(), gc.mem_free(), failed or "-")
_qstr()
'''

_QSTR = re.compile(r"n_qstr=(\d+), n_str_data_bytes=(\d+), n_total_bytes=(\d+)")


def board_sources(board):
    """SOURCES of a board module, read from its source (it imports machine)."""
    with open(os.path.join(REPO, "boards", board + ".py")) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "SOURCES" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise ValueError("boards/%s.py has no SOURCES" % board)


def rows(boards):
    """(board, source, heap bytes, modules) per report row."""
    out = []
    for board in boards:
        for source in board_sources(board):
            modules = COMMON + SOURCE_MODULES[source]
            if deploy.BOARDS[board]["umqtt"]:  # elsewhere frozen into the stock firmware
                modules += ("umqtt.simple",)
            if board == "sim":
                heap = SIM_BUDGET[source]
                modules = SIM_MODULES[source] + modules
            else:
                heap = PLATFORM_HEAP[BOARD_PLATFORM[board]]
            out.append((board, source, heap, modules))
    return out


def _parse(output):
    result = {}
    qstrs = []
    for line in output.splitlines():
        parts = line.split()
        if parts[:1] == ["BASE"]:
            result["base_alloc"] = int(parts[1])
        elif parts[:1] == ["END"]:
            result["alloc"], result["free"] = int(parts[1]), int(parts[2])
            result["failed"] = None if parts[3] == "-" else parts[3]
        else:
            m = _QSTR.search(line)
            if m:
                qstrs.append([int(g) for g in m.groups()])
    if "alloc" not in result or len(qstrs) != 2:
        raise RuntimeError("probe output not understood: %s" % output[-500:])
    result["used"] = result["alloc"] - result["base_alloc"]
    result["qstr_pool"] = qstrs[1][2] - qstrs[0][2]
    result["qstr_text"] = qstrs[1][1] - qstrs[0][1]
    result["qstrs"] = qstrs[1][0] - qstrs[0][0]
    return result


def measure(tree, mode, heap, modules, probe):
    """Import `modules` under the unix port from a board's compiled tree (mp_romfs.build_tree)
    as RAM-loaded .mpy or from its ROMFS image; the probe's figures (64-bit bytes)."""
    if mode == "romfs":
        image = os.path.join(tree, mp_romfs.IMAGE_NAME)
        argv, env = mp_romfs.romfs_command(probe, modules, image=image, heap=heap)
    else:
        argv = mp_env.micropython_command(probe, heap=heap, args=modules)
        env = dict(os.environ)
        env["MICROPYPATH"] = os.path.join(tree, "tree", "lib") + ":" + mp_romfs.FROZEN_PATH
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                            cwd=tempfile.gettempdir())
    if result.returncode != 0:
        # A MemoryError outside an import (the probe itself) still says: it does not fit.
        if "MemoryError" in result.stderr + result.stdout:
            return {"failed": "(probe)", "used": None, "free": None}
        raise RuntimeError("probe failed (%s, %s): %s"
                           % (tree, mode, (result.stderr + result.stdout)[-500:]))
    return _parse(result.stdout)


def estimate_32bit(used, qstr_text):
    return (used - qstr_text) // 2 + qstr_text


def report(boards):
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "ram_probe.py")
        with open(probe, "w") as f:
            f.write(_PROBE)
        trees = {}
        for board, source, heap, modules in rows(boards):
            if board not in trees:
                trees[board] = mp_romfs.build_tree(board)
            tree = trees[board]
            entry = {"board": board, "source": source, "heap": heap,
                     "modules": list(modules)}
            for mode in ("ram", "romfs"):
                big = measure(tree, mode, BIG_HEAP, modules, probe)
                fit = measure(tree, mode, "%d" % heap, modules, probe)
                entry[mode] = {
                    "used": big["used"], "qstr_pool": big["qstr_pool"],
                    "qstr_text": big["qstr_text"], "qstrs": big["qstrs"],
                    "est32_used": estimate_32bit(big["used"], big["qstr_text"]),
                    "est32_frozen": estimate_32bit(big["used"] - big["qstr_pool"], 0),
                    "fits": fit["failed"] is None, "failed_at": fit["failed"],
                    "free_at_heap": fit["free"]}
            entries.append(entry)
    return entries


def _k(n):
    return "-" if n is None else "%.1f" % (n / 1024)


def table(entries):
    lines = [
        "Heap after importing each board's boot module set (KB; MicroPython unix port, 64-bit;"
        " gc.collect() after the imports)",
        "",
        "%-11s %-8s %5s | %-28s | %-28s | %5s %5s | %s" % (
            "board", "source", "heap", "ram .mpy: used  fits", "romfs: used  fits(free)",
            "qstrs", "pool", "32-bit est.: romfs, frozen used (left)"),
    ]
    for e in entries:
        cells = []
        for mode in ("ram", "romfs"):
            m = e[mode]
            if not m["fits"]:
                fits = "NO: " + m["failed_at"]
            else:
                fits = "yes(%s)" % _k(m["free_at_heap"]) if mode == "romfs" else "yes"
            cells.append("%6s  %-20s" % (_k(m["used"]), fits))
        r = e["romfs"]
        note = ""
        if e["board"] == "d1mini_han":
            note = "  budget %s: romfs %s, frozen %s" % (
                _k(ESP8266_BUDGET), "ok" if r["est32_used"] <= ESP8266_BUDGET else "OVER",
                "ok" if r["est32_frozen"] <= ESP8266_BUDGET else "OVER")
        lines.append("%-11s %-8s %5s | %s | %s | %5d %5s | %s (%s), %s (%s)%s" % (
            e["board"], e["source"], _k(e["heap"]), cells[0], cells[1], r["qstrs"],
            _k(r["qstr_pool"]), _k(r["est32_used"]), _k(e["heap"] - r["est32_used"]),
            _k(r["est32_frozen"]), _k(e["heap"] - r["est32_frozen"]), note))
    lines += [
        "",
        "heap: -X heapsize given: the board's free heap after boot (sim: the soak budget).",
        "used: bytes the imports took (large heap); fits: every import succeeded at `heap`",
        "  (free: what was left, 64-bit). qstrs, pool: interned names and their pool (64-bit",
        "  bytes), in RAM even from ROMFS. 32-bit est.: (used - qstr text) / 2 + qstr text;",
        "  frozen: that minus the pool (frozen modules keep names and raw code in flash; the",
        "  raw code is not subtracted, so frozen is an upper bound); left: heap minus used.",
        "  Runtime buffers and objects come on top (host_tests/test_heap_soak.py).",
        "Not loadable on the unix port: the board module (machine) and boards/wifi.py (network).",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     usage="ram_report.py [--board BOARD ...] [--json]")
    parser.add_argument("--board", action="append", choices=sorted(deploy.BOARDS),
                        help="report this board only (repeatable)")
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args(argv)
    boards = args.board or list(deploy.BOARDS)
    try:
        entries = report(boards)
    except (mp_romfs.RomfsError, RuntimeError, subprocess.TimeoutExpired) as e:
        print("ram_report: %s" % e, file=sys.stderr)
        return 1
    if args.json:
        for e in entries:
            print(json.dumps(e))
    else:
        print(table(entries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
