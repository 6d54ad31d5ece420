"""How the host runs MicroPython: which interpreter (target), where the firmware's modules come
from (module mode), and the module path (CPython only).

One definition shared by tools/sim.py, ram_report.py, bench.py and the tests, so they all run
the firmware the same way:

    argv, env = mp_env.command("firmware/main.py", target="esp8266", modules="frozen",
                               board="sim", heap="38K", args=(), base_env=None, extra_path=())
    subprocess.run(argv, env=env, cwd=...)

Targets:
  host     the .venv `micropython` (PyPI unix port): 64-bit, double floats
  esp8266  32-bit unix port with the ESP8266's object model (floats need no heap), float32
  esp32    32-bit unix port with the ESP32's (and RP2040's) object model, float32
The 32-bit binaries come from tools/mp32_build.py (../shared/micropython32/build.sh, or a build
of the MicroPython checkout MICROPY_SRC names). On them the sim board's emulated hardware
(boards/sim_uart.py, boards/sim_atm90e32.py) and umqtt.simple are frozen into the binary in every
module mode (boards/manifests/sim_stock.py), as a board's hardware and its stock firmware's
umqtt cost no heap, and `.frozen` leads the module path so frozen modules win, as on a board.
(For a Pico W emulated with --target esp32 the frozen umqtt is a small inaccuracy: the stock
rp2 image lacks it and make deploy puts it in /lib.)

Module modes (the firmware's own modules: lib/, firmware/, boards/__init__.py, the board's):
  source  the .py files on MICROPYPATH, compiled into the heap at import
  mpy     the .mpy files `make deploy` copies to BOARD (tools/deploy.py compile_tree), loaded
          into the heap from a folder on MICROPYPATH, as from a board's filesystem
  romfs   the same .mpy files in a ROMFS image (tools/mp_romfs.py), executed in place
  frozen  compiled into the interpreter from BOARD's frozen manifest (boards/manifests/)
Defaults: host source, esp8266 frozen, esp32 mpy.
`python tools/mp_env.py path|binary [--target T] [--modules M] [--board B]` prints
MICROPYPATH (host source) or the binary.
"""

import importlib.util
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(REPO, "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

# Order matters: firmware and libraries first (boards/catalog.py MODULE_FOLDERS), then the repo
# root (the `boards` package), then the fetched third-party modules (umqtt.simple), which on a
# real board are frozen into the firmware.
_AFTER_MODULES = ("", ".deps")
FROZEN_PATH = ".frozen"  # the virtual sys.path entry of the frozen modules
TARGETS = ("host", "esp8266", "esp32")
MODULE_MODES = ("source", "mpy", "romfs", "frozen")
DEFAULT_MODULES = {"host": "source", "esp8266": "frozen", "esp32": "mpy"}
MANIFEST_DIR = os.path.join(REPO, "boards", "manifests")
STOCK_MANIFEST = os.path.join(MANIFEST_DIR, "sim_stock.py")
ROMFS_BOOT = os.path.join(REPO, "boards", "sim_romfs_boot.py")
ROMFS_FILE_ENV = "MP_ROMFS_FILE"

_catalog = None


class TargetError(Exception):
    """A target or module mode that cannot be run; the message is one line for the user."""


def catalog():
    """boards/catalog.py (the board list), loaded from its file: plain data."""
    global _catalog
    if _catalog is None:
        spec = importlib.util.spec_from_file_location(
            "board_catalog", os.path.join(REPO, "boards", "catalog.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _catalog = module
    return _catalog


def micropython_binary():
    candidate = os.path.join(REPO, ".venv", "bin", "micropython")
    if os.path.exists(candidate):
        return candidate
    return os.path.join(os.path.dirname(sys.executable), "micropython")


def source_dirs():
    """The module path of the firmware run from source, as absolute folders: its module
    folders (boards/catalog.py MODULE_FOLDERS), the repo root (`boards`) and .deps (umqtt)."""
    folders = catalog().MODULE_FOLDERS + _AFTER_MODULES
    return [os.path.join(REPO, d) if d else REPO for d in folders]


def module_dirs():
    """The folders of the firmware's own modules (firmware/ and the lib/ subsystems)."""
    return [os.path.join(REPO, d) for d in catalog().MODULE_FOLDERS]


def use_module_path():
    """Puts the firmware's module folders on this CPython's sys.path (tools importing lib/)."""
    for folder in reversed(module_dirs()):
        if folder not in sys.path:
            sys.path.insert(0, folder)


def micropython_path(extra=()):
    return ":".join(list(extra) + source_dirs())


def micropython_env(extra_path=(), base=None):
    env = dict(os.environ if base is None else base)
    env["MICROPYPATH"] = micropython_path(extra_path)
    return env


def micropython_command(script, heap=None, args=()):
    cmd = [micropython_binary()]
    if heap:
        cmd += ["-X", "heapsize=%s" % heap]
    return cmd + [script] + list(args)


def check(target="host", modules=None, board="sim"):
    """(target, modules) with the default mode filled in; TargetError when it cannot run."""
    if target not in TARGETS:
        raise TargetError("unknown target %r (targets: %s)" % (target, ", ".join(TARGETS)))
    modules = modules or DEFAULT_MODULES[target]
    if modules not in MODULE_MODES:
        raise TargetError("unknown module mode %r (modes: %s)"
                          % (modules, ", ".join(MODULE_MODES)))
    if board not in catalog().BOARDS:
        raise TargetError("unknown board %r (boards: %s)"
                          % (board, ", ".join(catalog().BOARDS)))
    if target == "host" and modules == "frozen":
        raise TargetError("the host target has no frozen modules (its binary is the PyPI one): "
                          "use --target esp8266 or esp32 with --modules frozen")
    return target, modules


def board_manifest(board):
    return os.path.join(MANIFEST_DIR, board + ".py")


UART_RING_ENV = "SIM_UART_RING"  # read by boards/sim.py


def binary(target="host", modules=None, board="sim"):
    """The interpreter for TARGET: the .venv one, or the 32-bit build holding the sim hardware
    and umqtt (modes source, mpy, romfs) or BOARD's whole firmware (frozen)."""
    target, modules = check(target, modules, board)
    if target == "host":
        return micropython_binary()
    import mp32_build

    manifest = board_manifest(board) if modules == "frozen" else STOCK_MANIFEST
    try:
        return mp32_build.binary(target, manifest)
    except mp32_build.BuildError as e:
        raise TargetError(str(e)) from None


def command(script, target="host", modules=None, board="sim", heap=None, args=(),
            base_env=None, extra_path=()):
    """(argv, env) that run SCRIPT (a path; ARGS after it) on TARGET with BOARD's firmware modules
    in mode MODULES (None: the target's default) and a heap of HEAP (e.g. "38K", 40960; None: the
    binary's default). BASE_ENV (default os.environ) is copied, MICROPYPATH set; EXTRA_PATH
    folders (e.g. the tests) come after .frozen, before the firmware's modules."""
    target, modules = check(target, modules, board)
    env = dict(os.environ if base_env is None else base_env)
    extra = list(extra_path)
    if target == "host" and modules == "source":  # as it always was: no .frozen entry
        env["MICROPYPATH"] = micropython_path(extra)
        return micropython_command(script, heap, args), env
    if target == "host" and modules == "romfs":  # the in-process runner (tools/mp_romfs.py)
        import mp_romfs

        try:
            argv, env = mp_romfs.romfs_command(script, args, board=board, heap=heap,
                                               base_env=env)
        except mp_romfs.RomfsError as e:
            raise TargetError(str(e)) from None
        env["MICROPYPATH"] = ":".join([FROZEN_PATH] + extra)
        return argv, env
    path = [FROZEN_PATH] + extra
    exe = binary(target, modules, board)
    # The UART receive buffer: the ESP8266 port allocates it in the MicroPython heap, the ESP32
    # port in ESP-IDF's heap (its UART driver's own buffer), so the sim board charges it to the
    # heap on the esp8266 target only (boards/sim_uart.py).
    env[UART_RING_ENV] = "heap" if target == "esp8266" else "driver"
    argv = [exe] + (["-X", "heapsize=%s" % heap] if heap else [])
    if modules == "source":
        path += source_dirs()
    elif modules == "mpy":
        path.append(_tree_lib(board))
    elif modules == "romfs":
        import mp32_build
        import mp_romfs

        if not mp32_build.romfs_file_supported(exe):
            raise TargetError("%s does not map %s (the shared build's ROMFS-file patch is "
                              "missing): use another module mode" % (exe, ROMFS_FILE_ENV))
        try:
            env[ROMFS_FILE_ENV] = mp_romfs.build_image(board)
        except mp_romfs.RomfsError as e:
            raise TargetError(str(e)) from None
        argv.append(ROMFS_BOOT)
    env["MICROPYPATH"] = ":".join(path)
    return argv + [script] + list(args), env


def _tree_lib(board):
    import mp_romfs

    try:
        return mp_romfs.tree_lib(board)
    except mp_romfs.RomfsError as e:
        raise TargetError(str(e)) from None


def add_arguments(parser, modules_help=True):
    """--target and --modules for a tool's argparse parser (defaults: None = per target)."""
    parser.add_argument("--target", default="host", choices=TARGETS,
                        help="interpreter: host (.venv, 64-bit), esp8266 or esp32 (32-bit "
                             "builds configured like those boards; default host)")
    if modules_help:
        parser.add_argument("--modules", choices=MODULE_MODES, default=None,
                            help="where the firmware's modules come from: source, mpy (heap-"
                                 "loaded .mpy), romfs (in place from a ROMFS image), frozen "
                                 "(in the binary); default: host source, esp8266 frozen, "
                                 "esp32 mpy")


def main(argv):
    import argparse

    parser = argparse.ArgumentParser(prog="mp_env.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("path", "binary"))
    add_arguments(parser)
    parser.add_argument("--board", default="sim")
    args = parser.parse_args(argv)
    try:
        if args.what == "path":
            if args.target != "host" or (args.modules or "source") != "source":
                _, env = command("x.py", args.target, args.modules, args.board)
                print(env["MICROPYPATH"])
            else:
                print(micropython_path())
        else:
            print(binary(args.target, args.modules, args.board))
    except TargetError as e:
        print("mp_env: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
