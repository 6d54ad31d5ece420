# portable
# Shared by the HAN corpus tests (CPython and MicroPython): decode corpus entries through the
# library and compare with their independently decoded `expected` values.
import json

import support
from han_meter import HanMeter
from han_stream import HanStreamDecoder


def entry_bytes(entry):
    """The captured bytes of an entry (binary frames from hex, ASCII telegrams as sent)."""
    if entry.get("hex"):
        return bytes.fromhex(entry["hex"])
    return entry["text"].encode()


def entry_settings(entry):
    """The han settings a user of this meter would configure."""
    settings = {"key": entry.get("key_hex") or "", "auth_key": entry.get("ak_hex") or ""}
    # The country is not in the frame: Swedish Kamstrup counts Wh where the vendor document
    # (Norway) says 10 Wh, so its owner sets energy_multiplier 0.1 (corpus kamstrup-gh239-*).
    if entry["family"] == "kamstrup" and "Sweden" in entry["meter"] and entry.get("hex"):
        settings["energy_multiplier"] = 0.1
    return settings


def decode_entries(entries, chunk=0):
    """Decode entries as one stream; returns (results as dicts, rejection reasons)."""
    results = []
    rejections = []
    meter = HanMeter(entry_settings(entries[0]))
    decoder = HanStreamDecoder(lambda line: results.append(json.loads(line)), rejections.append,
                               meter)
    for entry in entries:
        data = bytearray(entry_bytes(entry))
        if entry.get("framing") == "apdu-only":
            decoder.decode_apdu(data)
        elif chunk:
            for i in range(0, len(data), chunk):
                decoder.feed(data[i : i + chunk])
        else:
            decoder.feed(data)
    decoder.end_of_input()
    return results, rejections


def expected_mismatches(entry, result):
    """List of differences between a decoded result and the entry's expected values."""
    problems = []
    obis = result["obis"]
    units = result["units"]
    raw = result.get("raw", {})
    wanted_obis = {}
    for key in entry["expected"]:
        want = entry["expected"][key]
        if key in ("notification_datetime", "list_version"):
            got = result.get(key)
        elif key.startswith("item"):
            # "item11(raw,undocumented)": a positional value without documented meaning.
            got = raw.get(key.split("(")[0])
        elif key.endswith("(raw)"):
            # An OBIS value whose scale nobody documents: reported as sent, without a unit.
            key = key[:-5]
            wanted_obis[key] = want
            got = obis.get(key)
            if key in units:
                problems.append("%s should have no unit, has %r" % (key, units[key]))
        else:
            wanted_obis[key] = want
            got = obis.get(key)
        if isinstance(want, list):
            ok = want == got
        else:
            ok = got is not None and support.approx_equal(got, want)
        if not ok:
            problems.append("%s: want %r got %r" % (key, want, got))
    for key in obis:
        if key not in wanted_obis:
            problems.append("%s: decoded %r but not expected" % (key, obis[key]))
    for key in entry["units"]:
        if units.get(key) != entry["units"][key]:
            problems.append("unit of %s: want %r got %r" % (key, entry["units"][key],
                                                             units.get(key)))
    return problems


def corpus_by_id():
    entries = {}
    for entry in support.han_corpus():
        entries[entry["id"]] = entry
    return entries
