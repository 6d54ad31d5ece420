#!/usr/bin/env python3
"""Fetch umqtt.simple for host runs of the firmware (the unix port has no umqtt).

The stock ESP32/ESP8266 firmware has umqtt.simple frozen in; only the unix port needs a copy.
Its only release on the package registry is an sdist that pip cannot install (no setup.py), but
pip downloads, hash-checks and unpacks it before it gives up. With --no-clean and a private
TMPDIR the unpacked module stays behind; we check its own hash too and copy it to DEST.

usage: fetch_umqtt.py [--dest DIR]   (default .deps; the file lands at DEST/umqtt/simple.py)
"""

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

PACKAGE = "micropython-umqtt.simple==1.3.4"
SDIST_SHA256 = "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f"
MODULE_SHA256 = "8555d2f654deb8eb0d724f79b0811a78cc94029d070f3d96bbd74288653d63a5"


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fetch(dest):
    target = os.path.join(dest, "umqtt", "simple.py")
    if os.path.exists(target) and sha256_of(target) == MODULE_SHA256:
        return target
    with tempfile.TemporaryDirectory(prefix="umqtt-fetch-") as work:
        pip_tmp = os.path.join(work, "tmp")
        os.mkdir(pip_tmp)
        requirements = os.path.join(work, "requirements.txt")
        with open(requirements, "w") as f:
            f.write("%s --hash=sha256:%s\n" % (PACKAGE, SDIST_SHA256))
        env = dict(os.environ, TMPDIR=pip_tmp)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
               "--no-clean", "--quiet", "-d", os.path.join(work, "dl"), "-r", requirements]
        # pip exits non-zero by design here (it cannot build the sdist's metadata).
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
        found = [p for p in glob.glob(os.path.join(pip_tmp, "**", "umqtt", "simple.py"),
                                      recursive=True) if sha256_of(p) == MODULE_SHA256]
        if not found:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise SystemExit("fetch_umqtt: could not obtain %s with the pinned hash (%s)"
                             % (PACKAGE, tail[0]))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(found[0], target)
        open(os.path.join(dest, "umqtt", "__init__.py"), "w").close()
    return target


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", default=".deps", help="folder to put umqtt/ in")
    args = parser.parse_args()
    print("umqtt.simple: %s" % fetch(args.dest))


if __name__ == "__main__":
    main()
