#!/usr/bin/env python3
"""Build a board's MicroPython image with the firmware frozen in:
`make firmware BOARD=<board> MICROPY_SRC=<MicroPython checkout>`.

The image is that port's own build (ports/esp8266 ESP8266_GENERIC for d1mini_han, ports/esp32
ESP32_GENERIC for the esp32_* boards, ports/rp2 RPI_PICO_W for picow_ct6) with
FROZEN_MANIFEST=boards/manifests/<board>.py: the port's own frozen modules, umqtt.simple, and
every module `make deploy` would copy (lib/, firmware/ but main.py, the board's modules). Frozen
bytecode, constants and names stay in flash, which leaves the heap to the data (the ESP8266 has
38 KB in all). Then: `make flash BOARD=<board> PORT=<device> IMAGE=<the image> FROZEN=1` (the
Pico W: copy the .uf2 to its BOOTSEL drive, then `make deploy ... FROZEN=1`), which puts only
main.py and the site settings on the board's filesystem.

Needs the port's toolchain on this machine: xtensa-lx106-elf-gcc (ESP8266), ESP-IDF with
IDF_PATH set and idf.py on PATH (ESP32), arm-none-eabi-gcc and cmake (rp2); without it, one
line says what is missing. The build goes to build/firmware/<board>/ in this repository.
Exit status 0 built, 1 a missing toolchain or a failed build, 2 bad usage.
"""

import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mp_env

REPO = mp_env.REPO
# What each port's build needs on PATH (or in the environment), and what to do about it.
TOOLCHAINS = {
    "esp8266": (("xtensa-lx106-elf-gcc",), (),
                "the ESP8266 toolchain, esp-open-sdk: ports/esp8266/README.md in the checkout"),
    "esp32": (("idf.py",), ("IDF_PATH",),
              "ESP-IDF, its export.sh sourced: ports/esp32/README.md in the checkout"),
    "rp2": (("arm-none-eabi-gcc", "cmake"), (),
            "the Arm GNU toolchain and cmake: ports/rp2/README.md in the checkout"),
}
IMAGE_FILES = {"esp8266": "firmware.bin", "esp32": "firmware.bin", "rp2": "firmware.uf2"}


class FirmwareError(Exception):
    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def missing_toolchain(port, which=shutil.which, environ=None):
    """What of PORT's toolchain is missing, as one phrase; None when all is there."""
    environ = os.environ if environ is None else environ
    programs, variables, hint = TOOLCHAINS[port]
    missing = [v + " is not set" for v in variables if not environ.get(v)]
    missing += [p + " is not on PATH" for p in programs if which(p) is None]
    if not missing:
        return None
    return "%s; needs %s" % (", ".join(missing), hint)


def plan(board, micropy_src):
    """(port, make commands, image path) for BOARD from the checkout; FirmwareError if not."""
    boards = mp_env.catalog().BOARDS
    if board not in boards:
        raise FirmwareError("unknown board %r; boards: %s" % (board, ", ".join(boards)), 2)
    spec = boards[board]
    if spec["image"] is None:
        raise FirmwareError("the %s board runs on the unix port and has no image; try "
                            "make sim SIM_ARGS='--target esp8266 --modules frozen'" % board, 2)
    if not micropy_src:
        raise FirmwareError("MICROPY_SRC is not set: make firmware BOARD=%s MICROPY_SRC=<a "
                            "MicroPython checkout>" % board, 2)
    port = spec["port"]
    port_dir = os.path.join(os.path.abspath(micropy_src), "ports", port)
    if not os.path.isfile(os.path.join(port_dir, "Makefile")):
        raise FirmwareError("MICROPY_SRC=%s is not a MicroPython checkout with ports/%s"
                            % (micropy_src, port))
    build = os.path.join(REPO, "build", "firmware", board)
    manifest = mp_env.board_manifest(board)
    common = ["BOARD=" + spec["image"], "BUILD=" + build, "FROZEN_MANIFEST=" + manifest]
    commands = [["make", "-C", os.path.join(os.path.abspath(micropy_src), "mpy-cross")],
                ["make", "-C", port_dir] + common + ["submodules"],
                ["make", "-C", port_dir, "-j%d" % (os.cpu_count() or 2)] + common]
    return port, commands, os.path.join(build, IMAGE_FILES[port])


def build(board, micropy_src):
    port, commands, image = plan(board, micropy_src)
    missing = missing_toolchain(port)
    if missing:
        raise FirmwareError("cannot build the %s image: %s" % (board, missing))
    env = dict(os.environ)
    env.pop("MP32_UNIX_BUILD", None)  # the manifests must include the port's own modules
    for cmd in commands:
        print("firmware: %s" % " ".join(cmd), flush=True)
        if subprocess.run(cmd, env=env).returncode != 0:
            raise FirmwareError("the %s build failed (output above): %s" % (port, " ".join(cmd)))
    if not os.path.exists(image):
        raise FirmwareError("the build finished but %s is missing" % image)
    return image


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, "firmware: %s (tools/mp32_firmware.py --help)\n" % message)


def main(argv=None):
    parser = _Parser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--board", required=True,
                        help="board: " + ", ".join(mp_env.catalog().BOARDS))
    parser.add_argument("--micropy-src", default=os.environ.get("MICROPY_SRC", ""),
                        help="MicroPython checkout (default: $MICROPY_SRC)")
    args = parser.parse_args(argv)
    try:
        image = build(args.board, args.micropy_src)
    except FirmwareError as e:
        print("firmware: %s" % e, file=sys.stderr)
        return e.status
    rel = os.path.relpath(image, REPO)
    if args.board == "picow_ct6":
        print("firmware: %s; copy it to the Pico W's BOOTSEL drive, then make deploy "
              "BOARD=%s PORT=<device> FROZEN=1" % (rel, args.board))
    else:
        print("firmware: %s; next: make flash BOARD=%s PORT=<device> IMAGE=%s FROZEN=1"
              % (rel, args.board, rel))
    return 0


if __name__ == "__main__":
    sys.exit(main())
