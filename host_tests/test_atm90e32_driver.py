# portable
# The ATM90E32 driver (lib/atm90e32/atm90e32.py) against the register-level emulator
# (boards/sim_atm90e32.py): scaling, signs, 32-bit power, energy, several chips, faults,
# calibration, reversed CTs. Runs under CPython (pytest) and the MicroPython unix port.
from atm90e32 import COUNTS_PER_WH, ATM90E32
from boards.sim_atm90e32 import Load, ManualClock, SimSPI

WINDOW_MS = 320  # one measurement window at 50 Hz: registers refresh at its end


def make(loads=None, **chip_kwargs):
    """(clock, spi, chip, meter): one initialised chip whose first window has been measured."""
    clock = ManualClock(1000)
    spi = SimSPI(clock=clock)
    if loads is None:
        loads = (Load(230.0, 10.0, 0.95), Load(231.0, 3.3, 0.8), Load(229.0, 0.5, 1.0))
    cs = spi.add_chip(loads=loads, **chip_kwargs)
    meter = ATM90E32(spi, cs, sleep_ms=clock.sleep_ms)
    meter.init()
    clock.advance(WINDOW_MS)
    return clock, spi, cs.chip, meter


def close(a, b, tolerance):
    return abs(a - b) <= tolerance


def raises_oserror(function, *args):
    try:
        function(*args)
    except OSError:
        return True
    return False


def raises_valueerror(function, *args):
    try:
        function(*args)
    except ValueError:
        return True
    return False


def test_scaling_follows_the_datasheet_formulas():
    clock, spi, chip, meter = make()
    # V = Urms/100, A = Irms/1000 (docs/atm90e32.md §6.1-6.2): within one register LSB of the load
    assert close(meter.voltage(0), 230.0, 0.005)
    assert close(meter.voltage(1), 231.0, 0.005)
    assert close(meter.current(0), 10.0, 0.0005)
    assert close(meter.current(2), 0.5, 0.0005)
    # W/var/VA = signed 32-bit x 0.00032 (DS Table-13)
    assert close(meter.active_power(0), 230.0 * 10.0 * 0.95, 0.001)
    assert close(meter.apparent_power(0), 2300.0, 0.001)
    # 718.1748 var, published at 0.01 var (0.0005 for the float32 reference itself)
    assert close(meter.reactive_power(0), 718.17477, 0.0055)
    assert meter.reactive_power(0) == 718.17
    assert close(meter.active_power(1), 231.0 * 3.3 * 0.8, 0.001)
    assert close(meter.power_factor(0), 0.95, 0.0005)
    assert close(meter.power_factor(1), 0.8, 0.0005)
    assert close(meter.frequency(), 50.0, 0.005)
    assert meter.temperature() == 31


def test_sixty_hertz_and_frequency_register():
    clock, spi, chip, meter = make(frequency=59.97)
    clock.advance(WINDOW_MS)
    assert close(meter.frequency(), 59.97, 0.005)


def test_power_uses_the_low_word():
    # 1000.5 W = 3126562.5 LSB = 0x002F_B522.8: the high word alone says 47 x 65536 LSB =
    # 985.7 W. Published at 0.01 W, computed from the exact count: 1000.5 on every port (a
    # float32 product raw x 0.00032 would print 1000.4998).
    clock, spi, chip, meter = make((Load(230.0, 1000.5 / 230.0, 1.0), Load(), Load()))
    raw = chip.power_raw(0)
    assert raw & 0xFFFF != 0 and raw >> 16 == 47
    assert meter.active_power(0) == 1000.5
    assert meter.power_centi(0, 0) == 100050


def test_power_is_rounded_to_hundredths_from_the_exact_count():
    # count x 0.00032 W, rounded half away from zero at 0.01 W, for both signs
    clock, spi, chip, meter = make((Load(), Load(), Load()))
    for count, centi in ((1, 0), (15, 0), (16, 1), (47, 2), (48, 2), (3126562, 100050),
                         (121875000, 3900000), (-1, 0), (-16, -1), (-3126562, -100050),
                         (0x7FFFFFFF, 68719477), (-0x7FFFFFFF, -68719477)):
        meter.raw[2] = (count >> 16) & 0xFFFF
        meter.raw[3] = count & 0xFFFF
        assert meter.power_centi(0, 0) == centi, (count, meter.power_centi(0, 0))
        assert meter.active_power(0, True) == centi / 100


def test_large_power_keeps_its_high_word():
    # 40 kW: far beyond 16 bits of 0.00032 W
    clock, spi, chip, meter = make((Load(600.0, 65.0, 1.0), Load(), Load()))
    assert close(meter.active_power(0), 39000.0, 0.001)
    assert close(meter.apparent_power(0), 39000.0, 0.001)


def test_export_reads_negative_power_and_power_factor():
    clock, spi, chip, meter = make((Load(230.0, 8.0, 0.9, export=True), Load(), Load()))
    assert close(meter.active_power(0), -230.0 * 8.0 * 0.9, 0.001)
    assert meter.active_power(0) < 0
    assert close(meter.power_factor(0), -0.9, 0.0005)
    assert meter.apparent_power(0) > 0  # S is a magnitude
    assert meter.current(0) > 0  # so is Irms: direction only from P (docs/atm90e32.md §6.2, §12)
    # a small export, whose high word is 0xFFFF: two's complement across both words
    clock, spi, chip, meter = make((Load(230.0, 0.01, 1.0, export=True), Load(), Load()))
    assert chip.power_raw(0) < 0 and (chip.power_raw(0) >> 16) & 0xFFFF == 0xFFFF
    assert close(meter.active_power(0), -2.3, 0.001)


def test_leading_load_reads_negative_reactive_power():
    clock, spi, chip, meter = make((Load(230.0, 4.0, 0.6, leading=True), Load(), Load()))
    assert close(meter.reactive_power(0), -230.0 * 4.0 * 0.8, 0.001)
    assert meter.power_factor(0) > 0  # PF's sign follows P, not Q (docs/atm90e32.md §6.4)


def test_negative_temperature():
    clock, spi, chip, meter = make(temperature=-17)
    assert meter.temperature() == -17


def test_sweep_reads_every_register_and_cached_getters_agree_with_live_ones():
    clock, spi, chip, meter = make()
    meter.sweep()
    for p in range(3):
        assert meter.voltage(p, True) == meter.voltage(p)
        assert meter.current(p, True) == meter.current(p)
        assert meter.active_power(p, True) == meter.active_power(p)
        assert meter.reactive_power(p, True) == meter.reactive_power(p)
        assert meter.apparent_power(p, True) == meter.apparent_power(p)
        assert meter.power_factor(p, True) == meter.power_factor(p)
    assert meter.frequency(True) == meter.frequency()
    assert meter.temperature(True) == meter.temperature()


def test_energy_accumulates_across_many_read_and_clear_cycles_without_loss():
    # 230 V x 10 A at PF 1 = 2300 W = 7187500 LSB exactly; export 1150 W on phase B
    loads = (Load(230.0, 10.0, 1.0), Load(230.0, 5.0, 1.0, export=True), Load(230.0, 0.0))
    clock, spi, chip, meter = make(loads)
    meter.update_energy()  # from here on, count exactly
    start_import, _ = meter.energy_counts(0)
    _, start_export = meter.energy_counts(1)
    seed = 12345
    elapsed = 0
    for _ in range(2000):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        step = 50 + seed % 7950  # irregular cycles up to 8 s
        clock.advance(step)
        elapsed += step
        meter.update_energy()
    imported = meter.energy_counts(0)[0] - start_import
    exported = meter.energy_counts(1)[1] - start_export
    # one count = 11.25 J (1/320 Wh); whatever is below one count stays in the chip
    assert abs(imported - 2300 * elapsed / 11250) < 1
    assert abs(exported - 1150 * elapsed / 11250) < 1
    assert meter.energy_counts(0)[1] == 0 and meter.energy_counts(1)[0] == 0
    assert meter.import_wh(0) == meter.energy_counts(0)[0] // COUNTS_PER_WH
    assert meter.export_wh(1) == meter.energy_counts(1)[1] // COUNTS_PER_WH
    assert meter.import_wh(2) == 0 and meter.export_wh(2) == 0


def test_energy_at_full_scale_survives_the_longest_read_interval():
    # 655 V x 65.5 A = 42.9 kW fills a 16-bit register in 17.2 s: read every 8 s, lose nothing
    clock, spi, chip, meter = make((Load(655.0, 65.5, 1.0), Load(), Load()))
    meter.update_energy()
    start = meter.energy_counts(0)[0]
    for _ in range(45):
        clock.advance(8000)
        meter.update_energy()
    watts = chip.power_raw(0) * 0.00032
    assert abs(meter.energy_counts(0)[0] - start - watts * 360 / 11.25) < 1
    # and the emulated register does wrap when read too rarely (a 20 s gap loses 65536 counts)
    clock.advance(20000)
    meter.update_energy()
    assert abs(meter.energy_counts(0)[0] - start - watts * 380 / 11.25 + 65536) < 1


def test_lifetime_counters_can_be_seeded_and_seeding_twice_does_not_double_count():
    clock, spi, chip, meter = make((Load(230.0, 10.0, 1.0), Load(), Load()))
    meter.update_energy()
    clock.advance(60000)
    meter.update_energy()
    counted = meter.energy_counts(0)[0]
    meter.seed_energy(0, 320 * 5000 + 7, 99)
    assert meter.energy_counts(0) == (320 * 5000 + 7 + counted, 99)
    meter.seed_energy(0, 320 * 5000 + 7, 99)
    assert meter.energy_counts(0) == (320 * 5000 + 7 + counted, 99)
    assert meter.import_wh(0) == (320 * 5000 + 7 + counted) // 320
    meter.clear_energy(0)
    assert meter.energy_counts(0) == (0, 0)


def test_two_chips_on_one_bus_answer_only_to_their_own_chip_select():
    clock = ManualClock(1000)
    spi = SimSPI(clock=clock)
    cs_a = spi.add_chip(loads=(Load(230.0, 1.0), Load(230.0, 2.0), Load(230.0, 3.0)))
    cs_b = spi.add_chip(loads=(Load(240.0, 4.0), Load(240.0, 5.0), Load(240.0, 6.0)),
                        temperature=45)
    meter_a = ATM90E32(spi, cs_a, sleep_ms=clock.sleep_ms)
    meter_b = ATM90E32(spi, cs_b, sleep_ms=clock.sleep_ms)
    meter_a.init()
    meter_b.init()
    clock.advance(WINDOW_MS)
    assert close(meter_a.voltage(0), 230.0, 0.005) and close(meter_b.voltage(0), 240.0, 0.005)
    assert close(meter_a.current(2), 3.0, 0.0005) and close(meter_b.current(2), 6.0, 0.0005)
    assert meter_a.temperature() == 31 and meter_b.temperature() == 45
    # re-initialising one chip leaves the other configured and counting
    clock.advance(10000)
    meter_a.init()
    meter_b.update_energy()
    assert meter_b.energy_counts(0)[0] > 0
    meter_b.check()


def test_missing_chip_raises_oserror_never_zeros():
    clock = ManualClock()
    spi = SimSPI(clock=clock)
    meter = ATM90E32(spi, spi.add_missing_chip(), sleep_ms=clock.sleep_ms)
    assert raises_oserror(meter.init)
    assert raises_oserror(meter.voltage, 0)
    assert raises_oserror(meter.sweep)
    assert raises_oserror(meter.update_energy)
    assert meter.energy_counts(0) == (0, 0)  # 0xFFFF reads are not energy


def test_chip_that_disappears_or_resets_is_detected():
    clock, spi, chip, meter = make()
    meter.update_energy()
    chip.present = False
    clock.advance(5000)
    assert raises_oserror(meter.voltage, 0)
    assert raises_oserror(meter.temperature)
    assert raises_oserror(meter.update_energy)
    assert meter.energy_counts(0)[0] < 320  # nothing added from the floating bus
    chip.present = True
    chip.power_cycle()  # a brown-out: the chip is back with its defaults
    assert raises_oserror(meter.sweep)
    meter.init()
    clock.advance(WINDOW_MS)
    meter.sweep()
    assert close(meter.voltage(0, True), 230.0, 0.005)


def test_a_write_that_does_not_land_is_retried_and_detected():
    clock, spi, chip, meter = make()
    chip.drop_writes(1)
    meter.set_igain(0, 30000)  # the first try is lost, the retry lands
    assert chip.writes_dropped == 1 and meter.write_retries == 1
    assert chip.peek(0x62) == 30000
    # Ugain B already holds the value to write, and LastSPIData may too: still detected
    chip.drop_writes(50)
    assert raises_oserror(meter.set_ugain, 1, meter.ugain(0))
    chip.drop_writes(50)
    assert raises_oserror(meter.set_igain, 2, 12345)
    assert chip.peek(0x6A) != 12345
    chip.drop_writes(0)


def test_init_detects_a_soft_reset_or_configuration_that_did_not_land():
    clock = ManualClock()
    spi = SimSPI(clock=clock)
    cs = spi.add_chip(loads=(Load(), Load(), Load()))
    meter = ATM90E32(spi, cs, sleep_ms=clock.sleep_ms)
    cs.chip.drop_writes(1000)
    assert raises_oserror(meter.init)
    cs.chip.drop_writes(0)
    meter.init()
    meter.check()
    # a dropped write anywhere in init is retried: the chip ends up fully configured
    meter = ATM90E32(spi, cs, ugain=(1111, 2222, 3333), igain=4444, sleep_ms=clock.sleep_ms)
    committed = cs.chip.writes_committed
    meter.init()
    writes_per_init = cs.chip.writes_committed - committed
    assert writes_per_init > 20
    for after in range(writes_per_init):
        dropped = cs.chip.writes_dropped
        cs.chip.drop_writes(1, after)
        meter.init()
        assert cs.chip.writes_dropped == dropped + 1
        assert cs.chip.peek(0x00) == 1 and cs.chip.peek(0x33) == 0x0087
        assert chip_gains(cs.chip) == (1111, 2222, 3333)
        assert cs.chip.peek(0x62) == cs.chip.peek(0x66) == cs.chip.peek(0x6A) == 4444
        assert cs.chip.peek(0x7F) != 0x55AA  # configuration access closed again
    # two lost in a row: still retried
    cs.chip.drop_writes(2, 7)
    meter.init()
    assert chip_gains(cs.chip) == (1111, 2222, 3333)


def test_corrupted_energy_read_is_recovered_from_last_spi_data():
    loads = (Load(230.0, 10.0, 1.0), Load(), Load())
    clock, spi, chip, meter = make(loads)
    meter.update_energy()
    before = meter.energy_counts(0)[0]
    clock.advance(3600)
    chip.corrupt_reads(1)  # the first energy register read comes back with flipped bits
    meter.update_energy()
    assert abs(meter.energy_counts(0)[0] - before - 2300 * 3600 / 11250) < 1


def test_power_read_is_not_torn_between_high_and_low_words():
    # The load alternates every window between two powers whose high and low words both
    # differ; a clock that moves with every transaction makes windows end mid-read.
    class Alternating:
        constant = False

        def __init__(self):
            self.loads = (Load(230.0, 131071 * 0.00032 / 230.0, 1.0),
                          Load(230.0, 196608.6 * 0.00032 / 230.0, 1.0))

        def sample(self, t_ms):
            return self.loads[(t_ms // WINDOW_MS) % 2]

    class Ticking(ManualClock):
        def __call__(self):
            self.now += 23
            return self.now

    clock = Ticking()
    spi = SimSPI(clock=clock)
    cs = spi.add_chip(loads=(Alternating(), Load(), Load()))
    meter = ATM90E32(spi, cs, sleep_ms=clock.sleep_ms)
    meter.init()
    valid = (131071, 196609)
    seen = []
    for _ in range(300):
        meter.active_power(0)
        raw = (meter.raw[2] << 16) | meter.raw[3]  # the words that read gave
        assert raw in valid or raw == 0, raw  # 0: the first window after init
        seen.append(raw)
    assert valid[0] in seen and valid[1] in seen


def test_calibration_scales_the_gain_and_the_readings():
    # this chip's hardware reads true at Ugain 0x9C40 / Igain 0x6000, not the default 0x8000
    loads = (Load(230.0, 10.0, 1.0), Load(230.0, 10.0, 1.0), Load(230.0, 10.0, 1.0))
    clock, spi, chip, meter = make(loads, ucal=0x9C40, ical=0x6000)
    assert close(meter.voltage(0), 230.0 * 0x8000 / 0x9C40, 0.01)
    gain = meter.calibrate_voltage(0, 230.0, samples=3, interval_ms=WINDOW_MS)
    assert abs(gain - 0x9C40) <= 2
    assert meter.ugain(0) == gain and chip.peek(0x61) == gain
    assert chip.peek(0x65) == 0x8000  # phase B has its own voltage input
    clock.advance(WINDOW_MS)
    assert close(meter.voltage(0), 230.0, 0.02)
    gain = meter.calibrate_current(0, 10.0, samples=2, interval_ms=WINDOW_MS)
    assert abs(gain - 0x6000) <= 2 and chip.peek(0x62) == gain
    clock.advance(WINDOW_MS)
    assert close(meter.current(0), 10.0, 0.002)
    assert close(meter.active_power(0), 2300.0, 0.5)
    # a second pass from the calibrated gain changes almost nothing (new = ref/meas x old)
    assert abs(meter.calibrate_voltage(0, 230.0, samples=1) - 0x9C40) <= 2


def test_voltage_calibration_applies_to_every_phase_on_the_same_input():
    loads = (Load(230.0, 1.0), Load(0.0, 2.0), Load(0.0, 3.0))  # only U0 is wired (CT6)
    clock = ManualClock(1000)
    spi = SimSPI(clock=clock)
    cs = spi.add_chip(loads=loads, ucal=0x7000)
    meter = ATM90E32(spi, cs, channel_map_u=0x0444, sleep_ms=clock.sleep_ms)
    meter.init()
    clock.advance(WINDOW_MS)
    assert meter.voltage_group(1) == (0, 1, 2)
    assert close(meter.voltage(2), 230.0 * 0x8000 / 0x7000, 0.01)
    gain = meter.calibrate_voltage(1, 230.0, samples=1)
    assert chip_gains(cs.chip) == (gain, gain, gain)
    clock.advance(WINDOW_MS)
    for p in range(3):
        assert close(meter.voltage(p), 230.0, 0.02)


def chip_gains(chip):
    return (chip.peek(0x61), chip.peek(0x65), chip.peek(0x69))


def test_calibration_refuses_unusable_measurements_and_writes_nothing():
    clock, spi, chip, meter = make((Load(0.0, 0.0), Load(230.0, 0.0), Load(230.0, 0.01)))
    assert raises_valueerror(meter.calibrate_voltage, 0, 230.0, 1)  # no voltage at all
    assert raises_valueerror(meter.calibrate_current, 1, 5.0, 1)  # no current
    assert raises_valueerror(meter.calibrate_current, 2, 65.0, 1)  # 0.01 A -> gain > 65535
    assert raises_valueerror(meter.calibrate_voltage, 1, -5.0, 1)  # gain < 1
    assert chip.peek(0x61) == 0x8000 and chip.peek(0x66) == 0x8000 and chip.peek(0x6A) == 0x8000


def test_reversed_ct_flips_signs_and_swaps_import_and_export():
    loads = (Load(230.0, 10.0, 0.8), Load(230.0, 10.0, 0.8), Load())
    clock, spi, chip, meter = make(loads)
    meter.set_reversed(1, True)
    assert close(meter.active_power(1), -meter.active_power(0), 1e-9)
    assert close(meter.reactive_power(1), -meter.reactive_power(0), 1e-9)
    assert close(meter.power_factor(1), -meter.power_factor(0), 1e-9)
    assert meter.apparent_power(1) == meter.apparent_power(0)
    meter.update_energy()
    clock.advance(36000)
    meter.update_energy()
    assert meter.energy_counts(0)[1] == 0 and meter.energy_counts(1)[0] == 0
    assert meter.energy_counts(1)[1] == meter.energy_counts(0)[0] > 0
    # the flag can also come with the constructor
    other = ATM90E32(spi, spi.add_chip(loads=loads), reverse=(True, False, False),
                     sleep_ms=clock.sleep_ms)
    other.init()
    clock.advance(WINDOW_MS)
    assert other.active_power(0) < 0 < other.active_power(1)


def test_phase_numbers_outside_a_b_c_are_refused():
    spi = SimSPI(clock=ManualClock())
    meter = ATM90E32(spi, spi.add_chip())
    for p in (3, -1):
        assert raises_valueerror(meter.voltage, p)
        assert raises_valueerror(meter.import_wh, p)
        assert raises_valueerror(meter.energy_counts, p)


def test_line_frequency_and_pga_reach_the_chip():
    clock = ManualClock()
    spi = SimSPI(clock=clock)
    cs = spi.add_chip(loads=(Load(120.0, 2.0), Load(), Load()), frequency=60.0)
    meter = ATM90E32(spi, cs, line_freq=60, pga_gain=4, sleep_ms=clock.sleep_ms)
    meter.init()
    assert cs.chip.peek(0x33) & 0x1000  # MMode0 Freq60Hz
    assert cs.chip.peek(0x34) == 0x002A  # MMode1: 4x on all current channels
    clock.advance(300)
    # the emulated PGA multiplies the current input: 4 x 2 A at the default gain
    assert close(meter.current(0), 8.0, 0.001)


def test_cs_pin_with_on_off_only_works():
    class OnOffPin:
        def __init__(self, pin):
            self.pin = pin

        def on(self):
            self.pin.value(1)

        def off(self):
            self.pin.value(0)

    clock = ManualClock()
    spi = SimSPI(clock=clock)
    cs = spi.add_chip(loads=(Load(230.0, 1.0), Load(), Load()))
    meter = ATM90E32(spi, OnOffPin(cs), sleep_ms=clock.sleep_ms)
    meter.init()
    clock.advance(WINDOW_MS)
    assert close(meter.voltage(0), 230.0, 0.005)
    assert cs.value() == 1  # released after every transaction
