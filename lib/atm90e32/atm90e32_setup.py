# The rarely run half of the ATM90E32 driver (lib/atm90e32/atm90e32.py): its settings, soft reset
# and configuration writes (init), gain writes and energy seeding (calibration is in
# atm90e32_calibration). The driver imports it
# when one of these is called; the firmware drops it again afterwards, so its code holds no heap
# while the chips are only read. Facts and section numbers as in atm90e32.py (doc §, DS, AN).

from micropython import const

# Status and special registers (DS Table-5, doc §5.1)
_METER_EN = const(0x00)
_CHANNEL_MAP_U = const(0x02)
_PL_CONST_H = const(0x31)
_PL_CONST_L = const(0x32)
_MMODE0 = const(0x33)
_MMODE1 = const(0x34)
_P_START_TH = const(0x35)  # then Q, S start thresholds; P, Q, S phase thresholds 0x38-0x3A
# Measurement calibration (doc §5.2): Ugain, Igain, Uoffset, Ioffset of phase A; B, C at +4, +8
_UGAIN_A = const(0x61)
_SOFT_RESET = const(0x70)
_LAST_SPI_DATA = const(0x78)
_CFG_REG_ACC_EN = const(0x7F)

_SOFT_RESET_KEY = const(0x789A)
_CFG_OPEN = const(0x55AA)
_CFG_CLOSE = const(0x0000)
_METER_ON = const(0x0001)
_NO_CHIP = const(0xFFFF)
_DEFAULT_GAIN = const(0x8000)  # Ugain/Igain reset value, the AN's unity reference (doc §5.2)
# PL_constant 140,625,000 -> MC = 450e9 / PL = 3200 imp/kWh (AN §4.2.2; the AN prints the typo
# 0x4C68 for the low word, every driver uses 0xC468, doc §6.7)
_PL_H = const(0x0861)
_PL_L = const(0xC468)
# MMode0: 3P4W, CF2 = varh, phases A+B+C in the totals; bit 12 = 60 Hz (doc §6.6)
_MMODE0_50HZ = const(0x0087)
_MMODE0_60HZ = const(0x1087)
# Startup thresholds, 1 LSB = 0.00032 W: 2.4 W all-phase, 0.24 W per phase, the values
# CircuitSetup and ESPHome use (doc §7.2); below the per-phase one a CT's noise is not metered.
_START_TH = const(0x1D4C)
_PHASE_TH = const(0x02EE)

_WRITE_TRIES = const(3)
_OPEN_TRIES = const(6)
_RESET_WAIT_MS = const(6)  # ESPHome's wait after SoftReset; then retry for the POR worst case
_RETRY_WAIT_MS = const(8)  # 6 + 6 x 8 ms covers DS T1 <= 40 ms
_COUNTS_PER_WH = const(320)


def _default_sleep_ms():
    import time

    sleep_ms = getattr(time, "sleep_ms", None)
    if sleep_ms is not None:
        return sleep_ms
    return lambda ms: time.sleep(ms / 1000)


def configure(meter, line_freq, pga_gain, calibration, reverse, channel_map_u, sleep_ms):
    """Sets the meter's settings from the driver's constructor arguments, which are trusted
    (their ranges: ATM90E32.__init__; the firmware's come from the config schema and the board
    modules). calibration: (ugain, igain, uoffset, ioffset), each None, one int for all phases
    or three."""
    cal = []
    for index in range(4):
        value = calibration[index]
        if value is None:
            value = _DEFAULT_GAIN if index < 2 else 0
        if type(value) is int:
            value = (value, value, value)
        cal.extend(value)
    # MMode0: bit 12 = 60 Hz (doc §6.6); MMode1: PGA of all three current channels (doc §6.6): 1x
    # 0x0000, 2x 0x0015, 4x 0x002A
    meter.modes = (_MMODE0_60HZ if line_freq == 60 else _MMODE0_50HZ, 0x15 * (pga_gain >> 1),
                   channel_map_u)
    meter.cal = cal  # Ugain A-C, Igain A-C, Uoffset A-C, Ioffset A-C
    meter.sleep_ms = sleep_ms or _default_sleep_ms()
    meter.reverse = 0  # bit p: phase p's CT is on backwards
    if reverse is not None:
        for p in range(3):
            if reverse[p]:
                meter.reverse |= 1 << p


def failure(value):
    """The OSError for a MeterEn value other than the 0x0001 init() wrote."""
    if value == _NO_CHIP:
        return OSError("no ATM90E32 answers (reads 0xFFFF): check wiring, CS pin, power")
    if value == 0:
        return OSError("ATM90E32 reads MeterEn 0: chip was reset or bus stuck low; init()")
    return OSError("ATM90E32 unexpected MeterEn 0x%04x" % value)


def input_group(channel_map_u, p):
    """The phases (0..2) taking their voltage from the same ADC input as phase p under
    ChannelMapU (DS §5.2: UC_SRC[10:8] UB_SRC[6:4] UA_SRC[2:0]); None = the reset value 0x0654,
    one input per phase."""
    mapping = 0x0654 if channel_map_u is None else channel_map_u
    source = (mapping >> (4 * p)) & 0x7
    return tuple(q for q in range(3) if (mapping >> (4 * q)) & 0x7 == source)


# --- writes ---


def _write(meter, reg, value):
    # address word and data word in one CS-low transaction of exactly 32 clocks: the chip commits
    # on CS rising (DS §4). The meter's own scratch buffers: nothing is allocated.
    addr = meter._addr
    data = meter._data
    addr[0] = (reg >> 8) & 0x03
    addr[1] = reg & 0xFF
    data[0] = (value >> 8) & 0xFF
    data[1] = value & 0xFF
    meter._cs_set(0)
    try:
        meter._spi.write(addr)
        meter._spi.write(data)
    finally:
        meter._cs_set(1)


def _write_checked(meter, reg, value, read_back=True):
    """Write, then prove it landed: LastSPIData == value (AN §2) and, for read/write
    configuration registers, the register reads back. Retries, then OSError."""
    for _ in range(_WRITE_TRIES):
        if meter._last == value:
            # LastSPIData already holds this word, so it would prove nothing: move it on by
            # reading a register whose value differs (one of these always does).
            meter._read(_METER_EN)
            if meter._last == value:
                meter._read(_PL_CONST_H)
        _write(meter, reg, value)
        if meter._read(_LAST_SPI_DATA) == value and (not read_back or meter._read(reg) == value):
            return
        meter.write_retries += 1
    raise OSError("ATM90E32 write to 0x%02x did not land (read 0x%04x)" % (reg, meter._last))


def _open_config(meter):
    # CfgRegAccEn = 0x55AA opens configuration access (DS §5.2); it is also the presence test
    # ESPHome uses: an absent chip leaves LastSPIData at 0xFFFF. After a reset the chip may
    # need up to T1 = 40 ms (DS §6), hence the retries.
    if meter._last == _CFG_OPEN:
        meter._read(_METER_EN)  # so that LastSPIData == 0x55AA proves the new write
    for _ in range(_OPEN_TRIES):
        _write(meter, _CFG_REG_ACC_EN, _CFG_OPEN)
        last = meter._read(_LAST_SPI_DATA)
        if last == _CFG_OPEN:
            return
        meter.write_retries += 1
        meter.sleep_ms(_RETRY_WAIT_MS)
    if last == _NO_CHIP:
        raise failure(last)
    raise OSError("ATM90E32 did not accept CfgRegAccEn (last data 0x%04x)" % last)


def _close_config(meter):
    # Any value but 0x55AA/0xAA55 closes access and latches the golden CRC (DS §5.2.1).
    _write_checked(meter, _CFG_REG_ACC_EN, _CFG_CLOSE, False)


def init(meter):
    """Soft reset and configure (doc §4). OSError if no chip answers or a write does not land.
    Lifetime energy counters are kept (they live in the meter, not in the chip). Measurements
    are valid one averaging period (~320 ms) after this returns (doc §7.1)."""
    # SoftReset reads back 0 and resets LastSPIData, so it is checked by its effect: every
    # register back at its default, MeterEn 0 (an absent chip reads 0xFFFF and is reported by
    # _open_config).
    for _ in range(_WRITE_TRIES):
        _write(meter, _SOFT_RESET, _SOFT_RESET_KEY)
        meter.sleep_ms(_RESET_WAIT_MS)
        if meter._read(_METER_EN) != _METER_ON:
            break
    else:
        raise OSError("ATM90E32 soft reset did not land (MeterEn still 1)")
    _open_config(meter)
    _write_checked(meter, _METER_EN, _METER_ON)
    mmode0, mmode1, channel_map_u = meter.modes
    if channel_map_u is not None:
        _write_checked(meter, _CHANNEL_MAP_U, channel_map_u)
    _write_checked(meter, _PL_CONST_H, _PL_H)
    _write_checked(meter, _PL_CONST_L, _PL_L)
    _write_checked(meter, _MMODE0, mmode0)
    _write_checked(meter, _MMODE1, mmode1)
    for i in range(6):
        _write_checked(meter, _P_START_TH + i, _START_TH if i < 3 else _PHASE_TH)
    cal = meter.cal
    for p in range(3):
        for i in range(4):  # Ugain, Igain, Uoffset, Ioffset
            _write_checked(meter, _UGAIN_A + 4 * p + i, cal[3 * i + p] & 0xFFFF)
    _close_config(meter)
    meter.check()


def set_ugain(meter, p, gain):
    """Write UgainX (1..65535) now, verified; kept for the next init()."""
    set_gain(meter, p, gain, 0)


def set_igain(meter, p, gain):
    """Write IgainX (1..65535) now, verified; kept for the next init()."""
    set_gain(meter, p, gain, 1)


def ugain(meter, p):
    return meter.cal[meter._phase(p)]


def igain(meter, p):
    return meter.cal[3 + meter._phase(p)]


def voltage_group(meter, p):
    """Phases whose voltage comes from the same input as phase p: a voltage calibration of p
    applies to all of them (all three on the CT6)."""
    return input_group(meter.modes[2], meter._phase(p))


def set_gain(meter, p, gain, current):
    """Write Ugain (current 0) or Igain (1) of phase p (gain 1..65535) now, verified; kept for
    init()."""
    p = meter._phase(p)
    _open_config(meter)
    try:
        _write_checked(meter, _UGAIN_A + 4 * p + current, gain)
    finally:
        _close_config(meter)
    meter.cal[3 * current + p] = gain


# --- energy ---


def seed_energy(meter, p, import_counts, export_counts):
    """Restore phase p's lifetime counts (as saved from energy_counts()) at boot; what was
    counted since boot is kept on top, and seeding again replaces the earlier seed instead of
    adding to it. The counts (ints >= 0) are trusted: the source checks a saved state before it
    seeds (atm90e32_config.restore_energy)."""
    _seed(meter, meter._phase(p), import_counts, export_counts, False)


def clear_energy(meter, p):
    """Zero phase p's lifetime counters (a user's explicit reset)."""
    _seed(meter, meter._phase(p), 0, 0, True)


def _seed(meter, p, import_counts, export_counts, clear):
    seed = getattr(meter, "_seed", None)  # counts restored by seed_energy(), as _wh
    if seed is None:
        seed = meter._seed = [0] * 6
    for i, counts in ((p, import_counts), (3 + p, export_counts)):
        total = 0 if clear else (meter._wh[i] * _COUNTS_PER_WH + meter._rest[i] + counts
                                 - seed[i])
        meter._wh[i], meter._rest[i] = divmod(total, _COUNTS_PER_WH)
        seed[i] = counts
