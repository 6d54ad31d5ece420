# Exact decimal text of meter values, for the few places that need it: the CLI's report
# (number_text) and float32/float64 registers (float_decimal, a handful of meters). Kept out of
# han_meter.py so a board reading an integer-only meter does not hold this code.


def number_text(mant, exp):
    """mant * 10**exp as exact decimal text ("232.2", "0.0", "127676000")."""
    if exp >= 0:
        return str(mant * 10**exp)
    k = -exp
    digits = str(-mant if mant < 0 else mant)
    if len(digits) <= k:
        digits = "0" * (k - len(digits) + 1) + digits
    frac = digits[-k:].rstrip("0") or "0"
    return ("-" if mant < 0 else "") + digits[:-k] + "." + frac


def float_decimal(mv, off, tag):
    """(mant, exp) of the float32 (tag 23) or float64 (24) at mv[off:] rounded to 7 or 15
    significant digits (half to even, as "%.7g" and "%.15g"), None for NaN and infinities.
    From the bits with integers: the same digits on CPython and on a board's float32, and the
    scaler then shifts the decimal exactly (IEC 62056-6-2 scaler_unit: value * 10^scaler)."""
    n, man_bits, bias, digits = (4, 23, 150, 7) if tag == 23 else (8, 52, 1075, 15)
    bits = int.from_bytes(bytes(mv[off : off + n]), "big")
    top = 8 * n - 1 - man_bits  # exponent field width
    e = (bits >> man_bits) & ((1 << top) - 1)
    if e == (1 << top) - 1:
        return None
    m = bits & ((1 << man_bits) - 1)
    if e:
        m |= 1 << man_bits
    else:
        e = 1  # subnormal
    num, den = (m << (e - bias), 1) if e >= bias else (m, 1 << (bias - e))
    if not num:
        return 0, 0
    # s: the power of ten that puts num / den * 10^s at `digits` digits before the point.
    s = digits - 1 - (len(str(num)) - len(str(den)))
    for _ in range(3):
        q, r = divmod(num * 10**s, den) if s >= 0 else divmod(num, den * 10**-s)
        if q < 10 ** (digits - 1):
            s += 1
        elif q >= 10**digits:
            s -= 1
        else:
            break
    d = den if s >= 0 else den * 10**-s
    if 2 * r > d or 2 * r == d and q & 1:
        q += 1
    return (-q if bits >> (8 * n - 1) else q), -s
