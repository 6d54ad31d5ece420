"""docs/state.md says what each format sends, key for key: the keys it lists for the CT6,
Victron and Tasmota formats and the native state are exactly those the formats can write (from
the quantity table), and the CT6 keys it says are never sent are never written."""

import json
import os
import re

import ct6
import native
import support
import tasmota
import victron
from format_fixtures import atm_config, atm_reading, context, han_reading
from quantities import QUANTITIES, S_CHANNEL, S_TOTAL

DOC = os.path.join(support.REPO, "docs", "state.md")


def _doc():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def _listed(label):
    """The `keys` of the doc's sentence starting with `label` (up to its full stop). In the
    list of keys never sent, each key is followed by its reason in parentheses."""
    text = _doc()
    start = text.index(label) + len(label)
    end = min(i for i in (text.find(".\n", start), text.find(". ", start)) if i >= 0)
    sentence = text[start:end]
    if label.startswith("CT6 keys never"):
        return set(re.findall(r"`([A-Za-z0-9_]+)` \(", sentence))
    return set(re.findall(r"`([A-Za-z0-9_]+)`", sentence))


def _everything():
    """Readings with every value each format can carry, and their contexts."""
    han = han_reading()
    han.frequency = 50.0
    for channel, power in zip(han.channels, (400.2, 500.5, 619.0)):
        channel.power = power
        channel.power_factor = 0.9
        channel.frequency = 50.0
        channel.import_wh = 1000
        channel.export_wh = 10
    atm = atm_reading()
    for channel in atm.channels:
        channel.frequency = 50.0
        channel.temperature = 30.5
        channel.reactive_power = 1.5
        channel.apparent_power = 300.0
        channel.power_factor = 0.5
    return ((han, context()), (atm, context(atm_config())))


def _keys(obj, into):
    for key, value in obj.items():
        into.add(key)
        if type(value) is dict:
            _keys(value, into)
    return into


def test_native_table_lists_every_quantity_key():
    text = _doc()
    table = text[text.index("| key | unit | resolution | meaning |"):text.index("## Examples")]
    documented = set()
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            continue
        first_cell = line.split("|")[1]
        documented |= set(re.findall(r"`(?:ch\.<c>\.)?([a-z_]+)`", first_cell))
    sent = {"seq", "ts", "src", "id", "model", "mtime", "ch"}
    for key, _attr, _unit, scope, *_rest in QUANTITIES:
        assert scope & (S_TOTAL | S_CHANNEL)
        sent.add(key)
    assert documented == sent
    for reading, ctx in _everything():
        assert _keys(json.loads(native.state_payload(reading, ctx)), set()) - {
            "L1", "L2", "L3", "CT1", "CT2", "CT3"} <= sent


def test_ct6_keys_sent_and_never_sent():
    ports = _listed("Port keys sent:")
    top = _listed("Top-level keys sent:")
    never = _listed("CT6 keys never sent:")
    assert ports == {row[8] for row in QUANTITIES if row[8]} | {"NAME"}
    seen = set()
    for reading, ctx in _everything():
        doc = json.loads(ct6.write(reading, ctx))
        for key, value in doc.items():
            if key.startswith("CT"):
                seen |= set(value)
            else:
                assert key in top, key
        assert not _keys(doc, set()) & never
    assert seen == ports  # every documented port key is written by some reading
    assert never == {"TYPE", "IPEAK", "RSSI", "BOARD_TEMPERATURE", "READ_TIME_NS", "ASSY",
                     "PF_WATTS_THRESHOLD"}


def test_victron_keys():
    grid_keys = _listed("Grid keys sent:")
    phase_keys = _listed("Phase keys sent:")
    grid_seen, phase_seen = set(), set()
    for reading, ctx in _everything():
        ctx.grid_phases = 3 if reading.source == "han" else 1
        doc = json.loads(victron.write(reading, ctx))["grid"]
        for key, value in doc.items():
            grid_seen.add(key)
            if type(value) is dict:
                phase_seen |= set(value)
    assert grid_seen == grid_keys
    assert phase_seen == phase_keys


def test_tasmota_keys():
    documented = _listed("Sensor keys sent:")
    seen = set()
    for reading, ctx in _everything():
        doc = json.loads(tasmota.write(reading, ctx))
        assert sorted(doc) == ["Time", "grid"]
        seen |= set(doc["grid"])
    assert seen == documented
