# ATM90E32AS (M90E32AS) poly-phase energy metering IC over SPI.
#
# Facts and section numbers: ../shared/research/atm90e32.md ("R§"), which cites the datasheet
# Atmel-46003B ("DS") and application note Atmel-46103A ("AN"). Register names are the
# datasheet's. Several names other drivers use (ConfigStart, CalStart, CS0..CS3, SysStatus0/1,
# PMPGA, PMConfig) belong to the ATM90E36 and do not exist here (R§0).
#
# Usage (others script against this):
#   meter = ATM90E32(spi, cs, line_freq=50, pga_gain=1, ugain=7305, igain=27518)
#   meter.init()                       # OSError if no chip answers
#   meter.voltage(0), meter.active_power(2), meter.frequency(), ...   # live reads
#   meter.update_energy(); meter.import_wh(0)
#
# Bus: `spi` is a machine.SPI-like object already set to mode 3 (CPOL=1, CPHA=1), MSB first,
# <= 1 MHz (DS §4: 1.1 Mbps max); `cs` a Pin-like output with value() (or on()/off()), idle high.
# Several chips share one bus, each with its own cs: SDO is high-impedance while CS is high (R§2).
#
# Integrity (R§2 "LastSPIData", AN §2):
# - every write is checked through LastSPIData (0x78) and, for read/write configuration
#   registers, by reading the register back; a write that did not land is retried (3 tries,
#   counted in write_retries), then OSError; SoftReset, which reads back 0, is checked by its
#   effect (MeterEn back to 0);
# - a chip that is absent (MISO floats high: 0xFFFF), a bus stuck low (0x0000) or a chip that
#   reset itself since init() (MeterEn back to 0) is detected by reading MeterEn, which init()
#   sets to 0x0001: every live getter, every sweep() and every update_energy() checks it and
#   raises OSError instead of returning 655.35 V or silent zeros;
# - read-and-clear energy registers are checked against LastSPIData and recovered from it on a
#   mismatch (AN §2: the register is cleared only after LastSPIData latched the value).
#
# Energy is kept as integer counts of 0.01 CF (DS §3.5). With the default PL_constant
# 0x0861C468 that init() writes, MC = 3200 imp/kWh, so one count = 1/320 Wh exactly (R§5.9).
# Lifetime counters are Python ints (exact); import_wh()/export_wh() return whole Wh, rounded
# down, so a published counter never runs ahead of the energy measured. energy_counts() gives
# the exact counts for persistence; seed_energy() restores them at boot.

from array import array

from micropython import const

# Status and special registers (DS Table-5, R§4.1)
_METER_EN = const(0x00)
_CHANNEL_MAP_U = const(0x02)
_PL_CONST_H = const(0x31)
_PL_CONST_L = const(0x32)
_MMODE0 = const(0x33)
_MMODE1 = const(0x34)
_P_START_TH = const(0x35)
_Q_START_TH = const(0x36)
_S_START_TH = const(0x37)
_P_PHASE_TH = const(0x38)
_Q_PHASE_TH = const(0x39)
_S_PHASE_TH = const(0x3A)
# Measurement calibration (R§4.2): phase B and C registers follow at +4 and +8
_UGAIN_A = const(0x61)
_IGAIN_A = const(0x62)
_UOFFSET_A = const(0x63)
_IOFFSET_A = const(0x64)
_CAL_STRIDE = const(4)
# EMM status (R§4.3)
_SOFT_RESET = const(0x70)
_LAST_SPI_DATA = const(0x78)
_CFG_REG_ACC_EN = const(0x7F)
# Energy, read-and-clear, phase A; B and C at +1, +2 (R§4.4)
_AP_ENERGY_A = const(0x81)
_AN_ENERGY_A = const(0x85)
# Measurements, phase A; B and C at +1, +2 (R§4.5)
_PMEAN_A = const(0xB1)
_QMEAN_A = const(0xB5)
_SMEAN_A = const(0xB9)
_PF_MEAN_A = const(0xBD)
_PMEAN_A_LSB = const(0xC1)
_QMEAN_A_LSB = const(0xC5)
_SMEAN_A_LSB = const(0xC9)
_URMS_A = const(0xD9)
_IRMS_A = const(0xDD)
_URMS_A_LSB = const(0xE9)
_IRMS_A_LSB = const(0xED)
_FREQ = const(0xF8)
_TEMP = const(0xFC)

_READ = const(0x80)  # address word bit 15 (high byte bit 7) = read (DS §4)
_SOFT_RESET_KEY = const(0x789A)
_CFG_OPEN = const(0x55AA)
_CFG_CLOSE = const(0x0000)
_METER_ON = const(0x0001)
_NO_CHIP = const(0xFFFF)
# PL_constant 140,625,000 -> MC = 450e9 / PL = 3200 imp/kWh (AN §4.2.2; the AN prints the typo
# 0x4C68 for the low word, every driver uses 0xC468, R§5.9)
_PL_H = const(0x0861)
_PL_L = const(0xC468)
# MMode0: 3P4W, CF2 = varh, phases A+B+C in the totals; bit 12 = 60 Hz (R§5.8)
_MMODE0_50HZ = const(0x0087)
_MMODE0_60HZ = const(0x1087)
# Startup thresholds, 1 LSB = 0.00032 W: 2.4 W all-phase, 0.24 W per phase, the values
# CircuitSetup and ESPHome use (R§6.3); below the per-phase one a CT's noise is not metered.
_START_TH = const(0x1D4C)
_PHASE_TH = const(0x02EE)

_WRITE_TRIES = const(3)
_OPEN_TRIES = const(6)
_RECOVER_TRIES = const(4)
_RESET_WAIT_MS = const(6)  # ESPHome's wait after SoftReset; then retry for the POR worst case
_RETRY_WAIT_MS = const(8)  # 6 + 6 x 8 ms covers DS T1 <= 40 ms

# Words of one sweep in self.raw: 9 per phase, then frequency and temperature
_W_URMS = const(0)
_W_IRMS = const(1)
_W_P_HI = const(2)
_W_P_LO = const(3)
_W_Q_HI = const(4)
_W_Q_LO = const(5)
_W_S_HI = const(6)
_W_S_LO = const(7)
_W_PF = const(8)
_PHASE_WORDS = const(9)
_W_FREQ = const(27)
_W_TEMP = const(28)
_SWEEP_WORDS = const(29)

COUNTS_PER_WH = const(320)  # energy register counts per Wh at MC 3200 (1 count = 0.01 CF)
DEFAULT_GAIN = const(0x8000)  # Ugain/Igain reset value, the AN's unity reference (R§4.2)
POWER_LSB = 0.00032  # W, var or VA per LSB of a 32-bit power value (DS Table-13)
_PGA_BITS = {1: 0x0000, 2: 0x0015, 4: 0x002A}  # MMode1, all three current channels (R§4.1)


def _s16(word):
    return word - 0x10000 if word & 0x8000 else word


def _centi(hi, lo):
    """The signed 32-bit power value hi:lo (LSB 0.00032 W) in hundredths of a W, var or VA,
    rounded, by integer arithmetic only: a float32 (the boards') holds 7 significant digits, so
    0.01 is the finest resolution it carries over the chip's range (42.9 kW a phase), and one
    division of the exact count by 100 then gives the float nearest the decimal value on every
    port (1000.5, not 1000.4998). value x 32 / 1000 = value x 4 / 125, split so that no
    intermediate leaves the boards' 31-bit small ints (no heap allocation) below 343 kW."""
    q, r = divmod(_s16(hi) * 65536 + lo, 125)
    return q * 4 + (r * 4 + 62) // 125


def _default_sleep_ms():
    import time

    sleep_ms = getattr(time, "sleep_ms", None)
    if sleep_ms is not None:
        return sleep_ms
    return lambda ms: time.sleep(ms / 1000)


def _per_phase(value, default, low, high, what):
    """One int for all three phases or a sequence of three; validated against the register."""
    if value is None:
        value = default
    if isinstance(value, int):
        value = (value, value, value)
    if len(value) != 3:
        raise ValueError("%s: one value or three (phases A, B, C)" % what)
    for v in value:
        if not isinstance(v, int) or isinstance(v, bool) or v < low or v > high:
            raise ValueError("%s: %r not in %d..%d" % (what, v, low, high))
    return list(value)


def voltage_group(channel_map_u, p):
    """The phases (0..2) taking their voltage from the same ADC input as phase p under
    ChannelMapU (DS §5.2: UC_SRC[10:8] UB_SRC[6:4] UA_SRC[2:0]); None = the reset value 0x0654,
    one input per phase."""
    mapping = 0x0654 if channel_map_u is None else channel_map_u
    source = (mapping >> (4 * p)) & 0x7
    return tuple(q for q in range(3) if (mapping >> (4 * q)) & 0x7 == source)


class ATM90E32:
    """One ATM90E32 chip: phases p = 0, 1, 2 are the datasheet's A, B, C."""

    def __init__(
        self,
        spi,
        cs,
        line_freq=50,
        pga_gain=1,
        ugain=None,
        igain=None,
        uoffset=None,
        ioffset=None,
        reverse=None,
        channel_map_u=None,
        sleep_ms=None,
    ):
        """Calibration keywords take one int (all phases) or three (A, B, C):
        ugain, igain: Ugain/Igain registers 1..65535 (default 0x8000, the reset value);
        uoffset, ioffset: Uoffset/Ioffset, signed 16 bit (default 0);
        reverse: per-phase "CT on backwards" flags (flip P, Q, PF; swap import/export);
        channel_map_u: ChannelMapU value (e.g. 0x0444 when only input U0 is wired, CT6),
        None keeps the chip's default mapping U0/U1/U2 -> A/B/C."""
        if line_freq not in (50, 60):
            raise ValueError("line_freq must be 50 or 60")
        if pga_gain not in _PGA_BITS:
            raise ValueError("pga_gain must be 1, 2 or 4")
        if channel_map_u is not None and not 0 <= channel_map_u <= 0x7FF:
            raise ValueError("channel_map_u out of range")
        self._spi = spi
        self._cs = cs
        self._cs_set = cs.value if hasattr(cs, "value") else self._cs_on_off
        self._cs_set(1)
        self.line_freq = line_freq
        self.pga_gain = pga_gain
        self._ugain = _per_phase(ugain, DEFAULT_GAIN, 1, 0xFFFF, "ugain")
        self._igain = _per_phase(igain, DEFAULT_GAIN, 1, 0xFFFF, "igain")
        self._uoffset = _per_phase(uoffset, 0, -0x8000, 0x7FFF, "uoffset")
        self._ioffset = _per_phase(ioffset, 0, -0x8000, 0x7FFF, "ioffset")
        self._reverse = [False, False, False]
        if reverse is not None:
            for p in range(3):
                self._reverse[p] = bool(reverse[p])
        self._channel_map_u = channel_map_u
        self._sleep_ms = sleep_ms or _default_sleep_ms()
        # Scratch buffers, allocated once: address word, data word, whole write frame.
        self._addr = bytearray(2)
        self._data = bytearray(2)
        self._frame = bytearray(4)
        self._last = -1  # data word of our last transaction, i.e. what LastSPIData holds
        self.raw = array("H", [0] * _SWEEP_WORDS)  # words of the last sweep(), raw registers
        self._energy = array("H", [0] * 6)  # forward A, B, C, reverse A, B, C of one update
        # Lifetime energy per phase as whole Wh plus counts below one Wh: both stay small ints
        # (31-bit on the boards) for 1 TWh, so counting never allocates a long int.
        self._import_wh = [0, 0, 0]
        self._import_rest = [0, 0, 0]
        self._export_wh = [0, 0, 0]
        self._export_rest = [0, 0, 0]
        self._seed_import = [0, 0, 0]  # counts restored by seed_energy()
        self._seed_export = [0, 0, 0]
        self.transactions = 0  # SPI transactions, modulo 2**30 (benchmarks, diagnostics)
        self.write_retries = 0  # writes that did not land the first time (then retried)

    # --- bus primitives: one 16-bit register per CS-low transaction (DS §4) ---

    def _cs_on_off(self, level):
        if level:
            self._cs.on()
        else:
            self._cs.off()

    def _read(self, reg):
        addr = self._addr
        addr[0] = _READ | ((reg >> 8) & 0x03)  # bits 14:10 don't care, 9:0 address
        addr[1] = reg & 0xFF
        self._cs_set(0)
        try:
            self._spi.write(addr)
            self._spi.readinto(self._data)  # clocks 17-32: the chip drives SDO
        finally:
            self._cs_set(1)
        self.transactions = (self.transactions + 1) & 0x3FFFFFFF
        data = self._data
        value = (data[0] << 8) | data[1]
        self._last = value
        return value

    def _write(self, reg, value):
        frame = self._frame
        frame[0] = (reg >> 8) & 0x03
        frame[1] = reg & 0xFF
        frame[2] = (value >> 8) & 0xFF
        frame[3] = value & 0xFF
        self._cs_set(0)
        try:
            self._spi.write(frame)  # exactly 32 clocks: the chip commits on CS rising (DS §4)
        finally:
            self._cs_set(1)
        self.transactions = (self.transactions + 1) & 0x3FFFFFFF

    def _write_checked(self, reg, value, read_back=True):
        """Write, then prove it landed: LastSPIData == value (AN §2) and, for read/write
        configuration registers, the register reads back. Retries, then OSError."""
        for _ in range(_WRITE_TRIES):
            if self._last == value:
                # LastSPIData already holds this word, so it would prove nothing: move it on
                # by reading a register whose value differs (one of these always does).
                self._read(_METER_EN)
                if self._last == value:
                    self._read(_PL_CONST_H)
            self._write(reg, value)
            if self._read(_LAST_SPI_DATA) == value and (not read_back or self._read(reg) == value):
                return
            self.write_retries += 1
        raise OSError("ATM90E32 write to 0x%02x did not land (read 0x%04x)" % (reg, self._last))

    def _read_clear(self, reg):
        """Read a read-and-clear register, checked against LastSPIData; on a mismatch keep
        reading LastSPIData until two reads agree (AN §2), since the register is already
        cleared and LastSPIData holds the value it had."""
        value = self._read(reg)
        last = self._read(_LAST_SPI_DATA)
        if last == value:
            return value
        for _ in range(_RECOVER_TRIES):
            again = self._read(_LAST_SPI_DATA)
            if again == last:
                return last
            last = again
        raise OSError("ATM90E32 energy register 0x%02x unreadable" % reg)

    def _read32(self, hi_reg, lo_reg, index):
        """Signed 32-bit power as two words: high, low, high again. The chip does not latch
        the pair (R§5.3), so if the high word moved in between, the low word is read again."""
        raw = self.raw
        hi = self._read(hi_reg)
        lo = self._read(lo_reg)
        again = self._read(hi_reg)
        if again != hi:
            lo = self._read(lo_reg)
            hi = again
        raw[index] = hi
        raw[index + 1] = lo

    def check(self):
        """OSError unless the chip answers and still holds the configuration init() wrote."""
        value = self._read(_METER_EN)
        if value != _METER_ON:
            self._fail(value)

    def _fail(self, value):
        if value == _NO_CHIP:
            raise OSError("no ATM90E32 answers (reads 0xFFFF): check wiring, CS pin, power")
        if value == 0:
            raise OSError("ATM90E32 reads MeterEn 0: chip was reset or bus stuck low; init()")
        raise OSError("ATM90E32 unexpected MeterEn 0x%04x" % value)

    # --- configuration ---

    def init(self):
        """Soft reset and configure (R§3). OSError if no chip answers or a write does not land.
        Lifetime energy counters are kept (they live here, not in the chip). Measurements are
        valid one averaging period (~320 ms) after this returns (R§6.1)."""
        # SoftReset reads back 0 and resets LastSPIData, so it is checked by its effect: every
        # register back at its default, MeterEn 0 (an absent chip reads 0xFFFF and is reported
        # by _open_config).
        for _ in range(_WRITE_TRIES):
            self._write(_SOFT_RESET, _SOFT_RESET_KEY)
            self._sleep_ms(_RESET_WAIT_MS)
            if self._read(_METER_EN) != _METER_ON:
                break
        else:
            raise OSError("ATM90E32 soft reset did not land (MeterEn still 1)")
        self._open_config()
        self._write_checked(_METER_EN, _METER_ON)
        if self._channel_map_u is not None:
            self._write_checked(_CHANNEL_MAP_U, self._channel_map_u)
        self._write_checked(_PL_CONST_H, _PL_H)
        self._write_checked(_PL_CONST_L, _PL_L)
        self._write_checked(_MMODE0, _MMODE0_60HZ if self.line_freq == 60 else _MMODE0_50HZ)
        self._write_checked(_MMODE1, _PGA_BITS[self.pga_gain])
        for reg in (_P_START_TH, _Q_START_TH, _S_START_TH):
            self._write_checked(reg, _START_TH)
        for reg in (_P_PHASE_TH, _Q_PHASE_TH, _S_PHASE_TH):
            self._write_checked(reg, _PHASE_TH)
        for p in range(3):
            base = p * _CAL_STRIDE
            self._write_checked(_UGAIN_A + base, self._ugain[p])
            self._write_checked(_IGAIN_A + base, self._igain[p])
            self._write_checked(_UOFFSET_A + base, self._uoffset[p] & 0xFFFF)
            self._write_checked(_IOFFSET_A + base, self._ioffset[p] & 0xFFFF)
        self._close_config()
        self.check()

    def _open_config(self):
        # CfgRegAccEn = 0x55AA opens configuration access (DS §5.2); it is also the presence
        # test ESPHome uses: an absent chip leaves LastSPIData at 0xFFFF. After a reset the
        # chip may need up to T1 = 40 ms (DS §6), hence the retries.
        if self._last == _CFG_OPEN:
            self._read(_METER_EN)  # so that LastSPIData == 0x55AA proves the new write
        for _ in range(_OPEN_TRIES):
            self._write(_CFG_REG_ACC_EN, _CFG_OPEN)
            last = self._read(_LAST_SPI_DATA)
            if last == _CFG_OPEN:
                return
            self.write_retries += 1
            self._sleep_ms(_RETRY_WAIT_MS)
        if last == _NO_CHIP:
            self._fail(last)
        raise OSError("ATM90E32 did not accept CfgRegAccEn (last data 0x%04x)" % last)

    def _close_config(self):
        # Any value but 0x55AA/0xAA55 closes access and latches the golden CRC (DS §5.2.1).
        self._write_checked(_CFG_REG_ACC_EN, _CFG_CLOSE, False)

    def _write_calibration(self, reg, value):
        self._open_config()
        try:
            self._write_checked(reg, value)
        finally:
            self._close_config()

    def ugain(self, p):
        return self._ugain[self._phase(p)]

    def igain(self, p):
        return self._igain[self._phase(p)]

    def set_ugain(self, p, gain):
        """Write UgainX (1..65535) now, verified; kept for the next init()."""
        self._check_gain(gain)
        self._write_calibration(_UGAIN_A + self._phase(p) * _CAL_STRIDE, gain)
        self._ugain[p] = gain

    def set_igain(self, p, gain):
        self._check_gain(gain)
        self._write_calibration(_IGAIN_A + self._phase(p) * _CAL_STRIDE, gain)
        self._igain[p] = gain

    def _check_gain(self, gain):
        if not isinstance(gain, int) or isinstance(gain, bool) or not 1 <= gain <= 0xFFFF:
            raise ValueError("gain must be an int 1..65535, got %r" % (gain,))

    def set_reversed(self, p, flag):
        """Mark phase p's CT as clamped on backwards: P, Q, PF change sign and new forward
        energy counts as export (counts already made stay where they are)."""
        self._reverse[self._phase(p)] = bool(flag)

    def is_reversed(self, p):
        return self._reverse[self._phase(p)]

    def voltage_group(self, p):
        """Phases whose voltage comes from the same input as phase p: a voltage calibration of
        p applies to all of them (all three on the CT6)."""
        return voltage_group(self._channel_map_u, self._phase(p))

    # --- calibration (AN §4.2.4, R§8: new gain = reference / measured x current gain) ---

    def calibrate_voltage(self, p, reference, samples=4, interval_ms=350):
        """Measure phase p's voltage (averaged over `samples` readings `interval_ms` apart,
        one per ~320 ms averaging period), compute the gain that makes it read `reference`
        volts, write and verify it on every phase sharing p's voltage input
        (voltage_group) and return it for the caller to persist. ValueError if the
        measurement or the result is unusable (nothing is written then)."""
        measured = self._measure_rms(_URMS_A, _URMS_A_LSB, p, samples, interval_ms, 100)
        gain = self._new_gain(reference, measured, self._ugain[p], "voltage")
        for q in self.voltage_group(p):
            self.set_ugain(q, gain)
        return gain

    def calibrate_current(self, p, reference, samples=4, interval_ms=350):
        """As calibrate_voltage, for phase p's current (IgainX) in amperes."""
        measured = self._measure_rms(_IRMS_A, _IRMS_A_LSB, p, samples, interval_ms, 1000)
        gain = self._new_gain(reference, measured, self._igain[p], "current")
        self.set_igain(p, gain)
        return gain

    def _measure_rms(self, reg, lsb_reg, p, samples, interval_ms, units):
        p = self._phase(p)
        if samples < 1:
            raise ValueError("samples must be >= 1")
        total = 0
        for i in range(samples):
            if i:
                self._sleep_ms(interval_ms)
            word = self._read(reg + p)
            if word == 0xFFFF:
                self.check()
                raise ValueError("reading saturated at the register limit: lower the gain")
            # 16-bit register plus the 8-bit extension in the LSB register (R§5.1)
            total += (word << 8) | (self._read(lsb_reg + p) >> 8)
        self.check()
        return total / (samples * 256 * units)

    def _new_gain(self, reference, measured, current_gain, what):
        if not reference > 0:
            raise ValueError("reference %s must be > 0" % what)
        if measured < (1.0 if what == "voltage" else 0.1):
            raise ValueError("measured %s %.3f too low to calibrate against" % (what, measured))
        gain = int(reference / measured * current_gain + 0.5)
        if gain > 0xFFFF:
            # ESPHome's hints for the same case (R§8.3)
            hint = "a higher-output transformer" if what == "voltage" else "a higher PGA gain"
            raise ValueError("%s gain %d exceeds 65535: needs %s" % (what, gain, hint))
        if gain < 1:
            raise ValueError("%s gain would be 0" % what)
        return gain

    # --- measurements ---

    def _phase(self, p):
        if p != 0 and p != 1 and p != 2:
            raise ValueError("phase must be 0, 1 or 2 (A, B, C)")
        return p

    def sweep(self):
        """One read cycle of every measurement register into self.raw (raw words, no
        conversion, no allocation): liveness first, then per phase Urms, Irms, P, Q, S
        (32-bit) and PF, then Freq and Temp. Read values with the getters' cached=True."""
        self.check()
        for p in range(3):
            base = p * _PHASE_WORDS
            self.raw[base + _W_URMS] = self._read(_URMS_A + p)
            self.raw[base + _W_IRMS] = self._read(_IRMS_A + p)
            self._read32(_PMEAN_A + p, _PMEAN_A_LSB + p, base + _W_P_HI)
            self._read32(_QMEAN_A + p, _QMEAN_A_LSB + p, base + _W_Q_HI)
            self._read32(_SMEAN_A + p, _SMEAN_A_LSB + p, base + _W_S_HI)
            self.raw[base + _W_PF] = self._read(_PF_MEAN_A + p)
        self.raw[_W_FREQ] = self._read(_FREQ)
        self.raw[_W_TEMP] = self._read(_TEMP)

    # Getters: live by default (read the registers now, then confirm the chip is there);
    # cached=True converts what the last sweep() read, without touching the bus.

    def voltage(self, p, cached=False):
        """Phase p RMS voltage, V (UrmsX / 100, R§5.1)."""
        i = self._phase(p) * _PHASE_WORDS + _W_URMS
        if not cached:
            self.raw[i] = self._read(_URMS_A + p)
            self.check()
        return self.raw[i] / 100

    def current(self, p, cached=False):
        """Phase p RMS current, A (IrmsX / 1000; saturates at 65.535 A, R§5.2)."""
        i = self._phase(p) * _PHASE_WORDS + _W_IRMS
        if not cached:
            self.raw[i] = self._read(_IRMS_A + p)
            self.check()
        return self.raw[i] / 1000

    def _power(self, p, hi_reg, word, cached):
        i = self._phase(p) * _PHASE_WORDS + word
        if not cached:
            self._read32(hi_reg + p, hi_reg + 0x10 + p, i)  # LSB registers sit 0x10 above
            self.check()
        return self.power_centi(p, (word - _W_P_HI) >> 1) / 100

    def power_centi(self, p, kind):
        """Phase p's active (kind 0), reactive (1) or apparent (2) power as the last read gave
        it, in hundredths of a W, var or VA (an int, signed as the getters): for exact sums."""
        i = p * _PHASE_WORDS + _W_P_HI + 2 * kind
        value = _centi(self.raw[i], self.raw[i + 1])
        return -value if self._reverse[p] and kind != 2 else value

    def active_power(self, p, cached=False):
        """Phase p active power, W, signed (+ forward/import), from the 32-bit pair."""
        return self._power(p, _PMEAN_A, _W_P_HI, cached)

    def reactive_power(self, p, cached=False):
        """Phase p reactive power, var, signed."""
        return self._power(p, _QMEAN_A, _W_Q_HI, cached)

    def apparent_power(self, p, cached=False):
        """Phase p apparent power, VA."""
        return self._power(p, _SMEAN_A, _W_S_HI, cached)

    def power_factor(self, p, cached=False):
        """Phase p power factor -1..1 (signed 16 bit / 1000; its sign follows P, R§5.4)."""
        i = self._phase(p) * _PHASE_WORDS + _W_PF
        if not cached:
            self.raw[i] = self._read(_PF_MEAN_A + p)
            self.check()
        value = _s16(self.raw[i]) / 1000
        return -value if self._reverse[p] else value

    def frequency(self, cached=False):
        """Line frequency, Hz (Freq / 100, R§5.6)."""
        if not cached:
            self.raw[_W_FREQ] = self._read(_FREQ)
            self.check()
        return self.raw[_W_FREQ] / 100

    def temperature(self, cached=False):
        """Chip junction temperature, degC (signed 16 bit, R§5.6)."""
        if not cached:
            self.raw[_W_TEMP] = self._read(_TEMP)
            self.check()
        return _s16(self.raw[_W_TEMP])

    # --- energy ---

    def update_energy(self):
        """Read the per-phase forward/reverse active energy registers (read-and-clear) and add
        them to the lifetime counters. Call at least every 17 s (a 16-bit register fills in
        17.2 s at the largest power the RMS registers can show, 655.35 V x 65.535 A). If the
        chip stopped answering meanwhile, nothing is added and OSError is raised: the counts
        read then are 0xFFFF or zeros, not energy. Allocates nothing."""
        energy = self._energy
        for p in range(3):
            energy[p] = self._read_clear(_AP_ENERGY_A + p)
            energy[3 + p] = self._read_clear(_AN_ENERGY_A + p)
        self.check()
        for p in range(3):
            forward = energy[p]
            reverse = energy[3 + p]
            if self._reverse[p]:
                forward, reverse = reverse, forward
            rest = self._import_rest[p] + forward
            if rest >= COUNTS_PER_WH:
                self._import_wh[p] += rest // COUNTS_PER_WH
                rest %= COUNTS_PER_WH
            self._import_rest[p] = rest
            rest = self._export_rest[p] + reverse
            if rest >= COUNTS_PER_WH:
                self._export_wh[p] += rest // COUNTS_PER_WH
                rest %= COUNTS_PER_WH
            self._export_rest[p] = rest

    def import_wh(self, p):
        """Lifetime imported (forward) active energy of phase p, whole Wh rounded down (int)."""
        return self._import_wh[self._phase(p)]

    def export_wh(self, p):
        """Lifetime exported (reverse) active energy of phase p, whole Wh rounded down (int)."""
        return self._export_wh[self._phase(p)]

    def energy_counts(self, p):
        """(import, export) lifetime counts of phase p, exact (COUNTS_PER_WH per Wh): save
        these, not Wh, so nothing below a Wh is lost across reboots."""
        p = self._phase(p)
        return (
            self._import_wh[p] * COUNTS_PER_WH + self._import_rest[p],
            self._export_wh[p] * COUNTS_PER_WH + self._export_rest[p],
        )

    def clear_energy(self, p):
        """Zero phase p's lifetime counters (a user's explicit reset)."""
        p = self._phase(p)
        self._import_wh[p] = self._import_rest[p] = self._seed_import[p] = 0
        self._export_wh[p] = self._export_rest[p] = self._seed_export[p] = 0

    def seed_energy(self, p, import_counts, export_counts):
        """Restore phase p's lifetime counts (as saved from energy_counts()) at boot; what was
        counted since boot is kept on top, and seeding again replaces the earlier seed instead
        of adding to it. ValueError for negative or non-int counts."""
        p = self._phase(p)
        for counts in (import_counts, export_counts):
            if not isinstance(counts, int) or isinstance(counts, bool) or counts < 0:
                raise ValueError("energy counts must be ints >= 0")
        imported, exported = self.energy_counts(p)
        imported += import_counts - self._seed_import[p]
        exported += export_counts - self._seed_export[p]
        self._import_wh[p], self._import_rest[p] = divmod(imported, COUNTS_PER_WH)
        self._export_wh[p], self._export_rest[p] = divmod(exported, COUNTS_PER_WH)
        self._seed_import[p] = import_counts
        self._seed_export[p] = export_counts
