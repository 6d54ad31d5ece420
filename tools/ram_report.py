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

The unix port is 64-bit, the boards are 32-bit. For 32-bit figures the same imports run on
MicroPython's WebAssembly port (wasm32: 4-byte objects and pointers, 16-byte GC blocks, like
the boards) under node, from RAM-loaded .mpy, when it is installed (see WASM_HINT). It has no
ROMFS, so the 32-bit ROMFS figure is estimated: its RAM figure minus what ROMFS saved on the
64-bit port (the copied bytecode and constant data, which are bytes and do not shrink); and
frozen modules (firmware built with the modules in a manifest) also keep the qstr pool and
the raw-code structures in flash: "frozen" is the ROMFS estimate minus the measured 32-bit
qstr pool, an upper bound. Measured on wasm32 (see the README's RAM section), objects shrink
only ~10-20% from 64-bit to 32-bit here: halving the 64-bit figures would be far too hopeful.
socket/usocket, which the wasm port lacks, are empty stand-in modules there.

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
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy
import mp_env
import mp_romfs

REPO = mp_env.REPO
BIG_HEAP = "1024K"
WASM_PACKAGE = "@micropython/micropython-webassembly-pyscript"
WASM_DIR = os.path.join(REPO, ".deps", "micropython-wasm")
WASM_MJS = os.path.join(WASM_DIR, "node_modules", WASM_PACKAGE, "micropython.mjs")
WASM_HINT = ("32-bit figures need node and MicroPython's WebAssembly port: mkdir -p %s && "
             "cd %s && echo {} > package.json && npm install %s@1.27.0"
             % (os.path.relpath(WASM_DIR, REPO), os.path.relpath(WASM_DIR, REPO), WASM_PACKAGE))

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

# node wasm_probe.mjs MICROPYTHON_MJS LIB_DIR MODULE...: the _PROBE above on wasm32, with the
# .mpy files of LIB_DIR copied into its in-memory filesystem at /lib.
_WASM_PROBE = r"""
import fs from "fs";
import path from "path";
import { pathToFileURL } from "url";
const [mjs, lib, ...mods] = process.argv.slice(2);
const { loadMicroPython } = await import(pathToFileURL(mjs).href);
const mp = await loadMicroPython({ heapsize: 1024 * 1024, linebuffer: false,
                                   stdout: (d) => process.stdout.write(d) });
function copy(src, dst) {
  mp.FS.mkdirTree(dst);
  for (const name of fs.readdirSync(src)) {
    const s = path.join(src, name), d = dst + "/" + name;
    if (fs.statSync(s).isDirectory()) copy(s, d); else mp.FS.writeFile(d, fs.readFileSync(s));
  }
}
copy(lib, "/lib");
for (const stub of ["socket", "usocket"]) mp.FS.writeFile("/lib/" + stub + ".py", "");
try {
  mp.runPython("import sys\nsys.argv[:] = " + JSON.stringify(["probe", ...mods]) + "\n" + PROBE);
} catch (e) {
  process.stderr.write(String(e.message || e).slice(0, 400) + "\n");
  process.exit(1);
}
"""

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


def wasm_available():
    return os.path.exists(WASM_MJS) and shutil.which("node") is not None


def measure_wasm(tree, modules, probe_dir):
    """The probe on MicroPython's wasm32 port, from RAM-loaded .mpy (32-bit bytes)."""
    script = os.path.join(probe_dir, "wasm_probe.mjs")
    if not os.path.exists(script):
        with open(script, "w") as f:
            f.write("const PROBE = %s;\n" % json.dumps(_PROBE) + _WASM_PROBE)
    result = subprocess.run(["node", script, WASM_MJS, os.path.join(tree, "tree", "lib")]
                            + list(modules), capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError("wasm probe failed: %s" % (result.stderr + result.stdout)[-500:])
    return _parse(result.stdout)


def report(boards):
    entries = []
    wasm = wasm_available()
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
                    "fits": fit["failed"] is None, "failed_at": fit["failed"],
                    "free_at_heap": fit["free"]}
            if wasm and board != "sim":  # the sim board reads os.getenv, which wasm lacks
                w = measure_wasm(tree, modules, tmp)
                romfs_saving = entry["ram"]["used"] - entry["romfs"]["used"]
                romfs32 = w["used"] - romfs_saving
                entry["wasm32"] = {"ram_used": w["used"], "qstr_pool": w["qstr_pool"],
                                   "romfs_est": romfs32, "frozen_est": romfs32 - w["qstr_pool"]}
            entries.append(entry)
    _add_32bit_estimates(entries)
    return entries


def _add_32bit_estimates(entries):
    """romfs.est32_used / est32_frozen for every row: from the wasm32 measurement where there
    is one, else the 64-bit ROMFS figure scaled by the 32/64 ratio the measured rows showed
    (est32_scaled true); None when no row was measured on wasm32."""
    measured = [e for e in entries if e.get("wasm32")]
    ratios = [(e["wasm32"]["romfs_est"] / e["romfs"]["used"],
               e["wasm32"]["frozen_est"] / e["romfs"]["used"]) for e in measured]
    for e in entries:
        r = e["romfs"]
        if e.get("wasm32"):
            r["est32_used"] = e["wasm32"]["romfs_est"]
            r["est32_frozen"] = e["wasm32"]["frozen_est"]
            r["est32_scaled"] = False
        elif ratios:
            r["est32_used"] = int(r["used"] * sum(a for a, _ in ratios) / len(ratios))
            r["est32_frozen"] = int(r["used"] * sum(b for _, b in ratios) / len(ratios))
            r["est32_scaled"] = True
        else:
            r["est32_used"] = r["est32_frozen"] = r["est32_scaled"] = None


def _k(n):
    return "-" if n is None else "%.1f" % (n / 1024)


def table(entries):
    lines = [
        "Heap taken by importing each board's boot module set (KB, after gc.collect())",
        "",
        "%-11s %-8s %5s | %-40s | %-36s" % (
            "", "", "", "64-bit unix port (measured)", "32-bit (wasm32 measured; est.)"),
        "%-11s %-8s %5s | %-13s %-17s %4s %4s | %5s %11s %11s %s" % (
            "board", "source", "heap", "ram .mpy", "romfs (free)", "qstr", "pool",
            "ram", "romfs est.", "frozen est.", ""),
    ]
    for e in entries:
        cells = []
        for mode in ("ram", "romfs"):
            m = e[mode]
            if not m["fits"]:
                fits = "NO"
            else:
                fits = "(%s)" % _k(m["free_at_heap"]) if mode == "romfs" else "fits"
            cells.append("%5s %s" % (_k(m["used"]), fits))
        r = e["romfs"]
        w = e.get("wasm32")
        if w:
            romfs = "%s (%s)" % (_k(w["romfs_est"]), _k(e["heap"] - w["romfs_est"]))
            frozen = "%s (%s)" % (_k(w["frozen_est"]), _k(e["heap"] - w["frozen_est"]))
            left = "%5s %-12s %-12s" % (_k(w["ram_used"]), romfs, frozen)
            if e["board"] == "d1mini_han":
                left += "  budget %s: romfs %s, frozen %s" % (
                    _k(ESP8266_BUDGET), "ok" if w["romfs_est"] <= ESP8266_BUDGET else "OVER",
                    "ok" if w["frozen_est"] <= ESP8266_BUDGET else "OVER")
        elif r["est32_used"] is not None:
            romfs = "~%s (%s)" % (_k(r["est32_used"]), _k(e["heap"] - r["est32_used"]))
            frozen = "~%s (%s)" % (_k(r["est32_frozen"]), _k(e["heap"] - r["est32_frozen"]))
            left = "%5s %-12s %-12s" % ("-", romfs, frozen)
        else:
            left = "not measured"
        lines.append("%-11s %-8s %5s | %-13s %-17s %4d %4s | %s" % (
            e["board"], e["source"], _k(e["heap"]), cells[0], cells[1], r["qstrs"],
            _k(r["qstr_pool"]), left))
    failed = ["%s/%s: %s" % (e["board"], e["source"], ", ".join(
        "%s at %s" % (mode, e[mode]["failed_at"]) for mode in ("ram", "romfs")
        if not e[mode]["fits"])) for e in entries if not (e["ram"]["fits"] and e["romfs"]["fits"])]
    lines += [
        "",
        "heap: the board's free heap after boot (sim: the soak budget), given as -X heapsize",
        "  on the 64-bit port: NO = a MemoryError before the last import; (free) = what was left.",
        "  Used figures come from a 1 MB heap. qstr, pool: interned names and their pool (bytes",
        "  of RAM even from ROMFS; frozen modules keep them in flash).",
        "32-bit: ram measured on MicroPython's wasm32 port; romfs est. = that minus what ROMFS",
        "  saved at 64-bit; frozen est. = romfs est. minus the 32-bit qstr pool (an upper bound:",
        "  frozen raw code is in flash too). (left) = the board's heap minus that; ~ = not",
        "  measured (the sim board reads os.getenv, which wasm lacks): its 64-bit ROMFS figure",
        "  scaled by the 32/64 ratio of the measured rows. Runtime",
        "  buffers and objects come on top (host_tests/test_heap_soak.py).",
        "Not loadable on the unix port: the board module (machine) and boards/wifi.py (network).",
    ]
    if failed:
        lines.append("MemoryError at the board's heap (64-bit): " + "; ".join(failed))
    if not any(e.get("wasm32") for e in entries):
        lines.append(WASM_HINT)
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
