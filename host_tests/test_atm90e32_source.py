# portable
# The firmware's ATM90E32 source (lib/atm90e32/atm90e32_source.py) over emulated chips: the Reading
# it fills, totals by role, cadence, failures, energy persistence and calibration.
import support
from atm90e32_source import REINIT_MS, Atm90e32Source
from boards.sim_atm90e32 import Load, ManualClock, SimSPI
from reading import Reading


def board(first_loads=None, second_loads=None, second_missing=False, options=None):
    """A CT6-like board: two chips on one bus, CT1-3 and CT4-6."""
    clock = ManualClock(1000)
    spi = SimSPI(clock=clock)
    first = spi.add_chip(loads=first_loads or (Load(230.0, 10.0), Load(230.0, 2.0, 0.5),
                                               Load(230.0, 4.0, 1.0, export=True)))
    if second_missing:
        second = spi.add_missing_chip()
    else:
        second = spi.add_chip(loads=second_loads or (Load(231.0, 1.0), Load(231.0, 0.0),
                                                     Load(231.0, 3.0)), temperature=40)
    chips = [(spi, first, ("CT1", "CT2", "CT3"), options),
             (spi, second, ("CT4", "CT5", "CT6"), options)]
    return clock, chips


def source_for(chips, clock, settings=None, **kwargs):
    reading = Reading("atm90e32")
    logged = []
    source = Atm90e32Source(chips, settings, reading, clock=clock, sleep_ms=clock.sleep_ms,
                            log=logged.append, **kwargs)
    return source, reading, logged


def settle(source, clock):
    """Init and a first cycle, then one measured cycle."""
    source.read()
    clock.advance(1000)
    assert source.read()


def close(a, b, tolerance):
    return a is not None and abs(a - b) <= tolerance


def raises_valueerror(function, *args, **kwargs):
    try:
        function(*args, **kwargs)
    except ValueError:
        return True
    return False


def test_reading_holds_every_channel_with_its_values():
    clock, chips = board()
    source, reading, logged = source_for(chips, clock)
    settle(source, clock)
    assert [c.name for c in reading.channels] == ["CT1", "CT2", "CT3", "CT4", "CT5", "CT6"]
    ct1 = reading.channel("CT1")
    assert close(ct1.voltage, 230.0, 0.005) and close(ct1.current, 10.0, 0.0005)
    assert close(ct1.power, 2300.0, 0.001) and close(ct1.apparent_power, 2300.0, 0.001)
    assert close(ct1.power_factor, 1.0, 0.0005) and close(ct1.frequency, 50.0, 0.005)
    assert close(reading.channel("CT2").power_factor, 0.5, 0.0005)
    assert close(reading.channel("CT3").power, -920.0, 0.001)
    assert reading.channel("CT4").temperature == 40 and ct1.temperature == 31
    assert reading.temperature == 40  # the hottest chip
    assert isinstance(ct1.import_wh, int) and isinstance(ct1.export_wh, int)
    assert ct1.port == "CT1" and ct1.role == "grid"
    assert reading.source == "atm90e32"
    assert logged == []


def test_totals_sum_the_grid_channels_or_all_active_ones():
    clock, chips = board()
    settings = {"ct1": {"role": "grid"}, "ct3": {"role": "solar"}, "ct4": {"role": "grid"},
                "ct2": {"role": "load"}, "ct5": {"role": "load"}, "ct6": {"role": "off"}}
    source, reading, logged = source_for(chips, clock, settings)
    settle(source, clock)
    assert close(reading.power, 2300.0 + 231.0, 0.01)
    assert reading.import_power == reading.power and reading.export_power == 0.0
    ct6 = reading.channel("CT6")
    assert ct6.power is None and ct6.voltage is None and ct6.import_wh is None
    clock, chips = board()
    settings = {"ct1": {"role": "load"}, "ct2": {"role": "off"}, "ct3": {"role": "solar"},
                "ct4": {"role": "off"}, "ct5": {"role": "off"}, "ct6": {"role": "off"}}
    source, reading, logged = source_for(chips, clock, settings)
    settle(source, clock)
    assert close(reading.power, 2300.0 - 920.0, 0.01)  # no grid channel: all active ones
    for _ in range(40):
        clock.advance(1000)
        source.read()
    assert reading.import_wh == reading.channel("CT1").import_wh + 0
    assert reading.export_wh == reading.channel("CT3").export_wh > 0


def test_the_grid_is_the_grid_channels_in_port_order_at_most_three():
    # the grid's facts are the source's (lib/core/reading.py): its phases, net power and energy
    clock, chips = board()
    settings = {"ct1": {"role": "load"}, "ct2": {"role": "grid"}, "ct3": {"role": "solar"},
                "ct4": {"role": "grid"}, "ct5": {"role": "off"}, "ct6": {"role": "grid"}}
    source, reading, logged = source_for(chips, clock, settings)
    settle(source, clock)
    grid = reading.grid
    assert [c.name for c in grid] == ["CT2", "CT4", "CT6"]
    assert all(c is reading.channel(c.name) for c in grid)
    assert close(reading.power, sum(c.power for c in grid), 0.01)
    clock.advance(1000)
    assert source.read()
    assert reading.grid is grid  # set with the settings, not per reading
    assert reading.import_wh == sum(c.import_wh for c in grid)
    assert reading.export_wh == sum(c.export_wh for c in grid)
    # every channel "grid" (the default): the first three are its phases, all are its total
    source.apply_settings({})
    settle(source, clock)
    assert [c.name for c in reading.grid] == ["CT1", "CT2", "CT3"]
    assert close(reading.power, sum(c.power for c in reading.channels), 0.01)
    # none: no phases; the total is every active channel's
    source.apply_settings({"ct%d" % n: {"role": "load"} for n in range(1, 7)})
    settle(source, clock)
    assert reading.grid == []
    assert close(reading.power, sum(c.power for c in reading.channels), 0.01)


def test_the_grid_of_a_split_phase_board_is_its_two_legs():
    clock = ManualClock(1000)
    spi = SimSPI(clock=clock)
    chip = spi.add_chip(loads=(Load(120.0, 10.0), Load(), Load(120.0, 5.0)))
    source, reading, logged = source_for([(spi, chip, ("CT1", None, "CT2"))], clock)
    settle(source, clock)
    assert [c.name for c in reading.grid] == ["CT1", "CT2"]  # the legs are L1 and L2
    assert close(reading.power, 1200.0 + 600.0, 0.01)


def test_a_grid_with_a_failed_chip_has_no_power_not_a_partial_sum():
    # CT1-6 are all "grid": CT4-6's chip does not answer, so the grid's power is unknown, even
    # though its three phases (CT1-3) have theirs
    clock, chips = board(second_missing=True)
    source, reading, logged = source_for(chips, clock)
    settle(source, clock)
    assert [c.name for c in reading.grid] == ["CT1", "CT2", "CT3"]
    assert all(c.power is not None for c in reading.grid)
    assert reading.power is None


def test_exporting_grid_shows_export_power():
    clock, chips = board(first_loads=(Load(230.0, 5.0, 1.0, export=True), Load(), Load()))
    settings = {"ct1": {"role": "grid"}}
    for name in ("ct2", "ct3", "ct4", "ct5", "ct6"):
        settings[name] = {"role": "load"}
    source, reading, logged = source_for(chips, clock, settings)
    settle(source, clock)
    assert close(reading.power, -1150.0, 0.01)
    assert reading.import_power == 0.0 and close(reading.export_power, 1150.0, 0.01)


def test_configured_names_are_labels_and_channels_keep_their_ports():
    # a name is what users see; the channel's name (state key, HA ids, topics) stays the port,
    # so renaming never changes an identity, and two ports may share a name
    clock, chips = board()
    settings = {"ct1": {"name": "Grid"}, "ct2": {"name": "Heat pump"}, "ct3": {"name": "Grid"}}
    source, reading, logged = source_for(chips, clock, settings)
    names = [c.name for c in reading.channels]
    assert names == ["CT1", "CT2", "CT3", "CT4", "CT5", "CT6"]
    assert reading.channel("CT2").port == "CT2"
    assert [c.label for c in reading.channels[:3]] == ["Grid", "Heat pump", "Grid"]
    settings["ct2"] = {"name": "Sauna"}
    source.apply_settings(settings)
    assert reading.channel("CT2").label == "Sauna"
    assert [c.name for c in reading.channels] == names


def test_first_cycle_after_init_reports_nothing_rather_than_zeros():
    clock, chips = board()
    source, reading, logged = source_for(chips, clock)
    assert not source.read()  # the chips measured nothing yet
    assert reading.channel("CT1").voltage is None
    assert reading.power is None
    clock.advance(500)
    assert source.read()
    assert close(reading.channel("CT1").voltage, 230.0, 0.005)


def test_poll_is_true_when_a_fresh_reading_is_due_and_reads_the_chips_once_for_it():
    clock, chips = board()
    spi = chips[0][0]
    source, reading, logged = source_for(chips, clock, interval_ms=1000)
    assert not source.poll()  # the first cycle initialises the chips: nothing measured yet
    clock.advance(1000)
    assert source.poll()
    assert close(reading.channel("CT1").voltage, 230.0, 0.005)
    before = spi.transactions
    assert not source.poll()
    assert source.read()  # the reading just made stands: no second read of the chips
    assert spi.transactions == before
    clock.advance(999)
    assert not source.poll()
    assert spi.transactions == before
    clock.advance(1)
    assert source.poll()
    assert source.cycles == 3
    assert spi.transactions > before
    # readings stay on the interval's grid when the loop comes late: due at 3000, 4000, ...
    clock.advance(1030)
    assert source.poll()
    clock.advance(975)
    assert source.poll()
    clock.advance(5000)  # a stall: one reading, then the grid restarts from now
    assert source.poll()
    clock.advance(999)
    assert not source.poll()


def test_between_slow_readings_the_energy_registers_are_collected_in_time():
    clock, chips = board(first_loads=(Load(655.0, 65.5, 1.0), Load(), Load()))
    chip = chips[0][1].chip
    source, reading, logged = source_for(chips, clock, interval_ms=60000)
    assert source.interval_ms == 60000
    assert not source.poll()  # the chip is still settling after its init: nothing to publish
    clock.advance(1000)
    assert source.poll()  # the first reading stayed due: it comes once the chip has settled
    start = source.energy_counters()["CT1"][0]
    watts = chip.power_raw(0) * 0.00032  # 42.9 kW fills a 16-bit energy register in 17.2 s
    for _ in range(120):  # 60 s of loop turns every 0.5 s: the next reading is due once
        clock.advance(500)
        source.poll()
    assert source.cycles == 3  # the unsettled first poll(), the first reading, the one 60 s on
    counted = source.energy_counters()["CT1"][0] - start
    # registers collected from the first reading at 1 s to the one due at 61 s: 60 s of
    # energy, nothing lost to a wrapped register (one count = 11.25 J)
    assert abs(counted - watts * 60 / 11.25) < 2
    assert reading.channel("CT1").import_wh == source.energy_counters()["CT1"][0] // 320


def test_a_missing_chip_never_raises_and_leaves_the_other_working():
    clock, chips = board(second_missing=True)
    source, reading, logged = source_for(chips, clock)
    source.read()
    clock.advance(1000)
    assert source.read()  # chip 1 still gives values
    assert close(reading.channel("CT1").voltage, 230.0, 0.005)
    assert reading.channel("CT4").voltage is None and reading.channel("CT4").power is None
    assert reading.power is None  # CT4 is a grid channel too: no partial total
    assert source.errors >= 1 and "chip 2" in source.last_error
    assert any("0xFFFF" in line for line in logged)
    errors = source.errors
    clock.advance(1000)
    source.read()
    assert source.errors == errors  # not retried before REINIT_MS
    clock.advance(REINIT_MS)
    source.read()
    assert source.errors == errors + 1
    assert source.diagnostics()["chips_ready"] == 1


def test_a_chip_that_resets_itself_is_reinitialised_and_energy_stays_monotonic():
    clock, chips = board()
    source, reading, logged = source_for(chips, clock)
    settle(source, clock)
    imports = []
    for second in range(60):
        clock.advance(1000)
        if second == 20:
            chips[0][1].chip.power_cycle()  # brown-out of chip 1
        source.read()
        imports.append(source.energy_counters()["CT1"][0])
    assert imports == sorted(imports)
    assert source.errors == 1
    assert close(reading.channel("CT1").voltage, 230.0, 0.005)  # back after re-init


def test_energy_counters_persist_and_restore():
    clock, chips = board()
    source, reading, logged = source_for(chips, clock)
    settle(source, clock)
    for _ in range(30):
        clock.advance(1000)
        source.read()
    saved = source.energy_counters()
    assert saved["counts_per_wh"] == 320
    assert saved["CT1"][0] > 0 and saved["CT3"][1] > 0
    # a new boot: same board, counters restored, then counting on from there
    clock2, chips2 = board()
    restored, reading2, logged2 = source_for(chips2, clock2)
    assert sorted(restored.restore_energy(saved)) == ["CT1", "CT2", "CT3", "CT4", "CT5", "CT6"]
    assert restored.energy_counters() == saved
    settle(restored, clock2)
    assert reading2.channel("CT1").import_wh >= saved["CT1"][0] // 320
    after = restored.energy_counters()
    assert after["CT1"][0] > saved["CT1"][0]


def test_unusable_energy_state_is_refused_whole():
    clock, chips = board()
    source, reading, logged = source_for(chips, clock)
    source.restore_energy({"counts_per_wh": 320, "CT1": [100, 5]})
    before = source.energy_counters()
    bad_states = (
        [1, 2],
        {"counts_per_wh": 100, "CT1": [1, 2]},
        {"counts_per_wh": 320, "CT2": [1, 2], "CT3": [-1, 2]},
        {"counts_per_wh": 320, "CT2": [1, 2], "CT3": [1.5, 2]},
        {"counts_per_wh": 320, "CT2": [1, 2], "CT3": "lots"},
        {"counts_per_wh": 320, "CT2": [1, 2], "CT3": [1, 2, 3]},
    )
    for state in bad_states:
        assert raises_valueerror(source.restore_energy, state), state
        assert source.energy_counters() == before
    source.reset_energy()
    for key, value in source.energy_counters().items():
        assert key == "counts_per_wh" or value == [0, 0]


def test_channels_the_board_no_longer_has_do_not_block_the_rest():
    clock, chips = board()
    source, reading, logged = source_for(chips, clock)
    restored = source.restore_energy({"counts_per_wh": 320, "CT2": [640, 320], "CT9": [1, 2]})
    assert restored == ["CT2"]
    assert source.energy_counters()["CT2"] == [640, 320]
    assert "CT9" not in source.energy_counters()


def test_calibration_through_the_source():
    clock = ManualClock(1000)
    spi = SimSPI(clock=clock)
    cs = spi.add_chip(loads=(Load(230.0, 10.0), Load(0.0, 5.0), Load(0.0, 2.0)),
                      ucal=0x9000, ical=0x7000)
    chips = [(spi, cs, ("CT1", "CT2", "CT3"), {"channel_map_u": 0x0444})]
    source, reading, logged = source_for(chips, clock)
    settle(source, clock)
    assert close(reading.channel("CT2").voltage, 230.0 * 0x8000 / 0x9000, 0.01)
    result = source.calibrate("CT2", voltage=230.0)
    gain = result["ugain"]
    assert abs(gain - 0x9000) <= 2 and list(result) == ["ugain"]
    assert source.last_calibration == {"ct1": {"ugain": gain}, "ct2": {"ugain": gain},
                                       "ct3": {"ugain": gain}}
    clock.advance(1000)
    source.read()
    for name in ("CT1", "CT2", "CT3"):
        assert close(reading.channel(name).voltage, 230.0, 0.02)
    result = source.calibrate("ct1", current=10.0)
    assert abs(result["igain"] - 0x7000) <= 2
    # the firmware persists only the channel it asked about; the others follow the group
    counts = source.energy_counters()
    source.apply_settings({"ct2": {"ugain": gain}, "ct1": {"igain": result["igain"]}})
    assert source.energy_counters() == counts
    clock.advance(1000)
    source.read()
    assert close(reading.channel("CT3").voltage, 230.0, 0.02)
    assert close(reading.channel("CT1").current, 10.0, 0.002)


def test_calibration_refusals():
    clock, chips = board()
    source, reading, logged = source_for(chips, clock, {"ct6": {"role": "off"}})
    settle(source, clock)
    assert raises_valueerror(source.calibrate, "CT9", voltage=230.0)
    assert raises_valueerror(source.calibrate, 1, voltage=230.0)
    assert raises_valueerror(source.calibrate, "CT1")
    assert raises_valueerror(source.calibrate, "CT1", voltage=230.0, current=1.0)
    assert raises_valueerror(source.calibrate, "CT1", voltage="230")
    assert raises_valueerror(source.calibrate, "CT1", voltage=True)
    assert raises_valueerror(source.calibrate, "CT1", voltage=5000.0)
    assert raises_valueerror(source.calibrate, "CT5", current=1.0)  # 0 A on CT5
    assert raises_valueerror(source.calibrate, "CT6", current=3.0)  # off
    assert close(reading.channel("CT1").voltage, 230.0, 0.005)  # nothing changed


def test_bad_atm90e32_settings_are_refused_by_the_schema_naming_the_key():
    # The source and the driver trust their settings: each check of atm90e32.* is the config
    # schema's, and a bad value is refused there before it reaches the source (what the source
    # and the driver checked themselves until then: line frequency, PGA gain, gains, names,
    # roles, reversed flags, each channel an object).
    import config_schema

    bad = (('"line_freq": 55', "atm90e32.line_freq:"), ('"pga_gain": "4"', "atm90e32.pga_gain:"),
           ('"pga_gain": 3', "atm90e32.pga_gain:"),
           ('"ct1": {"ugain": -3}', "atm90e32.ct1.ugain:"),
           ('"ct4": {"igain": 70000}', "atm90e32.ct4.igain:"),
           ('"ct1": {"igain": 1.5}', "atm90e32.ct1.igain:"),
           ('"ct2": {"reversed": "yes"}', "atm90e32.ct2.reversed:"),
           ('"ct3": {"role": "house"}', "atm90e32.ct3.role:"),
           ('"ct6": {"name": 7}', "atm90e32.ct6.name:"), ('"ct2": "grid"', "atm90e32.ct2:"))
    config = config_schema.defaults()
    for text, named in bad:
        result, new = config_schema.apply_change(config, ('{"atm90e32": {%s}}' % text).encode())
        assert not result["ok"] and result["error"].startswith(named), (text, result)
        assert new is config
    assert config_schema.validate(config) is None


def test_settings_left_out_take_their_defaults():
    clock, chips = board()
    source, reading, logged = source_for(chips, clock, {"ct2": {"role": "load"}})
    settle(source, clock)
    assert [c.role for c in reading.channels] == ["grid", "load"] + ["grid"] * 4
    assert [c.label for c in reading.channels] == [""] * 6
    assert close(reading.channel("CT1").voltage, 230.0, 0.005)
    assert logged == []


def test_reversed_setting_flips_a_channel_at_once():
    clock, chips = board()
    source, reading, logged = source_for(chips, clock)
    settle(source, clock)
    assert reading.channel("CT3").power < 0
    source.apply_settings({"ct3": {"reversed": True}})
    clock.advance(1000)
    source.read()
    assert close(reading.channel("CT3").power, 920.0, 0.001)
    for _ in range(20):
        clock.advance(1000)
        source.read()
    counts = source.energy_counters()["CT3"]
    assert counts[0] > 0  # the export now counts as import


def test_line_frequency_change_rebuilds_the_chip_and_keeps_energy():
    clock, chips = board()
    source, reading, logged = source_for(chips, clock)
    settle(source, clock)
    for _ in range(10):
        clock.advance(1000)
        source.read()
    before = source.energy_counters()
    source.apply_settings({"line_freq": 60})
    assert source.energy_counters()["CT1"][0] >= before["CT1"][0]
    clock.advance(1000)
    source.read()
    assert chips[0][1].chip.peek(0x33) & 0x1000  # MMode0 60 Hz after re-init
    assert source.energy_counters()["CT1"][0] >= before["CT1"][0]


def test_board_defaults_apply_when_gains_are_zero():
    clock = ManualClock(1000)
    spi = SimSPI(clock=clock)
    cs = spi.add_chip(loads=(Load(230.0, 1.0), Load(), Load()))
    chips = [(spi, cs, ("CT1", None, "CT2"), {"ugain": 7305, "igain": 27518})]
    source, reading, logged = source_for(chips, clock, {"ct2": {"ugain": 9000}})
    source.start()
    chip = cs.chip
    assert chip.peek(0x61) == 7305 and chip.peek(0x62) == 27518
    assert chip.peek(0x69) == 9000 and chip.peek(0x6A) == 27518
    assert [c.name for c in reading.channels] == ["CT1", "CT2"]
    try:
        Atm90e32Source([(spi, cs, ("CT1", "CT2", "CT3"), {"volume": 11})], clock=clock)
    except ValueError:
        return
    raise AssertionError("an unknown board option was accepted")


def test_totals_are_exact_sums_of_the_published_hundredths():
    # 1000.1 + 0.2 + 2.7 W: float additions would give 1003.0000000000001 (and worse on the
    # boards' float32); the totals add integer hundredths and divide once
    loads = (Load(230.0, 1000.1 / 230.0), Load(230.0, 0.2 / 230.0),
             Load(230.0, 2.7 / 230.0, 1.0, export=True))
    clock, chips = board(first_loads=loads)
    settings = {"ct4": {"role": "off"}, "ct5": {"role": "off"}, "ct6": {"role": "off"}}
    source, reading, logged = source_for(chips, clock, settings)
    settle(source, clock)
    assert [reading.channel(n).power for n in ("CT1", "CT2", "CT3")] == [1000.1, 0.2, -2.7]
    assert reading.power == 997.6
    assert reading.import_power == 997.6 and reading.export_power == 0.0



def test_energy_store_saves_restores_and_keeps_an_unusable_file():
    import energy_store
    import storage

    clock, chips = board()
    # one name per run: the interpreters run this module at the same time
    path = support.scratch_path("atm90e32_energy_test_%x.json" % (id(clock) ^ id(chips)))
    for leftover in (path, path + ".bad"):
        storage.remove(leftover)
    source, reading, logged = source_for(chips, clock)
    settle(source, clock)
    for _ in range(5):
        clock.advance(1000)
        source.read()
    store = energy_store.EnergyStore(source, path)
    store.save()
    saved = source.energy_counters()
    assert saved["CT1"][0] > 0 and store.saves == 1
    clock2, chips2 = board()
    restored, reading2, logged2 = source_for(chips2, clock2)
    assert energy_store.EnergyStore(restored, path).restore() is None
    assert restored.energy_counters() == saved
    try:
        for text in ("{not json", '{"counts_per_wh": 100, "CT1": [1, 2]}'):
            storage.write_atomic(path, text)
            clock3, chips3 = board()
            fresh, reading3, logged3 = source_for(chips3, clock3)
            note = energy_store.EnergyStore(fresh, path).restore()
            assert "could not be restored" in note and path + ".bad" in note
            assert storage.read_text(path + ".bad") == text  # kept for a human to look at
            assert fresh.energy_counters()["CT1"] == [0, 0]
    finally:
        for leftover in (path, path + ".bad"):
            storage.remove(leftover)
