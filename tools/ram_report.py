#!/usr/bin/env python3
"""Heap taken by importing each board's boot module set, measured on the 32-bit builds.

usage: ram_report.py [--board BOARD ...] [--target T] [--modules M ...] [--json]

For every board of boards/catalog.py (the sim board twice: HAN and ATM90E32 source), imports the
modules the firmware loads at boot for that board's source (app with config handling, reading,
the source chain, the MQTT link, the native and Home Assistant formats, umqtt.simple where the
stock firmware lacks it, and the sim board's own modules; a real board's module imports
`machine` and its `wifi` imports `network`, which the unix port lacks, so those two are left
out) and reports, after gc.collect(), the heap used and whether the imports fit the board's
heap, per module mode (tools/mp_env.py):

  mpy     .mpy files loaded from a filesystem: bytecode copied into the heap
  romfs   the same .mpy files in a ROMFS image: bytecode runs in place, names are interned
  frozen  compiled into the firmware image: bytecode and names stay in flash
  source  .py files compiled at import (not how a board runs; only when asked for)

Target: by default each board's own 32-bit build (esp8266 for the D1 mini and the sim board,
esp32 for the ESP32 boards and the Pico W, whose RP2040 has the ESP32's object model and
float32); --target host gives the 64-bit port's figures (no frozen mode there). The frozen
figures of every board come from the sim board's frozen binary of that flavour
(boards/manifests/sim.py): it freezes the same lib/ and firmware/ modules, the only ones
imported here, so two builds serve all boards.

Each mode is run twice: with -X heapsize set to the board's heap after boot (ESP8266 ~36 KB,
ESP32 ~110 KB, Pico W ~190 KB; the sim rows use the soak budgets, 24K HAN and 48K ATM90E32),
where "fits" says whether every import succeeded; and with a large heap, for the bytes used.

options:
  --board BOARD     report this board only (repeatable); default: every board
  --target T        host, esp8266 or esp32 for every board (default: each board's own)
  --modules M       mpy, romfs, frozen or source (repeatable; default: mpy romfs frozen)
  --json            one JSON object per row instead of the table
  -h, --help        this text

Exit status 0 (the figures are a report, not a test), 1 when a build or a probe fails (the
other figures are still printed), 2 for usage errors.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mp_env

REPO = mp_env.REPO
BIG_HEAP = "1024K"
DEFAULT_MODES = ("mpy", "romfs", "frozen")

# The board's heap after boot (MicroPython docs and the 32-bit build's README; bytes).
PORT_HEAP = {"esp8266": 36 * 1024, "esp32": 110 * 1024, "rp2": 190 * 1024}
# What the sim board is held to (issue 8: the HAN firmware in 24K, the ATM90E32 one in 48K).
SIM_BUDGET = {"han": 24 * 1024, "atm90e32": 48 * 1024}
SIM_TARGET = "esp8266"  # the sim board is measured like the smallest board
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
    import ast

    with open(os.path.join(REPO, "boards", board + ".py")) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "SOURCES" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise ValueError("boards/%s.py has no SOURCES" % board)


def board_target(board):
    """The 32-bit build a board is measured on."""
    port = mp_env.catalog().BOARDS[board]["port"]
    return mp_env.catalog().PORTS[port]["flavour"] or SIM_TARGET


def rows(boards):
    """(board, source, heap bytes, modules) per report row."""
    catalog = mp_env.catalog()
    out = []
    for board in boards:
        spec = catalog.BOARDS[board]
        for source in board_sources(board):
            modules = COMMON + SOURCE_MODULES[source]
            if spec["umqtt"]:  # elsewhere frozen into the stock firmware
                modules += ("umqtt.simple",)
            if board == "sim":
                heap = SIM_BUDGET[source]
                modules = SIM_MODULES[source] + modules
            else:
                heap = PORT_HEAP[spec["port"]]
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


def measure(probe, target, mode, board, heap, modules):
    """Import `modules` on TARGET with BOARD's modules in MODE; the probe's figures."""
    # Frozen: the sim board's image of that flavour holds every lib/ and firmware/ module.
    image_board = "sim" if mode == "frozen" else board
    argv, env = mp_env.command(probe, target=target, modules=mode, board=image_board,
                               heap=heap, args=modules)
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                            cwd=tempfile.gettempdir())
    if result.returncode != 0:
        # A MemoryError outside an import (the probe itself) still says: it does not fit.
        if "MemoryError" in result.stderr + result.stdout:
            return {"failed": "(probe)", "used": None, "free": None}
        raise RuntimeError("probe failed (%s, %s, %s): %s"
                           % (board, target, mode, (result.stderr + result.stdout)[-500:]))
    return _parse(result.stdout)


def report(boards, target=None, modes=DEFAULT_MODES):
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "ram_probe.py")
        with open(probe, "w") as f:
            f.write(_PROBE)
        for board, source, heap, modules in rows(boards):
            row_target = target or board_target(board)
            entry = {"board": board, "source": source, "target": row_target, "heap": heap,
                     "modules": list(modules)}
            for mode in modes:
                if row_target == "host" and mode == "frozen":
                    entry[mode] = None  # the PyPI binary cannot freeze our modules
                    continue
                try:
                    big = measure(probe, row_target, mode, board, BIG_HEAP, modules)
                    fit = measure(probe, row_target, mode, board, "%d" % heap, modules)
                except RuntimeError as e:  # one cell fails; the others are still worth having
                    entry[mode] = {"error": str(e)}
                    continue
                entry[mode] = {
                    "used": big["used"], "qstr_pool": big.get("qstr_pool"),
                    "qstr_text": big.get("qstr_text"), "qstrs": big.get("qstrs"),
                    "fits": fit["failed"] is None, "failed_at": fit["failed"],
                    "free_at_heap": fit["free"]}
            _compat(entry)
            entries.append(entry)
    return entries


def _compat(entry):
    """The keys tools/bench.py read before the 32-bit builds: "ram" is the mpy mode; the
    romfs/frozen figures that were 32-bit estimates are now measured."""
    if entry.get("mpy"):
        entry["ram"] = entry["mpy"]
    if entry.get("romfs"):
        entry["romfs"]["est32_used"] = entry["romfs"].get("used")
        frozen = entry.get("frozen")
        entry["romfs"]["est32_frozen"] = frozen.get("used") if frozen else None


def errors(entries):
    return ["%s/%s %s: %s" % (e["board"], e["source"], mode, e[mode]["error"].splitlines()[-1])
            for e in entries for mode in mp_env.MODULE_MODES
            if e.get(mode) and "error" in e[mode]]


def _k(n):
    return "-" if n is None else "%.1f" % (n / 1024)


def _cell(m):
    if m is None:
        return "n/a"
    if "error" in m:
        return "error"
    if not m["fits"]:
        return "%s NO@%s" % (_k(m["used"]), m["failed_at"])
    return "%s (%s)" % (_k(m["used"]), _k(m["free_at_heap"]))


def table(entries, modes):
    lines = ["Heap taken by importing each board's boot module set (KB after gc.collect(); "
             "(free) = left at the board's heap)", ""]
    head = "%-11s %-8s %-7s %5s" % ("board", "source", "target", "heap")
    for mode in modes:
        head += " | %-22s" % mode
    lines.append(head + " | qstrs (romfs)")
    for e in entries:
        line = "%-11s %-8s %-7s %5s" % (e["board"], e["source"], e["target"], _k(e["heap"]))
        for mode in modes:
            line += " | %-22s" % _cell(e.get(mode))
        romfs = e.get("romfs")
        line += " | %s" % ("%d, %s KB" % (romfs["qstrs"], _k(romfs["qstr_pool"]))
                           if romfs and romfs.get("qstrs") is not None else "-")
        if e["board"] == "d1mini_han":
            verdicts = ["%s %s" % (mode, "ok" if e[mode]["used"] <= ESP8266_BUDGET else "OVER")
                        for mode in modes if e.get(mode) and e[mode].get("used") is not None]
            line += "  budget %s: %s" % (_k(ESP8266_BUDGET), ", ".join(verdicts))
        lines.append(line)
    lines += [
        "",
        "heap: the board's free heap after boot (sim: the soak budget), given as -X heapsize;",
        "  NO@module = a MemoryError importing it. Used figures come from a 1 MB heap.",
        "target: the 32-bit unix build configured like the board (tools/mp_env.py); host = the",
        "  64-bit PyPI port. On the 32-bit builds umqtt.simple is frozen in every mode (as in",
        "  the stock ESP32/ESP8266 firmware; the Pico W's rp2 firmware lacks it, so its rows",
        "  count umqtt too little). frozen: the sim board's frozen image of the same flavour.",
        "qstrs: names interned into the heap by the ROMFS imports (frozen ones stay in flash).",
        "Not loadable on the unix port: the board module (machine) and boards/wifi.py (network).",
        "Runtime buffers and objects come on top (host_tests/test_heap_soak.py).",
    ]
    lines += ["error: " + line for line in errors(entries)]
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, "ram_report: %s (--help)\n" % message)


def main(argv=None):
    boards = list(mp_env.catalog().BOARDS)
    parser = _Parser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     usage="ram_report.py [--board BOARD ...] [--target T] [--modules M ...] "
                           "[--json]")
    parser.add_argument("--board", action="append", choices=boards,
                        help="report this board only (repeatable)")
    parser.add_argument("--target", choices=mp_env.TARGETS,
                        help="every board on this target (default: each board's own build)")
    parser.add_argument("--modules", action="append", choices=mp_env.MODULE_MODES,
                        help="module mode (repeatable; default: mpy romfs frozen)")
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args(argv)
    modes = tuple(args.modules or DEFAULT_MODES)
    try:
        entries = report(args.board or boards, args.target, modes)
    except (mp_env.TargetError, RuntimeError, subprocess.TimeoutExpired) as e:
        print("ram_report: %s" % e, file=sys.stderr)
        return 1
    if args.json:
        for e in entries:
            print(json.dumps(e))
    else:
        print(table(entries, modes))
    failed = errors(entries)
    for line in failed:
        print("ram_report: %s" % line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
