# The sim board's ROMFS boot: flash-resident modules on the unix port.
#
# A board whose firmware has a ROMFS partition (MicroPython >= 1.25, e.g. ESP8266_GENERIC's
# FLASH_2M_ROMFS variant) mounts it at /rom and puts /rom/lib on sys.path (after "" and
# .frozen) before running boot.py and main.py; .mpy files there execute in place from flash,
# so their bytecode and constant data cost no heap (only the module's globals, its functions
# and classes do, and the interned names they use). tools/mp_romfs.py maps an image of the
# board's compiled modules outside MicroPython's heap and passes its address and size in
# MP_ROMFS ("address:size"); this does what the board does, then runs the script given as the
# first argument as __main__:
#     micropython [-X heapsize=N] boards/sim_romfs_boot.py SCRIPT [ARGS]
import sys

_ROM = "/rom"


def _mount():
    import os
    import uctypes
    import vfs

    spec = os.getenv("MP_ROMFS")
    if not spec or ":" not in spec:
        raise SystemExit("sim_romfs_boot: MP_ROMFS (address:size) is not set: "
                         "run through tools/mp_romfs.py")
    address, size = spec.split(":")
    # The image is read-only memory (mmap PROT_READ): a write through this view would fault,
    # as a write to flash would.
    vfs.mount(vfs.VfsRom(uctypes.bytearray_at(int(address), int(size))), _ROM)
    # After "" and .frozen, as a ROMFS board orders them (MicroPython extmod/vfs.c): frozen
    # modules win over the image.
    sys.path.append(_ROM + "/lib")


def _run(script):
    # sys.argv and sys.path[0] as if the port had been started with SCRIPT itself (the port put
    # this file's folder at sys.path[0]).
    sys.argv.pop(0)
    sys.path[0] = script.rsplit("/", 1)[0] if "/" in script else ""
    # execfile compiles from a file reader: the source text is never held whole in the heap
    # (a board compiles main.py the same way).
    execfile(script, {"__name__": "__main__", "__file__": script})  # noqa: F821 (MicroPython)


def _boot():
    if len(sys.argv) < 2:
        raise SystemExit("usage: micropython boards/sim_romfs_boot.py SCRIPT [ARGS]")
    _mount()
    _run(sys.argv[1])


_boot()
