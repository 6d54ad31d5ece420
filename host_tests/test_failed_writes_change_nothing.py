# portable
# Failures that must change nothing (issue 16): flash errors named in words, an interrupted
# write that leaves no temp file, a calibration that is measured (and bounded) before it is
# applied, reset_energy on a flash that cannot take it, and published energy capped at what
# is saved.
import support
from atm90e32_source import Atm90e32Source
from boards.sim_atm90e32 import Load, ManualClock, SimSPI
from reading import Reading


def _new_source():
    """A fresh emulated chip with three loads and its source, not yet read."""
    clock = ManualClock(1000)
    spi = SimSPI(clock=clock)
    cs = spi.add_chip(loads=(Load(230.0, 10.0), Load(230.0, 5.0), Load(230.0, 2.0)))
    reading = Reading("atm90e32")
    source = Atm90e32Source([(spi, cs, ("CT1", "CT2", "CT3"), None)], None, reading,
                            clock=clock, sleep_ms=clock.sleep_ms)
    return source, reading, clock


def _source():
    source, reading, clock = _new_source()
    source.read()
    clock.advance(1000)
    assert source.read()
    return source, reading, clock


def _read(source, clock, seconds=1):
    for _ in range(seconds):
        clock.advance(1000)
        source.read()



def test_flash_errors_are_named_in_words():
    import flash_error

    assert flash_error.describe(OSError(28)) == "flash full"
    assert flash_error.describe(OSError(30)) == "read-only"
    assert flash_error.describe(OSError(13)) == "EACCES"
    assert flash_error.describe(OSError(5)) == "EIO"


def test_a_write_interrupted_half_way_leaves_the_old_file_and_no_temp_file():
    import storage

    path = support.scratch_path("interrupted_write_%x.json" % id(storage))
    storage.write_atomic(path, "old")

    def pieces():
        yield b"new, half"
        raise KeyboardInterrupt()  # Ctrl-C while saving

    try:
        interrupted = False
        try:
            storage.write_pieces_atomic(path, pieces())
        except KeyboardInterrupt:
            interrupted = True
        assert interrupted
        assert storage.read_text(path) == "old"
        assert not storage.exists(path + ".tmp")
    finally:
        storage.remove(path)


def test_a_measured_calibration_writes_nothing_until_applied():
    source, reading, clock = _source()
    volts = reading.channel("CT1").voltage
    gains = source.calibrate("CT1", voltage=volts * 1.1, write=False)
    assert source.last_calibration["ct1"] == gains
    _read(source, clock)
    assert abs(reading.channel("CT1").voltage - volts) < 0.01 * volts  # not applied
    source.apply_settings(source.last_calibration)  # what the firmware does once it is saved
    _read(source, clock, 3)
    assert abs(reading.channel("CT1").voltage - volts * 1.1) < 0.01 * volts


def test_a_calibration_beyond_the_bound_is_refused_and_writes_nothing():
    source, reading, clock = _source()
    volts = reading.channel("CT1").voltage
    for reference in (volts / 10, volts * 1.25, volts * 0.75):
        refused = None
        try:
            source.calibrate("CT1", voltage=reference, max_change=0.2)
        except ValueError as e:
            refused = str(e)
        assert refused is not None and "20 %" in refused and "CT1" in refused, refused
        _read(source, clock)
        assert abs(reading.channel("CT1").voltage - volts) < 0.01 * volts
    # within the bound, written at once (write=True)
    source.calibrate("CT1", voltage=volts * 1.15, max_change=0.2)
    _read(source, clock)
    assert abs(reading.channel("CT1").voltage - volts * 1.15) < 0.01 * volts


def test_reset_energy_that_cannot_be_saved_changes_nothing():
    import energy_store

    source, reading, clock = _source()
    _read(source, clock, 20)
    before = source.energy_counters()
    assert before["CT1"][0] > 0
    store = energy_store.EnergyStore(source, "/nonexistent-dir/energy.json")
    failed = False
    try:
        store.reset()
    except OSError:
        failed = True
    assert failed
    assert source.energy_counters() == before


def test_published_energy_never_exceeds_the_saved_counters():
    import energy_store
    import storage

    source, reading, clock = _source()
    path = support.scratch_path("energy_cap_%x.json" % id(source))
    store = energy_store.EnergyStore(source, path)
    try:
        _read(source, clock, 30)
        assert store.save()
        saved_wh = source.energy_counters()["CT1"][0] // 320
        assert saved_wh > 0
        _read(source, clock, 30)  # counted, not saved: a power loss now would lose it
        assert source.energy_counters()["CT1"][0] // 320 > saved_wh
        assert reading.channel("CT1").import_wh == saved_wh
        assert reading.import_wh == sum(reading.channel(n).import_wh for n in ("CT1", "CT2",
                                                                              "CT3"))
        assert store.save()
        _read(source, clock)
        assert reading.channel("CT1").import_wh == store.saved["CT1"][0] // 320 > saved_wh
        # what a boot after a power loss restores: the same as last published, never less
        restored, reading2, clock2 = _new_source()
        assert energy_store.EnergyStore(restored, path).restore() is None
        restored.read()
        clock2.advance(1000)
        restored.read()
        assert reading2.channel("CT1").import_wh >= reading.channel("CT1").import_wh
    finally:
        storage.remove(path)
