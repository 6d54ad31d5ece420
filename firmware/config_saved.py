# The saved config at boot without the config code: the fast path of startup.py.
#
# Validating the config at boot takes the schema, the store and the change code (on a board that
# loads .mpy files into RAM, ~17 KB of code, and ~260 names interned for good: measured on the
# esp32 build). Every config that config_store.save() writes has just been validated, so it
# leaves a mark beside it, VALID: the file's length and CRC-32. At boot a config.json that
# still matches its mark is read as it is. Anything else takes the full path
# (config_change.load_at_boot): no mark or a mismatch (a half-written file, an old firmware's
# save), site settings to apply (make deploy writes them with every new firmware), a
# connectivity change on trial, or a start after a crash (a config the firmware cannot run must
# not be trusted again).
import binascii
import json
import os

import storage

CONFIG = "config.json"  # the config in force (config_store.py)
VALID = "config.ok"  # its mark: "<length> <crc32 hex>" of the bytes config_store.save() wrote
SITE = "site.json"  # first-boot / provisioning settings (make deploy, tools/sim.py)
TRIAL = "config.trial"  # the previous config while a connectivity change is on trial
SOURCE_SECTIONS = ("han", "atm90e32")


def mark(data):
    """The VALID text for a config file's bytes."""
    return "%d %x" % (len(data), binascii.crc32(data))


def load():
    """config.json as a dict when it matches its mark and nothing else needs the full path,
    else None (the caller then runs config_change.load_at_boot)."""
    if storage.exists(SITE) or storage.exists(TRIAL):
        return None
    expected = storage.read_text(VALID)
    try:
        # the size first: a file that corruption made huge must not be read into the heap
        if not expected or os.stat(CONFIG)[6] != int(expected.split()[0]):
            return None
        with open(CONFIG, "rb") as f:
            data = f.read()
    except (OSError, ValueError):
        return None
    if mark(data) != expected:
        return None
    return json.loads(data)


def in_ram(config):
    """The config the running firmware keeps: without the section of the meter source it does
    not run (the HAN firmware keeps the ATM90E32 channel settings, ~0.8 KB, out of the heap).
    config_change.full_config() brings it back from flash for the rare code that needs it.
    A copy: the caller's whole config may still be published or saved (a change, a rollback),
    and must not lose that section."""
    kept = {}
    for name in config:
        if name == config["source"] or name not in SOURCE_SECTIONS:
            kept[name] = config[name]
    return kept
