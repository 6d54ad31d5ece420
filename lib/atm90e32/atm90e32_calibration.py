# ATM90E32 calibration (AN §4.2.4, docs/atm90e32.md §10.1: new gain = reference / measured x
# current gain): the driver's calibrate_voltage/calibrate_current (lib/atm90e32/atm90e32.py finds
# them here; the source's calibrate() is in atm90e32_config). Imported only for a calibration and
# dropped again.

from atm90e32_setup import input_group, set_gain
from micropython import const

_URMS_A = const(0xD9)
_URMS_A_LSB = const(0xE9)  # Irms and its LSB register follow at +4 like Irms


def calibrate_voltage(meter, p, reference, samples=4, interval_ms=350, write=True,
                      max_change=None):
    """Measure phase p's voltage (averaged over `samples` readings `interval_ms` apart, one per
    ~320 ms averaging period), compute the gain that makes it read `reference` volts, write and
    verify it on every phase sharing p's voltage input (voltage_group) and return it for the
    caller to persist. ValueError if the measurement or the result is unusable (nothing is
    written then). With write=False the gain is only computed (the caller saves it, then
    writes it). max_change (a fraction, e.g. 0.2) refuses a gain further than that from the
    gain in force: a wrong reference (a tenfold slip, another phase's reading) would otherwise
    be taken as the truth."""
    return _calibrate(meter, p, reference, samples, interval_ms, 0, write, max_change)


def calibrate_current(meter, p, reference, samples=4, interval_ms=350, write=True,
                      max_change=None):
    """As calibrate_voltage, for phase p's current (IgainX) in amperes."""
    return _calibrate(meter, p, reference, samples, interval_ms, 1, write, max_change)


def _calibrate(meter, p, reference, samples, interval_ms, current, write, max_change):
    """calibrate_voltage (current 0) or calibrate_current (1); returns the new gain."""
    p = meter._phase(p)
    what = "current" if current else "voltage"
    total = 0
    for i in range(samples):
        if i:
            meter.sleep_ms(interval_ms)
        word = meter._read(_URMS_A + 4 * current + p)
        if word == 0xFFFF:
            meter.check()
            raise ValueError("reading saturated at the register limit: lower the gain")
        # 16-bit register plus the 8-bit extension in the LSB register (docs/atm90e32.md §6.1)
        total += (word << 8) | (meter._read(_URMS_A_LSB + 4 * current + p) >> 8)
    meter.check()
    measured = total / (samples * 256 * (1000 if current else 100))
    if measured < (0.1 if current else 1.0):
        raise ValueError("measured %s %.3f too low to calibrate against" % (what, measured))
    gain = int(reference / measured * meter.cal[3 * current + p] + 0.5)
    if gain > 0xFFFF:
        # ESPHome's hints for the same case (docs/atm90e32.md §10.1)
        hint = "a higher PGA gain" if current else "a higher-output transformer"
        raise ValueError("%s gain %d exceeds 65535: needs %s" % (what, gain, hint))
    if gain < 1:
        raise ValueError("%s gain would be 0" % what)
    in_force = meter.cal[3 * current + p]
    if max_change is not None and abs(gain - in_force) > max_change * in_force:
        raise ValueError("new %s gain %d is %+d %% from the gain in force, %d (more than ±%d %%):"
                         " check the reference, or force it"
                         % (what, gain, round((gain - in_force) * 100 / in_force), in_force,
                            round(max_change * 100)))
    if not write:
        return gain
    phases = (p,) if current else input_group(meter.modes[2], p)
    for q in phases:
        set_gain(meter, q, gain, current)
    return gain
