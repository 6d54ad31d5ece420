# ruff: noqa: F821  (module(), package() and options are given by MicroPython's manifest tools)
# The firmware's modules for one board, as `make deploy` installs them (tools/deploy.py
# compile_tree): firmware/ and the lib/ folders of MODULE_FOLDERS, flattened (without the
# host-only stand-ins and main.py, which stays source on the filesystem), boards/__init__.py and
# the board's modules from boards/catalog.py.
# Included by boards/manifests/<board>.py with board=<name>. Relative paths are relative to
# this folder (the manifest tools run it from here).
#
# Built for the 32-bit unix port (tools/mp32_build.py sets MP32_UNIX_BUILD=1), umqtt.simple is
# frozen from .deps, standing in for the umqtt the ESP32/ESP8266 images freeze; for a board's
# port the board manifest brings that port's own.
import os

options.defaults(board="sim")
_REPO = os.path.abspath(os.path.join("..", ".."))
_catalog = {}
with open(os.path.join(_REPO, "boards", "catalog.py")) as _f:
    exec(_f.read(), _catalog)
_spec = _catalog["BOARDS"][options.board]

for _folder in _catalog["MODULE_FOLDERS"]:  # flattened: module names are unique
    for _name in sorted(os.listdir(os.path.join(_REPO, _folder))):
        if not _name.endswith(".py") or _name in _catalog["HOST_ONLY"]:
            continue
        if _folder == "firmware" and _name in _catalog["SOURCE_FILES"]:
            continue
        module(_name, base_path=os.path.join(_REPO, _folder))
for _module in ("__init__",) + _spec["modules"]:
    module("boards/%s.py" % _module, base_path=_REPO)
if os.environ.get("MP32_UNIX_BUILD"):
    package("umqtt", base_path=os.path.join(_REPO, ".deps"))
