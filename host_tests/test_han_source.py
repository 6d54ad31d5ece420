# portable
# The firmware's HAN source: UART bytes to the Reading (CPython and MicroPython).
import han_corpus_check as check
import support
from han_source import HanSource
from reading import Reading


class FakeUart:
    """readinto()/any() over captured bytes, handed out in small reads like a real UART."""

    def __init__(self, data=b"", chunk=64):
        self.data = bytearray(data)
        self.chunk = chunk

    def add(self, data):
        self.data.extend(data)

    def any(self):
        return len(self.data)

    def readinto(self, buf):
        n = min(len(buf), self.chunk, len(self.data))
        if not n:
            return None
        buf[0:n] = self.data[0:n]
        self.data = self.data[n:]
        return n


def _source(entry, **settings):
    han = check.entry_settings(entry)
    han.update(settings)
    uart = FakeUart(check.entry_bytes(entry))
    reading = Reading("han")
    return HanSource(uart, han, reading), reading


def _poll_all(source):
    refreshed = 0
    for _ in range(200):
        if source.poll():
            refreshed += 1
        if not source._uart.any():
            break
    return refreshed


def test_aidon_se_list_fills_totals_phases_and_energy():
    entry = check.corpus_by_id()["aidon-se-gh156-1"]
    source, r = _source(entry)
    assert _poll_all(source) == 1
    want = entry["expected"]
    assert r.power == want["1-0:1.7.0"] - want["1-0:2.7.0"]
    assert r.import_power == want["1-0:1.7.0"]
    assert r.reactive_power == want["1-0:3.7.0"] - want["1-0:4.7.0"]
    assert r.import_wh == want["1-0:1.8.0"] and isinstance(r.import_wh, int)
    assert r.reactive_export_varh == want["1-0:4.8.0"]
    assert [c.name for c in r.channels] == ["L1", "L2", "L3"]
    l1, l2, l3 = r.channels
    assert support.approx_equal(l1.voltage, want["1-0:32.7.0"])
    assert support.approx_equal(l3.current, want["1-0:71.7.0"])
    assert l2.power == want["1-0:41.7.0"] - want["1-0:42.7.0"]
    assert l1.reactive_power == want["1-0:23.7.0"] - want["1-0:24.7.0"]
    assert r.meter_time == "2021-12-10T16:57:00"
    assert source.format == "dlms"


def test_kamstrup_ids_time_and_swedish_energy_multiplier():
    entry = check.corpus_by_id()["kamstrup-gh239-2"]
    source, r = _source(entry)
    assert _poll_all(source) == 1
    assert r.meter_id == "5706567331323526"
    assert r.meter_model == "6841131BN245101092"
    assert r.meter_time == "2022-02-18T22:00:35"
    assert r.import_wh == 32014158  # Wh: energy_multiplier 0.1 over the 10 Wh vendor default
    assert r.channels[0].current == 2.87


def test_kaifa_positional_list_and_multipliers():
    entry = check.corpus_by_id()["kaifa-no-gh493-1"]
    source, r = _source(entry, power_multiplier=2.0, voltage_multiplier=0.5)
    assert _poll_all(source) == 1
    assert r.meter_id == "6970631409168767"
    assert r.meter_model == "MA304H3E"
    assert r.import_power == 2 * 2269
    assert support.approx_equal(r.channels[0].voltage, 236.7 / 2)
    assert support.approx_equal(r.channels[1].current, 6.896)


def test_dsmr_telegram_in_base_units():
    entry = check.corpus_by_id()["dsmr-v5-dsmrparser"]
    source, r = _source(entry)
    assert _poll_all(source) == 1
    assert source.format == "dsmr"
    assert r.import_power == 244  # 00.244 kW
    assert r.power == 244
    assert r.import_wh == 4426 + 2399  # tariffs 1.8.1 + 1.8.2, no 1.8.0 in NL telegrams
    assert r.export_wh == 2444
    assert r.meter_id == "K8EG004046395507"  # 96.1.1 is hex-encoded ASCII
    assert r.meter_time == "2017-01-02T19:20:02"
    assert support.approx_equal(r.channels[2].voltage, 229.0)
    assert r.channels[0].power == 70


def test_short_list_keeps_the_values_of_the_long_one():
    corpus = check.corpus_by_id()
    long_entry = corpus["kaifa-no-tn3p-raw-8"]
    short_entry = corpus["kaifa-no-tn3p-raw-9"]
    source, r = _source(long_entry)
    assert _poll_all(source) == 1
    energy = r.import_wh
    source._uart.add(check.entry_bytes(short_entry))
    assert _poll_all(source) == 1
    assert r.import_power == short_entry["expected"]["1-0:1.7.0"]
    assert r.power == short_entry["expected"]["1-0:1.7.0"]
    assert r.import_wh == energy
    assert source.pushes == 2


def test_garbage_and_corrupt_frames_refresh_nothing_and_are_counted():
    corpus = check.corpus_by_id()
    data = b"\x00\xff\x7e\x7e" + check.entry_bytes(corpus["edge-kamstrup-gh175-1"])
    source = HanSource(FakeUart(data), {}, Reading("han"))
    assert _poll_all(source) == 0
    diag = source.diagnostics()
    assert diag["crc_errors"] >= 1
    assert diag["bytes_discarded"] > 0
    assert "FCS" in diag["last_error"]
    assert diag["pushes"] == 0 and diag["since_push_s"] is None


def test_encrypted_push_with_keys_from_settings():
    entry = check.corpus_by_id()["enc-kaifa-tinetz-at-doc"]
    source, r = _source(entry)
    assert _poll_all(source) == 1
    assert r.import_wh == 9108
    assert support.approx_equal(r.channels[0].voltage, 230.8)
    assert r.meter_id == "1KFM0100000035"


def test_settings_changed_while_running_apply_from_the_next_push():
    entry = check.corpus_by_id()["kaifa-no-gh493-1"]
    source, r = _source(entry)
    assert _poll_all(source) == 1
    assert r.import_power == 2269
    han = check.entry_settings(entry)
    han["power_multiplier"] = 2.0
    source.apply_settings(han)
    source._uart.add(check.entry_bytes(entry))
    assert _poll_all(source) == 1
    assert r.import_power == 2 * 2269


def test_keys_changed_while_running_rebuild_the_decoder():
    entry = check.corpus_by_id()["enc-kaifa-tinetz-at-doc"]
    han = check.entry_settings(entry)
    source = HanSource(FakeUart(check.entry_bytes(entry)), {}, Reading("han"))
    assert _poll_all(source) == 0  # encrypted, no key yet
    source.apply_settings(han)
    source._uart.add(check.entry_bytes(entry))
    assert _poll_all(source) == 1
    assert source.reading.import_wh == 9108
    source.apply_settings({})  # the key removed: the next push cannot be read
    source._uart.add(check.entry_bytes(entry))
    assert _poll_all(source) == 0


def test_bad_han_settings_are_refused_by_the_schema_naming_the_key():
    # The source trusts its settings: every check of han.* is the config schema's, and a bad
    # value is refused before it reaches a source (firmware/config_change.py).
    import config_schema

    bad = (("han.key", "not hex"), ("han.key", "00" * 15), ("han.auth_key", "0g" * 16),
           ("han.auth_key", "00" * 24), ("han.energy_multiplier", 0),
           ("han.power_multiplier", -1.0), ("han.voltage_multiplier", "2"),
           ("han.current_multiplier", True))
    for key, value in bad:
        group, name = key.split(".")
        result, _ = config_schema.apply_change(config_schema.defaults(),
                                               ('{"%s": {"%s": %s}}' % (
                                                   group, name, _json(value))).encode())
        assert not result["ok"], (key, value)
        assert result["error"].startswith(key + ":"), result


def _json(value):
    if value is True:
        return "true"
    if type(value) is str:
        return '"%s"' % value
    return repr(value)


def test_another_meter_clears_the_reading():
    corpus = check.corpus_by_id()
    source, r = _source(corpus["kamstrup-gh239-2"])
    _poll_all(source)
    assert r.import_wh is not None
    source._uart.add(check.entry_bytes(corpus["kamstrup-gh741-1"]))
    _poll_all(source)
    assert r.meter_id == "5706567282299475"
    assert r.import_wh is None  # the list 2 of the other meter has no energy


def test_quiet_line_ends_a_half_received_frame():
    import time

    corpus = check.corpus_by_id()
    frame = check.entry_bytes(corpus["aidon-se-gh156-1"])
    source = HanSource(FakeUart(frame[:100]), {}, Reading("han"))
    _poll_all(source)
    assert source._framer.pending()
    time.sleep(1.1)
    source.poll()
    assert not source._framer.pending()
    assert "incomplete" in source.diagnostics()["last_error"]
    source._uart.add(frame)
    assert _poll_all(source) == 1


def test_push_without_known_values_publishes_nothing():
    # Iskra SI list without OBIS codes: decoded raw (CLI), but nothing for the reading.
    entry = check.corpus_by_id()["edge-iskra-si-gh869-1-no-obis"]
    source, r = _source(entry)
    assert _poll_all(source) == 0
    assert r.power is None and r.meter_id is None
    assert source.diagnostics()["pushes"] == 0
    assert source.diagnostics()["frames_ok"] == 1


def test_the_grid_short_list_with_the_total_only_then_a_long_list_with_phases():
    # the grid's facts are the source's (lib/core/reading.py): its phases, net power and energy
    corpus = check.corpus_by_id()
    short_entry = corpus["kaifa-no-tn3p-raw-9"]  # list 1: 1.7.0 only
    long_entry = corpus["kaifa-no-tn3p-raw-8"]  # list 2/3: totals, energy, U and I per phase
    source, r = _source(short_entry)
    assert _poll_all(source) == 1
    assert r.grid == [] and r.channels == []  # no phase value yet: the count is unknown
    assert r.power == short_entry["expected"]["1-0:1.7.0"]
    assert r.import_wh is None and r.export_wh is None
    source._uart.add(check.entry_bytes(long_entry))
    assert _poll_all(source) == 1
    want = long_entry["expected"]
    assert [c.name for c in r.grid] == ["L1", "L2", "L3"]
    assert r.grid is r.channels  # the meter's phases are the grid's: no list of its own
    assert r.power == want["1-0:1.7.0"] - want["1-0:2.7.0"]
    assert (r.import_wh, r.export_wh) == (want["1-0:1.8.0"], want["1-0:2.8.0"])
    grid = r.grid
    source._uart.add(check.entry_bytes(short_entry))
    assert _poll_all(source) == 1
    assert r.grid is grid and r.power == short_entry["expected"]["1-0:1.7.0"]
    assert r.import_wh == want["1-0:1.8.0"]  # the long list's, kept


def _telegram(*lines):
    import han_build as build

    return build.telegram("ISK5 test", ["0-0:96.1.1(4B384547303034303436333935353037)"] +
                          list(lines))


def test_the_grid_a_single_phase_meter_and_import_minus_export():
    uart = FakeUart(_telegram("1-0:1.7.0(00.000*kW)", "1-0:2.7.0(02.200*kW)",
                              "1-0:32.7.0(230.1*V)"))
    r = Reading("han")
    source = HanSource(uart, {}, r)
    assert _poll_all(source) == 1
    assert [c.name for c in r.grid] == ["L1"] and r.grid is r.channels
    assert r.power == -2200  # import minus export (IEC 62056-6-1: C 1 and 2)


def test_the_grid_totals_a_meter_sends_per_phase_only_are_the_phases_sums():
    phases_only = _telegram("1-0:21.7.0(00.100*kW)", "1-0:22.7.0(00.000*kW)",
                            "1-0:41.7.0(00.000*kW)", "1-0:42.7.0(00.050*kW)",
                            "1-0:61.7.0(00.300*kW)", "1-0:62.7.0(00.000*kW)",
                            "1-0:21.8.0(000001.000*kWh)", "1-0:41.8.0(000002.000*kWh)",
                            "1-0:61.8.0(000003.000*kWh)", "1-0:22.8.0(000000.007*kWh)")
    r = Reading("han")
    source = HanSource(FakeUart(phases_only), {}, r)
    assert _poll_all(source) == 1
    assert [c.name for c in r.grid] == ["L1", "L2", "L3"]
    assert r.power == 100 - 50 + 300
    assert r.import_wh == 6000
    assert r.export_wh is None  # only L1 counts export: no sum of some phases
    # the phases move: the sum follows them, push by push
    source._uart.add(_telegram("1-0:61.7.0(00.900*kW)"))
    assert _poll_all(source) == 1
    assert r.power == 100 - 50 + 900
    # once the meter sends its own total, that is the grid's power, and it stays the last one
    # the meter sent while pushes carry phase values only (as every other value does)
    source._uart.add(_telegram("1-0:1.7.0(01.000*kW)", "1-0:2.7.0(00.000*kW)"))
    assert _poll_all(source) == 1
    assert r.power == 1000
    source._uart.add(_telegram("1-0:21.7.0(00.200*kW)"))
    assert _poll_all(source) == 1
    assert r.power == 1000 and r.import_wh == 6000
