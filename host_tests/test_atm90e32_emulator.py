# portable
# The register-level ATM90E32 emulator (boards/sim_atm90e32.py) at the wire: what the datasheet
# says the SPI interface does (docs/atm90e32.md §3), driven byte by byte without the driver.
from boards.sim_atm90e32 import HouseLoad, Load, ManualClock, SimSPI, house_board, house_bus


def bus(**chip_kwargs):
    clock = ManualClock(500)
    spi = SimSPI(clock=clock)
    cs = spi.add_chip(**chip_kwargs)
    return clock, spi, cs


def transfer(spi, cs, out):
    """One CS-low transaction clocking the bytes of `out`; returns what came back."""
    back = bytearray(len(out))
    cs.value(0)
    spi.write_readinto(bytes(out), back)
    cs.value(1)
    return back


def read(spi, cs, addr):
    back = transfer(spi, cs, [0x80 | (addr >> 8), addr & 0xFF, 0, 0])
    return (back[2] << 8) | back[3]


def write(spi, cs, addr, value):
    transfer(spi, cs, [addr >> 8, addr & 0xFF, value >> 8, value & 0xFF])


def test_registers_reset_to_their_datasheet_defaults():
    clock, spi, cs = bus()
    assert read(spi, cs, 0x33) == 0x0087  # MMode0
    assert read(spi, cs, 0x61) == 0x8000  # UgainA
    assert read(spi, cs, 0x31) == 0x0861 and read(spi, cs, 0x32) == 0xC468  # PL_constant
    assert read(spi, cs, 0x00) == 0  # MeterEn
    assert read(spi, cs, 0x70) == 0  # SoftReset reads 0
    assert read(spi, cs, 0x30) == 0  # ConfigStart is an ATM90E36 register: nothing here


def test_a_write_commits_only_after_exactly_32_clocks():
    clock, spi, cs = bus()
    write(spi, cs, 0x7F, 0x55AA)
    transfer(spi, cs, [0x00, 0x61, 0x12])  # 24 clocks
    assert read(spi, cs, 0x61) == 0x8000
    transfer(spi, cs, [0x00, 0x61, 0x12, 0x34, 0x56])  # 40 clocks
    assert read(spi, cs, 0x61) == 0x8000
    write(spi, cs, 0x61, 0x1234)
    assert read(spi, cs, 0x61) == 0x1234


def test_address_word_bit_15_reads_and_bits_14_to_10_are_ignored():
    clock, spi, cs = bus()
    write(spi, cs, 0x7F, 0x55AA)
    write(spi, cs, 0x7C00 | 0x62, 0x4321)  # don't-care bits set
    assert read(spi, cs, 0x62) == 0x4321
    back = transfer(spi, cs, [0x80 | 0x7C, 0x62, 0, 0])
    assert (back[2] << 8) | back[3] == 0x4321


def test_last_spi_data_holds_the_last_read_or_committed_write():
    clock, spi, cs = bus()
    write(spi, cs, 0x7F, 0x55AA)
    assert read(spi, cs, 0x78) == 0x55AA
    assert read(spi, cs, 0x33) == 0x0087
    assert read(spi, cs, 0x78) == 0x0087
    transfer(spi, cs, [0x00, 0x61, 0xAB])  # a write that does not land leaves it alone
    assert read(spi, cs, 0x78) == 0x0087
    cs.chip.drop_writes(1)
    write(spi, cs, 0x61, 0x2222)
    assert read(spi, cs, 0x78) == 0x0087 and read(spi, cs, 0x61) == 0x8000


def test_configuration_writes_need_cfg_reg_acc_en():
    clock, spi, cs = bus()
    write(spi, cs, 0x61, 0x1111)
    assert read(spi, cs, 0x61) == 0x8000
    write(spi, cs, 0x7F, 0x55AA)
    write(spi, cs, 0x61, 0x1111)
    write(spi, cs, 0x7F, 0x0000)
    write(spi, cs, 0x62, 0x2222)
    assert read(spi, cs, 0x61) == 0x1111 and read(spi, cs, 0x62) == 0x8000
    assert read(spi, cs, 0x7A) != 0  # closing latched a CRC of the configuration
    clock2, spi2, cs2 = bus(strict_config=False)
    write(spi2, cs2, 0x61, 0x1111)
    assert read(spi2, cs2, 0x61) == 0x1111


def test_soft_reset_restores_defaults():
    clock, spi, cs = bus()
    write(spi, cs, 0x7F, 0x55AA)
    write(spi, cs, 0x00, 1)
    write(spi, cs, 0x33, 0x1087)
    write(spi, cs, 0x70, 0x1234)  # wrong key: nothing happens
    assert read(spi, cs, 0x33) == 0x1087
    write(spi, cs, 0x70, 0x789A)
    assert read(spi, cs, 0x33) == 0x0087 and read(spi, cs, 0x00) == 0
    assert read(spi, cs, 0x7F) == 0


def test_no_chip_or_nobody_selected_reads_all_ones():
    clock = ManualClock()
    spi = SimSPI(clock=clock)
    spi.add_chip()
    missing = spi.add_missing_chip()
    assert read(spi, missing, 0x33) == 0xFFFF
    assert read(spi, missing, 0x78) == 0xFFFF
    assert spi.read(2) == b"\xff\xff"  # no CS low: SDO released
    cs = spi.add_chip()
    cs.chip.present = False
    assert read(spi, cs, 0x33) == 0xFFFF


def test_measurement_registers_change_at_window_ends_and_scale_with_gain():
    clock, spi, cs = bus(loads=(Load(230.0, 5.0), Load(), Load()))
    assert read(spi, cs, 0xD9) == 0  # nothing measured in the first window after reset
    clock.advance(320)
    assert read(spi, cs, 0xD9) == 23000  # UrmsA, 0.01 V
    assert read(spi, cs, 0xDD) == 5000  # IrmsA, 1 mA
    write(spi, cs, 0x7F, 0x55AA)
    write(spi, cs, 0x61, 0x4000)  # half the gain
    assert read(spi, cs, 0xD9) == 23000  # not before the window ends
    clock.advance(320)
    assert read(spi, cs, 0xD9) == 11500
    # power follows the calibrated voltage: 115 V x 5 A
    hi = read(spi, cs, 0xB1)
    lo = read(spi, cs, 0xC1)
    assert ((hi << 16) | lo) == 575 * 3125  # 575 W / 0.00032 W, exactly


def test_energy_registers_read_and_clear_after_last_spi_data_has_the_value():
    clock, spi, cs = bus(loads=(Load(230.0, 10.0), Load(), Load()))
    write(spi, cs, 0x7F, 0x55AA)
    write(spi, cs, 0x00, 1)  # MeterEn: accumulation on
    clock.advance(1125)  # 2300 W x 1.125 s = 2587.5 J = 230 counts of 11.25 J
    assert read(spi, cs, 0x81) == 230
    assert read(spi, cs, 0x78) == 230  # recoverable from LastSPIData
    assert read(spi, cs, 0x81) == 0
    assert read(spi, cs, 0x80) == 230  # the total register counts too
    assert read(spi, cs, 0x85) == 0  # nothing reverse


def test_energy_needs_meter_en_and_respects_the_phase_threshold():
    clock, spi, cs = bus(loads=(Load(230.0, 10.0), Load(230.0, 0.001), Load()))
    clock.advance(10000)
    assert read(spi, cs, 0x81) == 0  # MeterEn 0: no accumulation
    write(spi, cs, 0x7F, 0x55AA)
    write(spi, cs, 0x00, 1)
    write(spi, cs, 0x38, 1000)  # PPhaseTh 0.32 W: phase B's 0.23 W is below it
    clock.advance(100000)
    assert read(spi, cs, 0x81) > 0
    assert read(spi, cs, 0x82) == 0


def test_energy_direction_follows_the_sign_of_power():
    clock, spi, cs = bus(loads=(Load(230.0, 10.0, 1.0, export=True), Load(), Load()))
    write(spi, cs, 0x7F, 0x55AA)
    write(spi, cs, 0x00, 1)
    clock.advance(11250)
    assert read(spi, cs, 0x85) == 2300
    assert read(spi, cs, 0x81) == 0
    assert read(spi, cs, 0xA5) == 2300  # fundamental reverse
    assert read(spi, cs, 0x72) & 0x4  # EMMState1: phase A active power negative


def test_load_changes_count_from_the_moment_they_happen():
    clock, spi, cs = bus(loads=(Load(230.0, 10.0), Load(), Load()))
    write(spi, cs, 0x7F, 0x55AA)
    write(spi, cs, 0x00, 1)
    clock.advance(11250)  # 2300 counts
    cs.chip.set_load(0, Load(230.0, 5.0))
    clock.advance(11250)  # 1150 counts
    assert read(spi, cs, 0x81) == 3450


def test_read_and_write_methods_of_the_bus():
    clock, spi, cs = bus()
    cs.value(0)
    spi.write(b"\x80\x33")
    assert spi.read(2) == b"\x00\x87"
    cs.value(1)
    cs.value(0)
    spi.write(b"\x80\x61")
    data = bytearray(2)
    spi.readinto(data)
    cs.value(1)
    assert data == b"\x80\x00"
    assert spi.transactions == 2


def test_bus_refuses_modes_and_clocks_the_chip_cannot_do():
    for kwargs in ({"polarity": 1, "phase": 0}, {"baudrate": 2000000}, {"baudrate": 100}):
        try:
            SimSPI(clock=ManualClock(), **kwargs)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % (kwargs,))


def test_house_load_is_realistic_and_varies():
    spi, cs, chip = house_bus(clock=ManualClock(), start_hour=12.0)
    grid = HouseLoad("grid", 12.0)
    solar = HouseLoad("solar", 12.0)
    night = HouseLoad("solar", 23.0)
    powers = []
    for minute in range(0, 240, 7):
        t = minute * 60000
        sample = grid.sample(t)
        assert 220.0 < sample.volts < 240.0
        assert sample.amps < 40.0
        powers.append(sample.watts())
        assert solar.sample(t).watts() <= 0  # generation is export
        assert night.sample(t).watts() == 0
    assert max(powers) - min(powers) > 500  # appliances come and go
    assert min(powers) < 0 < max(powers)  # a sunny noon exports at times
    chips = house_board(clock=ManualClock())
    assert len(chips) == 1 and chips[0][2] == ("CT1", "CT2", "CT3")


def test_measurement_with_a_house_load_over_time():
    clock = ManualClock()
    spi, cs, chip = house_bus(clock=clock)
    seen = set()
    for _ in range(50):
        clock.advance(97000)
        seen.add(read(spi, cs, 0xDD))  # IrmsA
        assert 22000 < read(spi, cs, 0xD9) < 24000
    assert len(seen) > 10
