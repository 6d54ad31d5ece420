#!/usr/bin/env python3
"""Build (or find, cached) a 32-bit MicroPython unix port configured like a board.

usage: mp32_build.py [--flavour esp8266|esp32] [--manifest FILE]   (prints the binary's path)

Where the binary comes from:
  - MICROPY_SRC names a MicroPython checkout: it is built here with the settings of the shared
    build script (32-bit, float32, MPZ long ints, object representation C for esp8266 and A for
    esp32, axTLS cryptolib, no ffi/btree, modules frozen from --manifest), into
    ${MICROPY32_CACHE:-~/.cache/micropython32}/checkout-<hash>-<tag>/.
  - otherwise ../shared/micropython32/build.sh beside the repository (its README).
Either way a stamp under build/mp32/ remembers the binary and a hash of everything the manifest
freezes (lib/, firmware/, boards/, .deps/umqtt), so an unchanged build costs no make run.

The manifests read MP32_UNIX_BUILD=1 from the environment: built for the unix port, they freeze
umqtt from .deps instead of including a board port's own manifest (boards/manifests/).
Exit status 0, 1 when the build fails or neither source is available (one line on stderr).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_BUILD = os.path.join(os.path.dirname(REPO), "shared", "micropython32", "build.sh")
STAMPS = os.path.join(REPO, "build", "mp32")
FLAVOURS = {"esp8266": "MICROPY_OBJ_REPR_C", "esp32": "MICROPY_OBJ_REPR_A"}
UNIX_BUILD_ENV = "MP32_UNIX_BUILD"
# What a frozen manifest of this repository can read besides the firmware's module folders.
_OTHER_INPUTS = ("boards", os.path.join("boards", "manifests"),
                 os.path.join("boards", "manifests", "sim_stock", "boards"),
                 os.path.join(".deps", "umqtt"))

_memo = {}


class BuildError(Exception):
    pass


def _inputs_hash(flavour, manifest, origin):
    digest = hashlib.sha256(("%s\0%s\0%s\0" % (flavour, manifest, origin)).encode())
    import mp_env

    for folder in mp_env.catalog().MODULE_FOLDERS + _OTHER_INPUTS:
        path = os.path.join(REPO, folder)
        if not os.path.isdir(path):
            continue
        for name in sorted(os.listdir(path)):
            if name.endswith(".py"):
                digest.update(os.path.join(folder, name).encode() + b"\0")
                with open(os.path.join(path, name), "rb") as f:
                    digest.update(f.read())
    for tool in (os.path.abspath(__file__), origin if os.path.isfile(origin) else None):
        if tool:
            digest.update(str(os.stat(tool).st_mtime_ns).encode())
    return digest.hexdigest()[:16]


def _origin():
    src = os.environ.get("MICROPY_SRC")
    if src:
        if not os.path.isfile(os.path.join(src, "ports", "unix", "Makefile")):
            raise BuildError("MICROPY_SRC=%s is not a MicroPython checkout "
                             "(no ports/unix/Makefile)" % src)
        return os.path.abspath(src)
    if os.path.isfile(SHARED_BUILD):
        return SHARED_BUILD
    raise BuildError("no 32-bit MicroPython: neither %s exists nor names MICROPY_SRC a "
                     "MicroPython checkout" % os.path.relpath(SHARED_BUILD, REPO))


def _last_lines(text, n=3):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:]) or "no output"


def _cache_dir():
    return os.environ.get("MICROPY32_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "micropython32")


def _build_checkout(src, flavour, manifest, env):
    """The shared script's build, from the checkout MICROPY_SRC (no ROMFS-file patch there)."""
    tag = flavour
    if manifest:
        tag += "-frozen-" + hashlib.sha256(manifest.encode()).hexdigest()[:10]
    build = os.path.join(_cache_dir(), "checkout-%s-%s"
                         % (hashlib.sha256(src.encode()).hexdigest()[:10], tag))
    jobs = "-j%d" % (os.cpu_count() or 2)
    steps = [["make", "-s", "-C", os.path.join(src, "mpy-cross"), jobs],
             ["make", "-s", "-C", os.path.join(src, "ports", "unix"), jobs,
              "VARIANT=standard", "BUILD=" + build, "FROZEN_MANIFEST=" + (manifest or ""),
              "MICROPY_PY_FFI=0", "MICROPY_PY_BTREE=0", "MICROPY_PY_SSL=1", "MICROPY_SSL_AXTLS=1",
              "MICROPY_SSL_MBEDTLS=0",
              "CFLAGS_EXTRA=-m32 -DMICROPY_OBJ_REPR=%s"
              " -DMICROPY_FLOAT_IMPL=MICROPY_FLOAT_IMPL_FLOAT"
              " -DMICROPY_LONGINT_IMPL=MICROPY_LONGINT_IMPL_MPZ" % FLAVOURS[flavour],
              "LDFLAGS_EXTRA=-m32 -static"]]
    for step in steps:
        try:
            result = subprocess.run(step, env=env, capture_output=True, text=True)
        except FileNotFoundError:
            raise BuildError("make is not installed") from None
        if result.returncode != 0:
            raise BuildError("building the 32-bit unix port from %s failed (gcc -m32 needs "
                             "gcc-multilib): %s"
                             % (src, _last_lines(result.stderr + result.stdout)))
    return os.path.join(build, "micropython")


def _build_shared(script, flavour, manifest, env):
    cmd = ["bash", script, "--flavour", flavour] + (["--manifest", manifest] if manifest else [])
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise BuildError("%s failed: %s" % (" ".join(cmd[1:]),
                                             _last_lines(result.stderr + result.stdout)))
    return lines[-1]


def binary(flavour="esp8266", manifest=None):
    """Path of the 32-bit binary of FLAVOUR with MANIFEST's modules frozen in (None: none)."""
    if flavour not in FLAVOURS:
        raise BuildError("flavour is esp8266 or esp32, not %r" % flavour)
    manifest = os.path.abspath(manifest) if manifest else None
    if manifest and not os.path.isfile(manifest):
        raise BuildError("no such manifest: %s" % manifest)
    origin = _origin()
    key = (flavour, manifest, origin)
    if key in _memo and os.path.exists(_memo[key]):
        return _memo[key]
    digest = _inputs_hash(flavour, manifest, origin)
    name = "%s-%s-%s" % (flavour, os.path.basename(manifest)[:-3] if manifest else "plain",
                         hashlib.sha256(origin.encode()).hexdigest()[:6])
    stamp = os.path.join(STAMPS, name + ".json")
    try:
        with open(stamp) as f:
            known = json.load(f)
        if known.get("inputs") == digest and os.path.exists(known.get("binary", "")):
            _memo[key] = known["binary"]
            return known["binary"]
    except (OSError, ValueError):
        pass
    env = dict(os.environ)
    env[UNIX_BUILD_ENV] = "1"
    if origin == SHARED_BUILD:
        path = _build_shared(origin, flavour, manifest, env)
    else:
        path = _build_checkout(origin, flavour, manifest, env)
    if not os.path.exists(path):
        raise BuildError("the build reported %s, which does not exist" % path)
    os.makedirs(STAMPS, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=STAMPS, prefix=".stamp-")
    with os.fdopen(fd, "w") as f:
        json.dump({"inputs": digest, "binary": path}, f)
    os.replace(tmp, stamp)
    _memo[key] = path
    return path


def romfs_file_supported(path):
    """Whether the binary maps MP_ROMFS_FILE (the shared script's patch does; a plain checkout
    does not)."""
    with open(path, "rb") as f:
        return b"MP_ROMFS_FILE" in f.read()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flavour", default="esp8266", choices=sorted(FLAVOURS))
    parser.add_argument("--manifest", help="frozen manifest (e.g. boards/manifests/sim.py)")
    args = parser.parse_args(argv)
    try:
        print(binary(args.flavour, args.manifest))
    except BuildError as e:
        print("mp32_build: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
