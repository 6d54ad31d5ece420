"""CPython-only: the config path (load, a signed change, save, redacted publish) as compiled .mpy
under a limited MicroPython heap, with the heap it costs printed (pytest -s shows it).

The unix port is 64-bit: objects and GC blocks are twice an ESP8266's, so its figures are
roughly double a board's. The budgets below catch regressions; they are not the board's limit.
"""

import json
import os
import shutil
import subprocess

import mp_env
import signing
import support

MODULES = ("lib/config/config_schema.py", "lib/config/signing.py", "lib/config/strict_json.py",
           "lib/core/log.py", "firmware/config_store.py", "firmware/config_saved.py",
           "firmware/storage.py")
# The whole path on the 64-bit unix port: it passes from about 68K (fragmentation decides; the
# live data after it is ~42 KB). Budgets in bytes of heap, 64-bit port; measured ~24 KB / ~42 KB.
HEAP = "80K"
IMPORT_BUDGET = 28 * 1024  # importing config_schema, config_store (+ log) and signing
# those modules plus the config, a replay guard and a result, and strict_json (signing.verify
# loads it for every message; measured ~7 KB here, 5.6 KB as .mpy on the ESP8266 build, 0.7 KB
# frozen; app._RARE_MODULES drops it with the others): ~42 KB
AFTER_BUDGET = 44 * 1024

SCRIPT = """
import gc
import json

gc.collect()
base = gc.mem_alloc()
import config_schema
import config_store
import signing

gc.collect()
imported = gc.mem_alloc() - base
config, notice = config_store.load()
gc.collect()
loaded = gc.mem_alloc() - base
with open("change.bin", "rb") as f:
    envelope = f.read()
guard = signing.ReplayGuard("replay.json")
body, error = signing.verify(config["security"]["secret"], envelope, guard)
del envelope
result, new = config_schema.apply_change(config, body)
config = new
del new, body
config_store.save(config)
payload = json.dumps(config_schema.redact(config)).encode()
gc.collect()
print(json.dumps({"imported": imported, "loaded": loaded, "after": gc.mem_alloc() - base,
                  "error": error, "result": result, "published": payload.decode()}))
"""


def test_config_path_in_a_small_heap(tmp_path):
    mpy_cross = os.path.join(os.path.dirname(mp_env.micropython_binary()), "mpy-cross")
    if not os.path.exists(mpy_cross):
        mpy_cross = shutil.which("mpy-cross")
    if not mpy_cross:
        support.skip("mpy-cross not installed (make setup)")
    (tmp_path / "memcheck.py").write_text(SCRIPT)
    sources = [os.path.join(support.REPO, m) for m in MODULES] + [str(tmp_path / "memcheck.py")]
    for source in sources:
        name = os.path.basename(source)[:-3] + ".mpy"
        subprocess.run([mpy_cross, "-o", str(tmp_path / name), source], check=True)
    secret = "ab" * 16
    (tmp_path / "config.json").write_text(json.dumps(
        {"security": {"secret": secret}, "mqtt": {"host": "b.lan", "password": "pw-1234"}}))
    change = {"publish_interval_s": 30, "atm90e32": {"ct1": {"name": "Heat pump"}}}
    (tmp_path / "change.bin").write_bytes(
        signing.sign(secret, json.dumps(change).encode(), 1700000000000))
    env = dict(os.environ, MICROPYPATH=str(tmp_path))
    result = subprocess.run([mp_env.micropython_binary(), "-X", "heapsize=" + HEAP, "-c",
                             "import memcheck"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print("\nconfig path heap on the unix port (64-bit):", {k: report[k] for k in
                                                           ("imported", "loaded", "after")})
    assert report["error"] is None
    assert report["result"] == {"ok": True, "restart": False,
                                "changed": ["atm90e32.ct1.name", "publish_interval_s"]}
    published = json.loads(report["published"])
    assert published["publish_interval_s"] == 30 and published["mqtt"]["password"] == "***"
    assert "pw-1234" not in report["published"] and secret not in report["published"]
    assert report["imported"] < IMPORT_BUDGET
    assert report["after"] < AFTER_BUDGET
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["atm90e32"]["ct1"]["name"] == "Heat pump"
    assert json.loads((tmp_path / "replay.json").read_text()) == 1700000000000
