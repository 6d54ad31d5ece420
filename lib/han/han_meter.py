# Meter settings the frame cannot tell (config section "han"):
#   energy_multiplier, power_multiplier, voltage_multiplier, current_multiplier (float, default
#   1.0): applied on top of the in-frame or vendor-document scaling. Example: Swedish Kamstrup
#   meters count energy in Wh while the Kamstrup HAN-NVE document (Norway) says 10 Wh, so a
#   Swedish Kamstrup needs energy_multiplier 0.1.
#   key, auth_key: AES keys as hex strings ("" = none) for general-glo-ciphering.
# The settings are trusted: the config schema (lib/config/config_schema.py, keys han.*) validated
# them, and tools/han_decode.py checks its --key/--auth-key through the same schema rows.
# Multipliers are kept as exact decimals (mantissa, power of ten) so 10 Wh * 0.1 stays an
# integer number of Wh instead of picking up float error.
# Heap: where modules load from .mpy files into RAM each function costs heap, so parsing the
# settings is written inline in HanMeter.__init__.

from binascii import unhexlify

from obis import UNIT_A, UNIT_V, UNIT_VAR, UNIT_VARH, UNIT_W, UNIT_WH

def to_number(mant, exp):
    """mant * 10**exp as an int (exp >= 0) or the nearest float."""
    return mant * 10**exp if exp >= 0 else mant / 10**-exp


class HanMeter:
    def __init__(self, settings=None):
        settings = settings or {}
        # Index = the unit class of scale(): (mantissa, exponent) of the multiplier.
        self.multipliers = [(1, 0)] * 5
        for n, key in enumerate(("energy_multiplier", "power_multiplier", "voltage_multiplier",
                                 "current_multiplier")):
            value = settings.get(key, 1)
            # (mantissa, exponent) with mantissa * 10**exponent == value to 9 significant
            # digits.
            text = "%.9g" % float(value)
            exp = 0
            k = text.find("e")
            if k >= 0:
                exp = int(text[k + 1 :])
                text = text[:k]
            k = text.find(".")
            if k >= 0:
                frac = text[k + 1 :].rstrip("0")
                exp -= len(frac)
                text = text[:k] + frac
            mant = int(text)
            while mant and mant % 10 == 0:
                mant //= 10
                exp += 1
            self.multipliers[n + 1] = (mant, exp)
        # key, auth_key: bytes of the hex key strings; None for "" or None.
        keys = []
        for name in ("key", "auth_key"):
            text = settings.get(name)
            keys.append(unhexlify(text) if text else None)
        self.key, self.auth_key = keys

    def scale(self, unit, mant, exp):
        """Apply the multiplier of the unit's class to mant * 10**exp; returns (mant, exp)."""
        # Unit classes: 1 energy (Wh, VAh, varh), 2 power (W, VA, var), 3 voltage, 4 current,
        # 0 none.
        if UNIT_W <= unit <= UNIT_VAR:
            m = self.multipliers[2]
        elif UNIT_WH <= unit <= UNIT_VARH:
            m = self.multipliers[1]
        elif unit == UNIT_V:
            m = self.multipliers[3]
        elif unit == UNIT_A:
            m = self.multipliers[4]
        else:
            return mant, exp
        if m[0] == 1 and m[1] == 0:
            return mant, exp
        return mant * m[0], exp + m[1]
