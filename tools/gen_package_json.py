#!/usr/bin/env python3
"""Write package.json, the mip manifest for people who only want the libraries (the HAN/P1
decoders and the ATM90E32 driver), not the whole firmware:

    mpremote mip install github:<owner>/<repo>            # decoders + driver into /lib
    mpremote mip install github:<owner>/<repo>/lib/atm90e32/atm90e32.py   # just the driver

The module list is the import closure of the entry modules below, so the manifest cannot miss a
dependency; `--check` fails when package.json is out of date (a test runs it). umqtt.simple is
not a dependency: these libraries do no networking.
"""

import ast
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTRY = ("han_stream", "han_report", "atm90e32")  # what users import; the rest follows
VERSION = "0.1.0"
HOST_ONLY = {"micropython"}  # built in on MicroPython


def lib_path(module):
    """The repo-relative path of a lib/ module ("lib/han/dlms.py"), or None."""
    for folder in sorted(os.listdir(os.path.join(REPO, "lib"))):
        rel = os.path.join("lib", folder, module + ".py")
        if os.path.exists(os.path.join(REPO, rel)):
            return rel
    return None


def local_imports(module):
    with open(os.path.join(REPO, lib_path(module))) as f:
        tree = ast.parse(f.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names
            if n not in HOST_ONLY and lib_path(n)}


def closure():
    todo, seen = list(ENTRY), set()
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(local_imports(module) - seen)
    return sorted(seen)


def manifest():
    # relative sources: mip resolves them against package.json's own location
    urls = [[m + ".py", lib_path(m)] for m in closure()]
    return json.dumps({"urls": urls, "deps": [], "version": VERSION}, indent=2) + "\n"


def main():
    path = os.path.join(REPO, "package.json")
    text = manifest()
    if sys.argv[1:] == ["--check"]:
        with open(path) as f:
            if f.read() != text:
                print("package.json is out of date: run tools/gen_package_json.py",
                      file=sys.stderr)
                return 1
        return 0
    if sys.argv[1:]:
        print(__doc__)
        return 0 if sys.argv[1:] in (["-h"], ["--help"]) else 2
    with open(path, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
