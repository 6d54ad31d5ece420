# ATM90E32AS (M90E32AS) poly-phase energy metering IC over SPI: the read path.
#
# Facts and section numbers: docs/atm90e32.md ("doc §"), which names the datasheet
# Atmel-46003B ("DS") and application note Atmel-46103A ("AN"). Register names are the
# datasheet's. Several names other drivers use (ConfigStart, CalStart, CS0..CS3, SysStatus0/1,
# PMPGA, PMConfig) belong to the ATM90E36 and do not exist here (doc §2).
#
# Usage (others script against this):
#   meter = ATM90E32(spi, cs, line_freq=50, pga_gain=1, ugain=7305, igain=27518)
#   meter.init()                       # OSError if no chip answers
#   meter.voltage(0), meter.active_power(2), meter.frequency(), ...   # live reads
#   meter.update_energy(); meter.import_wh(0)
#
# Memory: this module holds what runs every read cycle. Construction, init(), gain writes,
# calibration and energy seeding live in atm90e32_setup and atm90e32_calibration, imported when
# called (its functions are
# this class's rarely used methods, see __getattr__); a caller that keeps RAM tight (the
# firmware's source) drops that module again afterwards.
#
# Bus: `spi` is a machine.SPI-like object already set to mode 3 (CPOL=1, CPHA=1), MSB first,
# <= 1 MHz (DS §4: 1.1 Mbps max); `cs` a Pin-like output with value() (or on()/off()), idle high.
# Several chips share one bus, each with its own cs: SDO is high-impedance while CS is high
# (doc §3.2).
#
# Integrity (doc §3.3 "LastSPIData", AN §2):
# - every write is checked through LastSPIData (0x78) and, for read/write configuration
#   registers, by reading the register back; a write that did not land is retried (3 tries,
#   counted in write_retries), then OSError (atm90e32_setup);
# - a chip that is absent (MISO floats high: 0xFFFF), a bus stuck low (0x0000) or a chip that
#   reset itself since init() (MeterEn back to 0) is detected by reading MeterEn, which init()
#   sets to 0x0001: every live getter, every sweep() and every update_energy() checks it and
#   raises OSError instead of returning 655.35 V or silent zeros;
# - read-and-clear energy registers are checked against LastSPIData and recovered from it on a
#   mismatch (AN §2: the register is cleared only after LastSPIData latched the value).
#
# Values: V = Urms/100, A = Irms/1000, PF = int16/1000, Hz = Freq/100 (doc §6): one division of the
# register's exact count. Powers are 32-bit counts of 0.00032 W (DS Table-13), rounded by
# integer arithmetic to hundredths and divided once (see _centi): the boards' float32 holds 7
# significant digits, so 0.01 W is the finest resolution it carries over a phase's 42.9 kW.
#
# Energy is kept as integer counts of 0.01 CF (DS §3.5). With the default PL_constant
# 0x0861C468 that init() writes, MC = 3200 imp/kWh, so one count = 1/320 Wh exactly (doc §6.7).
# import_wh()/export_wh() return whole Wh, rounded down, so a published counter never runs
# ahead of the energy measured. energy_counts() gives the exact counts for persistence;
# seed_energy() restores them at boot.

from array import array

from micropython import const

_METER_EN = const(0x00)
_LAST_SPI_DATA = const(0x78)
# Energy, read-and-clear, phase A; B and C at +1, +2 (doc §5.4)
_AP_ENERGY_A = const(0x81)
_AN_ENERGY_A = const(0x85)
# Measurements, phase A; B and C at +1, +2 (doc §5.5). Mean P, Q, S are 4 apart; the low word of
# each sits 0x10 above its high word.
_PMEAN_A = const(0xB1)
_PF_MEAN_A = const(0xBD)
_URMS_A = const(0xD9)
_IRMS_A = const(0xDD)
_FREQ = const(0xF8)
_TEMP = const(0xFC)

_READ = const(0x80)  # address word bit 15 (high byte bit 7) = read (DS §4)
_METER_ON = const(0x0001)
_RECOVER_TRIES = const(4)

# Words of one sweep in self.raw: 9 per phase (Urms, Irms, P hi/lo, Q hi/lo, S hi/lo, PF),
# then frequency and temperature
_W_URMS = const(0)
_W_IRMS = const(1)
_W_P_HI = const(2)
_W_PF = const(8)
_PHASE_WORDS = const(9)
_W_FREQ = const(27)
_W_TEMP = const(28)
_SWEEP_WORDS = const(29)

COUNTS_PER_WH = const(320)  # energy register counts per Wh at MC 3200 (1 count = 0.01 CF)
_RARE_METHODS = ("init", "set_ugain", "set_igain", "ugain", "igain", "calibrate_voltage",
                 "calibrate_current", "voltage_group", "seed_energy", "clear_energy")


def _s16(word):
    return word - 0x10000 if word & 0x8000 else word


def _centi(hi, lo):
    """The signed 32-bit power hi:lo (LSB 0.00032 W) in hundredths of a W, var or VA, rounded
    half away from zero. value x 32 / 1000 = value x 4 / 125, split so that no intermediate
    leaves the boards' 31-bit small ints (no heap allocation) below 343 kW."""
    q, r = divmod(_s16(hi) * 65536 + lo, 125)
    return q * 4 + (r * 4 + 62) // 125


class ATM90E32:
    """One ATM90E32 chip: phases p = 0, 1, 2 are the datasheet's A, B, C."""

    def __init__(self, spi, cs, line_freq=50, pga_gain=1, ugain=None, igain=None, uoffset=None,
                 ioffset=None, reverse=None, channel_map_u=None, sleep_ms=None):
        """Calibration keywords take one int (all phases) or three (A, B, C):
        ugain, igain: Ugain/Igain registers 1..65535 (default 0x8000, the reset value);
        uoffset, ioffset: Uoffset/Ioffset, signed 16 bit (default 0);
        reverse: per-phase "CT on backwards" flags (flip P, Q, PF; swap import/export);
        channel_map_u: ChannelMapU value (e.g. 0x0444 when only input U0 is wired, CT6),
        None keeps the chip's default mapping U0/U1/U2 -> A/B/C; line_freq 50 or 60; pga_gain
        1, 2 or 4. The arguments are trusted, not checked again: the firmware's come from its
        config schema (atm90e32.*) and the board modules."""
        from atm90e32_setup import configure

        # modes (MMode0, MMode1, ChannelMapU or None), cal (Ugain A-C, Igain A-C, Uoffset A-C,
        # Ioffset A-C), sleep_ms and the reverse bits
        configure(self, line_freq, pga_gain, (ugain, igain, uoffset, ioffset), reverse,
                  channel_map_u, sleep_ms)
        self._spi = spi
        self._cs = cs
        self._cs_set = cs.value if hasattr(cs, "value") else self._cs_on_off
        self._cs_set(1)
        self._addr = bytearray(2)  # scratch, allocated once: address word, data word
        self._data = bytearray(2)
        self._last = -1  # data word of our last transaction, i.e. what LastSPIData holds
        self.raw = array("H", [0] * _SWEEP_WORDS)  # words of the last sweep(), raw registers
        self._energy = array("H", [0] * 6)  # forward A, B, C, reverse A, B, C of one update
        # Lifetime energy per phase (import A, B, C, export A, B, C) as whole Wh plus counts
        # below one Wh: both stay small ints (31-bit on the boards) for 1 TWh, so counting never
        # allocates a long int.
        self._wh = [0] * 6
        self._rest = array("H", [0] * 6)
        self.write_retries = 0  # writes that did not land the first time (then retried)

    # --- bus: one 16-bit register per CS-low transaction (DS §4) ---

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
        data = self._data
        value = (data[0] << 8) | data[1]
        self._last = value
        return value

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

    def _read32(self, p, kind):
        """Phase p's P, Q or S (kind 0, 1, 2) as two words into raw: high, low, high again. The
        chip does not latch the pair (doc §6.3), so if the high word moved, the low is re-read."""
        hi_reg = _PMEAN_A + 4 * kind + p
        hi = self._read(hi_reg)
        lo = self._read(hi_reg + 0x10)
        again = self._read(hi_reg)
        if again != hi:
            lo = self._read(hi_reg + 0x10)
            hi = again
        i = p * _PHASE_WORDS + _W_P_HI + 2 * kind
        self.raw[i] = hi
        self.raw[i + 1] = lo

    def check(self):
        """OSError unless the chip answers and still holds the configuration init() wrote."""
        value = self._read(_METER_EN)
        if value != _METER_ON:
            from atm90e32_setup import failure

            raise failure(value)

    # --- rarely used: init(), set_ugain(p, gain), set_igain(p, gain), ugain(p), igain(p),
    # calibrate_voltage(p, reference, samples=4, interval_ms=350), calibrate_current(...),
    # voltage_group(p), seed_energy(p, import_counts, export_counts), clear_energy(p) are the
    # functions of the same names in atm90e32_setup (calibrate_*: atm90e32_calibration),
    # documented there, found on first use ---

    def __getattr__(self, name):
        if name not in _RARE_METHODS:
            raise AttributeError(name)
        if name.startswith("calibrate"):
            import atm90e32_calibration as rare
        else:
            import atm90e32_setup as rare
        function = getattr(rare, name)
        return lambda *args, **kwargs: function(self, *args, **kwargs)

    def set_reversed(self, p, flag):
        """Mark phase p's CT as clamped on backwards: P, Q, PF change sign and new forward
        energy counts as export (counts already made stay where they are)."""
        bit = 1 << self._phase(p)
        self.reverse = self.reverse | bit if flag else self.reverse & ~bit

    def is_reversed(self, p):
        return bool(self.reverse >> self._phase(p) & 1)

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
        raw = self.raw
        for p in range(3):
            base = p * _PHASE_WORDS
            raw[base + _W_URMS] = self._read(_URMS_A + p)
            raw[base + _W_IRMS] = self._read(_IRMS_A + p)
            for kind in range(3):
                self._read32(p, kind)
            raw[base + _W_PF] = self._read(_PF_MEAN_A + p)
        raw[_W_FREQ] = self._read(_FREQ)
        raw[_W_TEMP] = self._read(_TEMP)

    # Getters: live by default (read the registers now, then confirm the chip is there);
    # cached=True converts what the last sweep() read, without touching the bus.

    def _word(self, i, reg, cached):
        if not cached:
            self.raw[i] = self._read(reg)
            self.check()
        return self.raw[i]

    def voltage(self, p, cached=False):
        """Phase p RMS voltage, V (UrmsX / 100, doc §6.1)."""
        return self._word(self._phase(p) * _PHASE_WORDS + _W_URMS, _URMS_A + p, cached) / 100

    def current(self, p, cached=False):
        """Phase p RMS current, A (IrmsX / 1000; saturates at 65.535 A, doc §6.2)."""
        return self._word(self._phase(p) * _PHASE_WORDS + _W_IRMS, _IRMS_A + p, cached) / 1000

    def _power(self, p, kind, cached):
        if not cached:
            self._read32(self._phase(p), kind)
            self.check()
        return self.power_centi(p, kind) / 100

    def power_centi(self, p, kind):
        """Phase p's active (kind 0), reactive (1) or apparent (2) power as the last read gave
        it, in hundredths of a W, var or VA (an int, signed as the getters): for exact sums."""
        i = self._phase(p) * _PHASE_WORDS + _W_P_HI + 2 * kind
        value = _centi(self.raw[i], self.raw[i + 1])
        return -value if self.reverse >> p & 1 and kind != 2 else value

    def active_power(self, p, cached=False):
        """Phase p active power, W, signed (+ forward/import), from the 32-bit pair."""
        return self._power(p, 0, cached)

    def reactive_power(self, p, cached=False):
        """Phase p reactive power, var, signed."""
        return self._power(p, 1, cached)

    def apparent_power(self, p, cached=False):
        """Phase p apparent power, VA."""
        return self._power(p, 2, cached)

    def power_factor(self, p, cached=False):
        """Phase p power factor -1..1 (signed 16 bit / 1000; its sign follows P, doc §6.4)."""
        value = _s16(self._word(self._phase(p) * _PHASE_WORDS + _W_PF, _PF_MEAN_A + p, cached))
        return (-value if self.reverse >> p & 1 else value) / 1000

    def frequency(self, cached=False):
        """Line frequency, Hz (Freq / 100, doc §6.5)."""
        return self._word(_W_FREQ, _FREQ, cached) / 100

    def temperature(self, cached=False):
        """Chip junction temperature, degC (signed 16 bit, doc §6.5)."""
        return _s16(self._word(_W_TEMP, _TEMP, cached))

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
        for i in range(6):
            p = i % 3
            # a reversed CT's forward energy is export: take the other register's counts
            rest = self._rest[i] + energy[(i + 3) % 6 if self.reverse >> p & 1 else i]
            if rest >= COUNTS_PER_WH:
                self._wh[i] += rest // COUNTS_PER_WH
                rest %= COUNTS_PER_WH
            self._rest[i] = rest

    def import_wh(self, p):
        """Lifetime imported (forward) active energy of phase p, whole Wh rounded down (int)."""
        return self._wh[self._phase(p)]

    def export_wh(self, p):
        """Lifetime exported (reverse) active energy of phase p, whole Wh rounded down (int)."""
        return self._wh[3 + self._phase(p)]

    def energy_counts(self, p):
        """(import, export) lifetime counts of phase p, exact (COUNTS_PER_WH per Wh): save
        these, not Wh, so nothing below a Wh is lost across reboots."""
        p = self._phase(p)
        return (self._wh[p] * COUNTS_PER_WH + self._rest[p],
                self._wh[3 + p] * COUNTS_PER_WH + self._rest[3 + p])
