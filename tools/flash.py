#!/usr/bin/env python3
"""Write a MicroPython firmware image to a board with esptool, then deploy the firmware:
`make flash BOARD=<board> PORT=<serial device> IMAGE=<firmware file> [CONFIG=<json>]
[FROZEN=1]`.

This machine cannot download firmware images; get them from the MicroPython download page for
your board (micropython.org/download): ESP32_GENERIC for the ESP32 boards, and for the Wemos D1
mini ESP8266_GENERIC, preferably its FLASH_2M_ROMFS variant (code in ROMFS runs from flash and
leaves the ESP8266's small heap to the data; see README "Memory"). The Pico W (picow_ct6) is
flashed by copying its .uf2 onto the drive it shows when started with BOOTSEL held; then run
`make deploy`. An image built by `make firmware` (the firmware frozen in) is flashed the same
way with FROZEN=1: the deploy afterwards then copies only main.py and the site settings.

esptool is installed into the project's .venv on first use (pinned).
"""

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy

ESPTOOL = "esptool==5.6.0"
# chip and image offset per board, from its port (boards/catalog.py PORTS)
CHIPS = {name: deploy.mp_env.catalog().PORTS[spec["port"]]["flash"]
         for name, spec in deploy.BOARDS.items()
         if deploy.mp_env.catalog().PORTS[spec["port"]]["flash"]}


class FlashError(Exception):
    pass


def esptool_command():
    venv_python = os.path.join(deploy.REPO, ".venv", "bin", "python")
    python = venv_python if os.path.exists(venv_python) else sys.executable
    probe = subprocess.run([python, "-m", "esptool", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        print("flash: installing %s into the venv" % ESPTOOL, flush=True)
        install = subprocess.run([python, "-m", "pip", "install", "--quiet", ESPTOOL],
                                 capture_output=True, text=True)
        if install.returncode != 0:
            raise FlashError("could not install %s: %s" % (
                ESPTOOL, (install.stderr.strip().splitlines() or ["pip failed"])[-1]))
    return [python, "-m", "esptool"]


def flash(board, port, image, config, reset, frozen=False):
    if deploy.BOARDS.get(board, {}).get("port") == "rp2":
        raise FlashError("the Pico W is flashed by copying the MicroPython .uf2 onto its BOOTSEL "
                         "drive; then run: make deploy BOARD=%s PORT=<device>" % board)
    if board not in CHIPS:
        known = ", ".join(sorted(CHIPS))
        raise FlashError("board %r has no firmware image to flash (boards: %s)" % (board, known))
    if not image or not os.path.isfile(image):
        raise FlashError("IMAGE=%s is not a file; download the MicroPython image for %s first "
                         "(see make flash --help)" % (image or "<missing>", board))
    if not port or (port.startswith("/") and not os.path.exists(port)):
        raise FlashError("no board at %s (the device does not exist)" % (port or "<missing>"))
    chip, offset = CHIPS[board]
    tool = esptool_command()
    for args in (["--chip", chip, "--port", port, "erase-flash"],
                 ["--chip", chip, "--port", port, "--baud", "460800", "write-flash", "-z",
                  offset, image]):
        result = subprocess.run(tool + args)
        if result.returncode != 0:
            raise FlashError("esptool %s failed (exit %d)" % (args[4], result.returncode))
    # The fresh firmware formats its filesystem at first boot; give it a moment.
    deploy.deploy(board, port, config, reset, frozen)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--board", required=True)
    parser.add_argument("--port", required=True)
    parser.add_argument("--image", default="")
    parser.add_argument("--config", default="")
    parser.add_argument("--reset", default="1", choices=("0", "1"))
    parser.add_argument("--frozen", default="0", choices=("0", "1"),
                        help="1: IMAGE has the firmware frozen in (make firmware)")
    args = parser.parse_args()
    try:
        flash(args.board, args.port, args.image, args.config, args.reset == "1",
              args.frozen == "1")
    except (FlashError, deploy.DeployError) as e:
        print("flash: %s" % e, file=sys.stderr)
        return 1
    print("flash: %s flashed and deployed on %s" % (args.board, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
