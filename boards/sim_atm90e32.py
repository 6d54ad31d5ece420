# Register-level emulator of the ATM90E32AS behind a machine.SPI-like bus, for the sim board and
# the tests. Runs on CPython and on the MicroPython unix port.
#
# Modelled from the datasheet as summarised in docs/atm90e32.md (cited as "doc §N"):
# - SPI (doc §3, DS §4): one 16-bit register per CS-low transaction; address word bit 15 = read,
#   bits 14:10 ignored, 9:0 address; MSB first; SDO shifts the register out during clocks 17-32;
#   a write commits on CS rising only after exactly 32 clocks; LastSPIData (0x78) holds the data
#   word of the last read or committed write; read-and-clear energy registers clear once
#   LastSPIData has the value. SDO is released while CS is high, so with no chip selected (or a
#   missing chip) MISO floats high and reads 0xFF.
# - Configuration (doc §2, §9): writes to 0x00-0x6F land only while CfgRegAccEn = 0x55AA (the
#   strict reading of DS §5.2; strict_config=False accepts them always); closing access latches a
#   CRC-16/0x1021 (init 0xFFFF) of 0x00-0x6F into CRCDigest; SoftReset 0x789A restores the
#   defaults of the register table except the latched DetectCtrl/DetectTh1-3.
# - Measurement (doc §7): every register of 0xB0-0xFF is an average over 16 line cycles (320 ms at
#   50 Hz), so it changes only at those window boundaries; after a reset the registers read 0
#   until the first window ends. RMS readings scale with Ugain/Igain relative to the gain at
#   which this chip's hardware reads true (ucal/ical, default 0x8000); the PGA multiplies the
#   current input; power follows the calibrated V and I, times (1 + PQGain/2^15), plus Poffset;
#   Uoffset/Ioffset correct the 32-bit RMS word by offset x 2^7; PF = P/S with P's sign.
# - Energy (doc §6.7, §7.2): integrated from the calibrated power in exact integer arithmetic
#   (one count = PL_constant/4 LSB-milliseconds of power, i.e. 0.01 CF), forward and reverse
#   cancelling inside one count; per-phase PPhaseTh gating, PStartTh gating of the totals,
#   MMode0 EnPA/B/C and ABSEnP/Q for the totals; MeterEn = 0 stops it. Registers wrap at 16 bits
#   (the datasheet does not say; wrapping makes a missed read visible as lost energy).
# Choices the datasheet leaves open are listed above; nothing here is taken from the driver.
#
# Fault injection: chip.present = False (MISO floats high), chip.drop_writes(n, after=k) (n write
# frames after the next k do not land, as when a clock is lost: not committed, LastSPIData
# unchanged),
# chip.corrupt_reads(n) (MISO bits flip on the next n reads; LastSPIData keeps the true value),
# chip.power_cycle() (brown-out: back to power-on defaults, MeterEn = 0).
#
# The transaction path (select, shift, deselect) does integer work only and allocates nothing,
# so the driver's read cycle can be checked with micropython.heap_lock() on top of it.

import math
import time
from array import array

try:
    from micropython import const
except ImportError:  # CPython without lib/ on the path

    def const(value):
        return value


_CHANNEL_MAP_I = const(0x01)
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
_SOFT_RESET = const(0x70)
_EMM_STATE1 = const(0x72)
_EMM_INT_STATE0 = const(0x73)
_EMM_INT_STATE1 = const(0x74)
_EMM_INT_EN0 = const(0x75)
_EMM_INT_EN1 = const(0x76)
_LAST_SPI_DATA = const(0x78)
_CRC_DIGEST = const(0x7A)
_CFG_REG_ACC_EN = const(0x7F)
_ENERGY_FIRST = const(0x80)
_ENERGY_LAST = const(0xAF)
_FREQ = const(0xF8)
_TEMP = const(0xFC)

_SOFT_RESET_KEY = const(0x789A)
_CFG_OPEN = const(0x55AA)
_CFG_CRC_WRITE = const(0xAA55)
_NANO = const(1000000000)
_NANO_SQUARED = _NANO * _NANO
_S_DEN = 320000000000  # uV x nA per 0.00032 VA
_PQ_DEN = _S_DEN * _NANO * 32768  # and cos/sin in ppb, PQGain in 2^-15
# PF resolution in parts per 1e9: where floats are single precision (the boards), an input PF
# is only good to ~1e-7, so it is taken to the ppm (0.95 stays 0.95, not 0.94999999); with
# double precision to the ppb.
_PF_STEP = 1000 if 1.0 + 1e-9 == 1.0 else 1
_LIMIT32 = const(0x7FFFFFFF)

# Energy register bases (+0 total, +1..+3 phases A..C), doc §5.4
_AP = const(0x80)
_AN = const(0x84)
_RP = const(0x88)
_RN = const(0x8C)
_SA = const(0x90)
_APF = const(0xA0)
_ANF = const(0xA4)
# Accumulator blocks in self._acc: active, reactive, apparent; 4 each (total, A, B, C)
_ACC_P = const(0)
_ACC_Q = const(4)
_ACC_S = const(8)

# Reset values (register table in doc §5.6); all others reset to 0.
_DEFAULTS = (
    (0x01, 0x0210),
    (0x02, 0x0654),
    (0x05, 0x143F),
    (0x06, 0xC000),
    (0x07, 0x0001),
    (0x08, 0x1000),
    (0x09, 0x0400),
    (0x0A, 0xFFFF),
    (0x0B, 0xC000),
    (0x0C, 0x1324),
    (0x0D, 0x13EC),
    (0x0E, 0x010F),
    (0x22, 0x1388),
    (0x23, 0x0019),
    (0x31, 0x0861),
    (0x32, 0xC468),
    (0x33, 0x0087),
    (0x61, 0x8000),
    (0x62, 0x8000),
    (0x65, 0x8000),
    (0x66, 0x8000),
    (0x69, 0x8000),
    (0x6A, 0x8000),
)
# Implemented configuration registers in 0x00-0x6F (gaps are unimplemented: writes vanish)
_CONFIG_RANGES = ((0x00, 0x02), (0x05, 0x1C), (0x20, 0x2F), (0x31, 0x3A), (0x41, 0x4C),
                  (0x51, 0x56), (0x61, 0x6C))
_WRITABLE = bytearray(0x70)
for _first, _last in _CONFIG_RANGES:
    for _a in range(_first, _last + 1):
        _WRITABLE[_a] = 1

DEFAULT_GAIN = const(0x8000)


def _s16(word):
    return word - 0x10000 if word & 0x8000 else word


def _subtract(a, b):
    return a - b


def _default_clock():
    """(clock, diff): time.ticks_ms with ticks_diff on MicroPython, time.monotonic in ms on
    CPython."""
    ticks_ms = getattr(time, "ticks_ms", None)
    if ticks_ms is not None:
        return ticks_ms, time.ticks_diff
    return (lambda: int(time.monotonic() * 1000)), _subtract


class ManualClock:
    """Injectable test clock in milliseconds; sleep_ms() advances it (pass it to the driver)."""

    def __init__(self, start_ms=0):
        self.now = start_ms

    def __call__(self):
        return self.now

    def advance(self, ms):
        self.now += ms

    def sleep_ms(self, ms):
        self.now += ms


class Load:
    """A constant load on one input pair: RMS volts and amps, |power factor|, whether power
    flows backwards (export), and whether the current leads (capacitive)."""

    constant = True

    def __init__(self, volts=230.0, amps=0.0, pf=1.0, export=False, leading=False):
        if not 0.0 <= pf <= 1.0:
            raise ValueError("pf is a magnitude 0..1; use export/leading for signs")
        if volts < 0 or amps < 0:
            raise ValueError("volts and amps are RMS magnitudes")
        self.volts = volts
        self.amps = amps
        self.pf = pf
        self.export = export
        self.leading = leading

    def sample(self, t_ms):
        return self

    def watts(self):
        watts = self.volts * self.amps * self.pf
        return -watts if self.export else watts


def load_from_power(volts, watts, var=0.0):
    """The Load that draws `watts` (negative = export) and `var` at `volts`."""
    va = math.sqrt(watts * watts + var * var)
    amps = va / volts if volts > 0 else 0.0
    pf = abs(watts) / va if va > 0 else 1.0
    # Q's sign flips with the current's direction, like P's
    return Load(volts, amps, min(pf, 1.0), watts < 0, (var < 0) != (watts < 0))


class HouseLoad:
    """A realistic single-phase house seen by three CTs on one voltage: input 0 the grid
    connection (everything below minus solar, so it exports on sunny middays), input 1 a PV
    inverter (export), input 2 a heat pump. Deterministic function of time; start_hour sets
    the time of day at t = 0."""

    constant = False

    def __init__(self, kind, start_hour=9.0):
        if kind not in ("grid", "solar", "heat_pump"):
            raise ValueError("kind: grid, solar or heat_pump")
        self.kind = kind
        self.start_hour = start_hour

    def sample(self, t_ms):
        minutes = t_ms / 60000
        volts = 231.0 + 3.5 * math.sin(minutes * 0.17) + 1.1 * math.sin(minutes * 8.3)
        solar = self._solar(minutes)
        pump_w, pump_var = self._heat_pump(minutes)
        if self.kind == "solar":
            return load_from_power(volts, -solar, 0.0)
        if self.kind == "heat_pump":
            return load_from_power(volts, pump_w, pump_var)
        watts = 165.0 + pump_w  # standby, router, lights
        var = 60.0 + pump_var
        if minutes % 38 < 14:  # fridge compressor
            watts += 95.0
            var += 84.0
        if minutes % 55 < 3:  # kettle
            watts += 2150.0
        if 40 <= minutes % 180 < 75:  # cooking, washing machine
            watts += 900.0 + 400.0 * math.sin(minutes * 1.7)
            var += 150.0
        return load_from_power(volts, watts - solar, var)

    def _solar(self, minutes):
        hour = (self.start_hour + minutes / 60) % 24
        if not 6.0 < hour < 20.0:
            return 0.0
        clouds = 0.8 + 0.2 * math.sin(minutes * 0.9)
        return 3400.0 * math.sin(math.pi * (hour - 6.0) / 14.0) * clouds

    def _heat_pump(self, minutes):
        if minutes % 32 < 20:
            return 1250.0, 494.0  # PF 0.93 lagging
        return 14.0, 0.0


class SimATM90E32:
    """One emulated chip. loads: three profiles (Load, HouseLoad or anything whose
    .sample(t_ms) returns a Load; .constant = True if it never changes) for the input pairs
    U0/I0, U1/I1, U2/I2; ChannelMapU/I route them to phases A, B, C. ucal/ical: the
    Ugain/Igain values (one or per phase) at which this chip reads the true voltage/current:
    its hardware's calibration."""

    def __init__(
        self,
        loads=None,
        clock=None,
        clock_diff=None,
        ucal=DEFAULT_GAIN,
        ical=DEFAULT_GAIN,
        frequency=50.0,
        temperature=31,
        strict_config=True,
    ):
        if clock is None:
            clock, default_diff = _default_clock()
            clock_diff = clock_diff or default_diff
        self._clock = clock
        self._diff = clock_diff or _subtract
        if loads is None:
            loads = (HouseLoad("grid"), HouseLoad("solar"), HouseLoad("heat_pump"))
        self.loads = list(loads)
        if len(self.loads) != 3:
            raise ValueError("three loads: inputs 0, 1, 2")
        # Ugain A-C, Igain A-C at which the hardware reads true
        self._true_gain = ([ucal] * 3 if isinstance(ucal, int) else list(ucal)) + (
            [ical] * 3 if isinstance(ical, int) else list(ical))
        self.frequency = frequency
        self.temperature = temperature
        self.strict_config = strict_config
        self.present = True
        self._regs = array("H", [0] * 0x100)  # 0x000-0x0FF; 0x100-0x3FF are unimplemented
        self._acc = [0] * 12
        # calibrated powers being integrated, in the blocks of _acc: P, Q, S x (total, A, B, C)
        self._power = [0] * 12
        self._last_data = 0
        self._selected = False
        self._bits = 0
        self._addr_word = 0
        self._data_word = 0
        self._reading = False
        self._out = 0
        self._drop_writes = 0
        self._drop_after = 0
        self._corrupt_reads = 0
        self._corrupt_mask = 0
        self.writes_committed = 0
        self.writes_dropped = 0
        self.resets = 0
        self._t = 0  # emulated ms since power-on
        self._t_last = clock()
        self._to_refresh = 320
        self._dirty = True
        self._power_on()

    # --- test and sim helpers ---

    def set_load(self, index, load):
        """Change the load on input `index` now: energy up to now is integrated with the old
        load, the new one counts from now; registers show it after the current window."""
        self._advance()
        self.loads[index] = load
        self._compute(False)
        self._dirty = True

    def peek(self, addr):
        """A register's content without the side effects of an SPI read."""
        return self._last_data if addr == _LAST_SPI_DATA else self._regs[addr & 0xFF]

    def poke(self, addr, value):
        """Set a register directly (measurement registers keep it until the next window)."""
        self._regs[addr] = value & 0xFFFF

    def power_raw(self, phase):
        """The signed 32-bit active power being integrated for phase 0..2 (tests)."""
        return self._power[_ACC_P + 1 + phase]

    def drop_writes(self, count=1, after=0):
        """Lose `count` write frames, starting after `after` more writes have landed."""
        self._drop_writes = count
        self._drop_after = after

    def corrupt_reads(self, count=1, mask=0x0104):
        self._corrupt_reads = count
        self._corrupt_mask = mask

    def power_cycle(self):
        self._advance()
        self._power_on()

    # --- SPI side (called by SimSPI / SimPin): integer work only, no allocation ---

    def _select(self):
        if not self.present:
            return
        self._advance()
        self._selected = True
        self._bits = 0
        self._addr_word = 0
        self._data_word = 0
        self._reading = False

    def _deselect(self):
        if not self._selected:
            return
        self._selected = False
        if self._reading or self._bits != 32:
            return  # DS §4: a write commits only after exactly 32 clocks
        if self._drop_after:
            self._drop_after -= 1
        elif self._drop_writes:
            self._drop_writes -= 1
            self.writes_dropped += 1
            return
        self._commit_write(self._addr_word & 0x3FF, self._data_word)

    def _shift(self, mosi):
        """One byte on the wire: returns what this chip drives on MISO (0xFF = released)."""
        n = self._bits
        self._bits = n + 8
        if n < 16:
            self._addr_word = ((self._addr_word << 8) | mosi) & 0xFFFF
            if n == 8 and self._addr_word & 0x8000:
                # address complete: the register is read and LastSPIData updated (DS §4)
                self._reading = True
                value = self._read_register(self._addr_word & 0x3FF)
                if self._corrupt_reads:
                    self._corrupt_reads -= 1
                    value ^= self._corrupt_mask
                self._out = value
            return 0xFF
        if n < 32:
            if self._reading:
                return (self._out >> (24 - n)) & 0xFF
            self._data_word = ((self._data_word << 8) | mosi) & 0xFFFF
        return 0xFF

    def _read_register(self, addr):
        if addr == _LAST_SPI_DATA:
            value = self._last_data
        elif addr > 0xFF:
            value = 0
        else:
            value = self._regs[addr]
            if _ENERGY_FIRST <= addr <= _ENERGY_LAST:
                self._regs[addr] = 0  # read-and-clear, after LastSPIData has the value
        self._last_data = value
        return value

    def _commit_write(self, addr, value):
        self.writes_committed += 1
        self._last_data = value
        regs = self._regs
        if addr < _SOFT_RESET:
            if _WRITABLE[addr] and (not self.strict_config or regs[_CFG_REG_ACC_EN] == _CFG_OPEN):
                regs[addr] = value
                self._dirty = True
        elif addr == _SOFT_RESET:
            if value == _SOFT_RESET_KEY:
                self._reset(True)
        elif addr == _EMM_INT_STATE0 or addr == _EMM_INT_STATE1:
            regs[addr] &= ~value & 0xFFFF  # write 1 to clear
        elif addr == _EMM_INT_EN0 or addr == _EMM_INT_EN1:
            regs[addr] = value
        elif addr == _CRC_DIGEST:
            if regs[_CFG_REG_ACC_EN] == _CFG_CRC_WRITE:
                regs[addr] = value
        elif addr == _CFG_REG_ACC_EN:
            regs[addr] = value
            if value != _CFG_OPEN and value != _CFG_CRC_WRITE:
                regs[_CRC_DIGEST] = self._config_crc()  # golden CRC latched (DS §5.2.1)
        # everything else is read-only or unimplemented: the write vanishes

    # --- model ---

    def _power_on(self):
        self._reset(False)
        self.resets += 1

    def _reset(self, keep_detector):
        regs = self._regs
        for addr in range(0x100):
            if not (keep_detector and 0x10 <= addr <= 0x13):
                regs[addr] = 0
        for addr, value in _DEFAULTS:
            regs[addr] = value
        for i in range(12):
            self._acc[i] = 0
        self._last_data = 0
        self._to_refresh = self._window_ms()
        self._compute(False)  # energy follows the inputs at once; registers after one window
        self._dirty = True

    def _window_ms(self):
        # 16 cycles of the line (doc §7.1)
        return int(16000 / self.frequency + 0.5) if self.frequency > 0 else 320

    def _config_crc(self):
        crc = 0xFFFF
        for addr in range(0x70):
            word = self._regs[addr]
            for shift in (8, 0):
                crc ^= ((word >> shift) & 0xFF) << 8
                for _ in range(8):
                    crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        return crc

    def _static(self):
        if self._dirty:
            return False
        for load in self.loads:
            if not getattr(load, "constant", False):
                return False
        return True

    def _advance(self):
        """Bring the model up to the clock: integrate energy, refresh the measurement
        registers at each window boundary on the way."""
        now = self._clock()
        elapsed = self._diff(now, self._t_last)
        if elapsed <= 0:
            return
        self._t_last = now
        while elapsed > 0:
            step = elapsed if elapsed < self._to_refresh else self._to_refresh
            self._integrate(step)
            self._t += step
            elapsed -= step
            self._to_refresh -= step
            if self._to_refresh == 0:
                if not self._static():  # else the registers would come out the same
                    self._compute(True)
                window = self._window_ms()
                self._to_refresh = window
                if elapsed > window and self._static():
                    # nothing changes from window to window: integrate the rest in one step
                    self._integrate(elapsed)
                    self._t += elapsed
                    self._to_refresh = window - elapsed % window
                    elapsed = 0

    def _integrate(self, ms):
        regs = self._regs
        if not regs[0x00]:
            return  # MeterEn = 0: no energy accumulation
        pl = (regs[_PL_CONST_H] << 16) | regs[_PL_CONST_L]
        if not pl:
            return
        for k in range(1, 4):
            p = self._power[_ACC_P + k]
            q = self._power[_ACC_Q + k]
            magnitude = abs(p) + abs(q)  # DS §3.5.4: per-phase gate on |P| + |Q|
            if magnitude >= regs[_P_PHASE_TH]:
                self._accumulate(_ACC_P + k, p * ms * 4, pl, _AP + k, _AN + k, _APF + k, _ANF + k)
            if magnitude >= regs[_Q_PHASE_TH]:
                self._accumulate(_ACC_Q + k, q * ms * 4, pl, _RP + k, _RN + k, 0, 0)
            if magnitude >= regs[_S_PHASE_TH]:
                self._accumulate(_ACC_S + k, self._power[_ACC_S + k] * ms * 4, pl, _SA + k, 0, 0,
                                 0)
        p = self._power[_ACC_P]
        q = self._power[_ACC_Q]
        s = self._power[_ACC_S]
        if abs(p) >= regs[_P_START_TH]:
            self._accumulate(_ACC_P, p * ms * 4, pl, _AP, _AN, _APF, _ANF)
        if abs(q) >= regs[_Q_START_TH]:
            self._accumulate(_ACC_Q, q * ms * 4, pl, _RP, _RN, 0, 0)
        if s >= regs[_S_START_TH]:
            self._accumulate(_ACC_S, s * ms * 4, pl, _SA, 0, 0, 0)

    def _accumulate(self, index, delta, pl, forward, reverse, forward2, reverse2):
        # one count = 0.01 CF = PL_constant / 4 power-LSB-milliseconds (doc §6.7)
        regs = self._regs
        acc = self._acc[index] + delta
        if acc >= pl:
            n = acc // pl
            acc -= n * pl
            regs[forward] = (regs[forward] + n) & 0xFFFF
            if forward2:
                regs[forward2] = (regs[forward2] + n) & 0xFFFF
        elif acc <= -pl and reverse:
            n = (-acc) // pl
            acc += n * pl
            regs[reverse] = (regs[reverse] + n) & 0xFFFF
            if reverse2:
                regs[reverse2] = (regs[reverse2] + n) & 0xFFFF
        self._acc[index] = acc

    def _compute(self, publish):
        """Evaluate the loads at the current emulated time through mapping, PGA, gains and
        offsets; set the powers being integrated and, if publish, the measurement registers."""
        regs = self._regs
        t = self._t
        samples = [load.sample(t) for load in self.loads]
        map_u = regs[_CHANNEL_MAP_U]
        map_i = regs[_CHANNEL_MAP_I]
        mmode0 = regs[_MMODE0]
        mmode1 = regs[_MMODE1]
        total_p = total_q = total_s = 0
        any_voltage = False
        state1 = 0
        for p in range(3):
            u_src = (map_u >> (4 * p)) & 0x7
            i_src = (map_i >> (4 * p)) & 0x7
            volts = samples[u_src - 4].volts if 4 <= u_src <= 6 else 0.0
            amps = pf = 0.0
            export = leading = False
            if i_src <= 2:
                sample = samples[i_src]
                pga = (1, 2, 4, 1)[(mmode1 >> (2 * i_src)) & 0x3]
                amps = sample.amps * pga
                pf = sample.pf
                export = sample.export
                leading = sample.leading
            cal = 4 * p
            # Fixed point from here on (uV, nA, PF in ppb): the registers and the energy are
            # integer functions of these, the same on float32 boards and on CPython.
            true_u = self._true_gain[p]
            true_i = self._true_gain[3 + p]
            cos = _fixed(pf, _NANO // _PF_STEP) * _PF_STEP
            # calibrated input: scaled by Ugain/Igain relative to the hardware's true gain
            v = _div_round(_fixed(volts, 1000000) * regs[0x61 + cal], true_u)  # uV
            i = _div_round(_fixed(amps, _NANO) * regs[0x62 + cal], true_i)  # nA
            # RMS words = register x 2^16 (register + LSB extension): 0.01 V and 1 mA units,
            # i.e. v x 65536 / 10^4 and i x 65536 / 10^6
            urms_word = _rms_word(v * 4096, 625, regs[0x63 + cal])
            irms_word = _rms_word(i * 1024, 15625, regs[0x64 + cal])
            # powers in LSBs of 0.00032 W: uV x nA = 1e-15 VA, so S = v i / 3.2e11; P and Q
            # times cos and sin (ppb) and (1 + PQGain / 2^15) (PQGainA/B/C at 0x47/0x49/0x4B)
            vi = v * i
            gain = 32768 + _s16(regs[0x47 + 2 * p])
            p32 = _div_round(vi * cos * gain, _PQ_DEN)
            q32 = _div_round(vi * _isqrt(_NANO_SQUARED - cos * cos) * gain, _PQ_DEN)
            if export:
                p32 = -p32
                q32 = -q32
            if leading:
                q32 = -q32
            p32 = self._clamp32(self._clamp32(p32) + _s16(regs[0x41 + 2 * p]))  # PoffsetX
            q32 = self._clamp32(self._clamp32(q32) + _s16(regs[0x42 + 2 * p]))  # QoffsetX
            s32 = self._clamp32(_div_round(vi, _S_DEN))
            self._power[_ACC_P + 1 + p] = p32
            self._power[_ACC_Q + 1 + p] = q32
            self._power[_ACC_S + 1 + p] = s32
            enable = mmode0 & (0x4 >> p)  # EnPA b2, EnPB b1, EnPC b0
            if enable:
                total_p += abs(p32) if mmode0 & 0x08 else p32
                total_q += abs(q32) if mmode0 & 0x10 else q32
                total_s += s32
            if p32 < 0:
                state1 |= 0x4 >> p
            if q32 < 0:
                state1 |= 0x40 >> p
            if not publish:
                continue
            any_voltage = any_voltage or urms_word >= 0x10000
            regs[0xD9 + p] = min(urms_word >> 16, 0xFFFF)
            regs[0xE9 + p] = 0xFF00 if urms_word >> 16 > 0xFFFF else urms_word & 0xFF00
            regs[0xDD + p] = min(irms_word >> 16, 0xFFFF)
            regs[0xED + p] = 0xFF00 if irms_word >> 16 > 0xFFFF else irms_word & 0xFF00
            self._publish32(0xB1 + p, 0xC1 + p, p32)
            self._publish32(0xB5 + p, 0xC5 + p, q32)
            self._publish32(0xB9 + p, 0xC9 + p, s32)
            self._publish32(0xD1 + p, 0xE1 + p, p32)  # fundamental: the model is sinusoidal
            regs[0xBD + p] = _pf_word(p32, s32)
            angle = math.degrees(math.atan2(q32, p32)) % 360.0 if s32 else 0.0
            regs[0xF9 + p] = int(angle * 10 + 0.5) % 3600  # Table-15: unsigned 0..360.0
            # peak registers (doc §6.5): the calibrated peak x 819200 (V) or 8192000 (A) over
            # Ugain/Igain; sqrt(2) x 819200 = 1158524, sqrt(2) x 8192000 = 11585237
            regs[0xF1 + p] = min(v * 1158524 // ((regs[0x61 + cal] or 1) * 1000000), 0x7FFF)
            regs[0xF5 + p] = min(i * 11585237 // ((regs[0x62 + cal] or 1) * _NANO), 0x7FFF)
        total_p = self._clamp32(total_p)
        total_q = self._clamp32(total_q)
        total_s = self._clamp32(total_s)
        self._power[_ACC_P] = total_p
        self._power[_ACC_Q] = total_q
        self._power[_ACC_S] = total_s
        if total_p < 0:
            state1 |= 0x08
        if total_q < 0:
            state1 |= 0x80
        if not publish:
            return
        self._dirty = False
        self._publish32(0xB0, 0xC0, total_p)
        self._publish32(0xB4, 0xC4, total_q)
        self._publish32(0xB8, 0xC8, total_s)
        self._publish32(0xD0, 0xE0, total_p)
        regs[0xBC] = _pf_word(total_p, total_s)
        regs[_FREQ] = int(self.frequency * 100 + 0.5) if any_voltage else 0  # 0: no voltage
        regs[_TEMP] = int(self.temperature) & 0xFFFF
        regs[_EMM_STATE1] = state1

    def _clamp32(self, value):
        if value > _LIMIT32:
            return _LIMIT32
        if value < -_LIMIT32:
            return -_LIMIT32
        return value

    def _publish32(self, hi_reg, lo_reg, value):
        self._regs[hi_reg] = (value >> 16) & 0xFFFF
        self._regs[lo_reg] = value & 0xFFFF


def _fixed(value, scale):
    """A non-negative float input as the nearest int in 1/scale units. The whole part is
    scaled as an int: 10.0 A x 1e9 as a float32 product would not be exact."""
    whole = int(value)
    return whole * scale + int((value - whole) * scale + 0.5)


def _div_round(num, den):
    """num / den rounded half away from zero, den > 0, in integers."""
    if num < 0:
        return -((-num + den // 2) // den)
    return (num + den // 2) // den


def _isqrt(n):
    """floor(sqrt(n)) of an int n >= 0: Newton's method in integers from just above the float
    estimate (good to ~2e-7 even as float32), so it ends in two or three steps."""
    if n <= 0:
        return 0
    x = int(math.sqrt(n))
    x += (x >> 16) + 2  # above the root, whatever the float rounding
    while True:
        y = (x + n // x) // 2
        if y >= x:
            return x
        x = y


def _rms_word(num, den, offset):
    # 32-bit RMS word = register value x 2^16 (register + LSB extension), offset x 2^7
    word = _div_round(num, den) + _s16(offset) * 128
    return word if word > 0 else 0


def _pf_word(p32, s32):
    if not s32:
        return 0
    pf = _div_round(p32 * 1000, s32)
    pf = max(-1000, min(1000, pf))
    return pf & 0xFFFF


class SimPin:
    """Chip-select pin of one chip on a SimSPI bus (machine.Pin-like, idle high)."""

    OUT = 1
    IN = 0

    def __init__(self, bus, chip):
        self._bus = bus
        self.chip = chip
        self._level = 1

    def init(self, mode=-1, pull=-1, value=None):
        if value is not None:
            self.value(value)

    def value(self, level=None):
        if level is None:
            return self._level
        level = 1 if level else 0
        if level == self._level:
            return None
        self._level = level
        if level == 0:
            self._bus.transactions = (self._bus.transactions + 1) & 0x3FFFFFFF
            if self.chip is not None:
                self.chip._select()
        elif self.chip is not None:
            self.chip._deselect()
        return None

    def __call__(self, level=None):
        return self.value(level)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class SimSPI:
    """machine.SPI-like bus with emulated chips on it; each add_chip() returns its CS pin."""

    MSB = 0
    LSB = 1

    def __init__(self, baudrate=1000000, polarity=1, phase=1, clock=None, clock_diff=None):
        if clock is None:
            clock, clock_diff = _default_clock()
        self.clock = clock
        self.clock_diff = clock_diff or _subtract
        self.chips = []
        self.transactions = 0  # CS falling edges on this bus, modulo 2**30
        self.init(baudrate=baudrate, polarity=polarity, phase=phase)

    def init(self, baudrate=1000000, polarity=1, phase=1, bits=8, firstbit=0, **pins):
        # DS §4: SDI sampled on the rising edge, SDO changes on the falling edge, so modes 0
        # and 3 work; 400 bps .. 1.1 Mbps.
        if polarity != phase:
            raise ValueError("ATM90E32 needs SPI mode 0 or 3 (drivers use 3)")
        if not 400 <= baudrate <= 1100000:
            raise ValueError("ATM90E32 SPI clock is 400 bps .. 1.1 Mbps")
        if bits != 8 or firstbit != 0:
            raise ValueError("8-bit words, MSB first")
        self.baudrate = baudrate
        self.polarity = polarity
        self.phase = phase

    def deinit(self):
        pass

    def add_chip(self, chip=None, **kwargs):
        """Put a chip on the bus (a new SimATM90E32 on this bus's clock unless given);
        returns its CS pin. The chip is pin.chip."""
        if chip is None:
            chip = SimATM90E32(clock=self.clock, clock_diff=self.clock_diff, **kwargs)
        self.chips.append(chip)
        return SimPin(self, chip)

    def add_missing_chip(self):
        """A CS line with no chip behind it: every read returns 0xFFFF."""
        return SimPin(self, None)

    def _byte(self, mosi):
        miso = 0xFF
        for chip in self.chips:
            if chip._selected:
                miso &= chip._shift(mosi)  # SDO lines are wired together; 0 wins
        return miso

    def write(self, buf):
        for i in range(len(buf)):
            self._byte(buf[i])

    def readinto(self, buf, write=0x00):
        for i in range(len(buf)):
            buf[i] = self._byte(write)

    def read(self, nbytes, write=0x00):
        buf = bytearray(nbytes)
        self.readinto(buf, write)
        return bytes(buf)

    def write_readinto(self, write_buf, read_buf):
        for i in range(len(write_buf)):
            read_buf[i] = self._byte(write_buf[i])


def house_bus(clock=None, clock_diff=None, start_hour=9.0):
    """The sim board's default: one chip with the house load on a 1 MHz bus.
    Returns (spi, cs, chip); phases A, B, C = grid, solar, heat pump."""
    spi = SimSPI(clock=clock, clock_diff=clock_diff)
    loads = (HouseLoad("grid", start_hour), HouseLoad("solar", start_hour),
             HouseLoad("heat_pump", start_hour))
    cs = spi.add_chip(loads=loads)
    return spi, cs, cs.chip


def house_board(clock=None, clock_diff=None, start_hour=9.0):
    """What the sim board's spi_chips() returns: [(spi, cs, ("CT1", "CT2", "CT3"))], one chip
    with the house load (CT1 grid, CT2 solar, CT3 heat pump)."""
    spi, cs, _ = house_bus(clock, clock_diff, start_hour)
    return [(spi, cs, ("CT1", "CT2", "CT3"))]
