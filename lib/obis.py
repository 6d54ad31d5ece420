# OBIS codes (IEC 62056-6-1), DLMS units (Blue Book, unit enumeration of class 3 scaler_unit) and
# the vendor documents for meters whose pushes carry no OBIS codes or no scalers.
from micropython import const

# Vendors whose documents fix what the frame leaves out.
VENDOR_NONE = const(0)
VENDOR_KAIFA = const(1)  # Kaifa "HAN OBIS codes KFM_001" (Norway/Sweden)
VENDOR_KAMSTRUP = const(2)  # Kamstrup "HAN-NVE" interface description (Norway/Denmark/Sweden)
VENDOR_LG_BURGENLAND = const(3)  # Netz Burgenland E450 customer interface description
VENDOR_AIDON = const(4)  # Aidon HAN interface description (sends scaler and unit)

# Units that matter here (unit enumeration values).
UNIT_W = const(27)
UNIT_VA = const(28)
UNIT_VAR = const(29)
UNIT_WH = const(30)
UNIT_VAH = const(31)
UNIT_VARH = const(32)
UNIT_A = const(33)
UNIT_V = const(35)
UNIT_HZ = const(44)
UNIT_COUNT = const(255)  # "count": a scaled number without unit

# Index = unit enumeration value; "" where no unit applies or the value is not listed.
_UNITS = (
    "", "a", "mo", "wk", "d", "h", "min", "s", "deg", "degC", "currency", "m", "m/s", "m3",
    "m3", "m3/h", "m3/h", "m3/d", "m3/d", "l", "kg", "N", "Nm", "Pa", "bar", "J", "J/h", "W",
    "VA", "var", "Wh", "VAh", "varh", "A", "C", "V", "V/m", "F", "Ohm", "Ohm m2/m", "Wb", "T",
    "A/m", "H", "Hz", "1/(Wh)", "1/(varh)", "1/(VAh)", "V2h", "A2h", "kg/s", "S", "K",
    "1/(V2h)", "1/(A2h)", "1/m3", "%", "Ah",
)  # fmt: skip


def unit_name(code):
    return _UNITS[code] if code < len(_UNITS) else ""


# Multiplier classes of han.*_multiplier (see han_meter.py).
CLASS_NONE = const(0)
CLASS_ENERGY = const(1)
CLASS_POWER = const(2)
CLASS_VOLTAGE = const(3)
CLASS_CURRENT = const(4)


def unit_class(code):
    if code == UNIT_WH or code == UNIT_VARH or code == UNIT_VAH:
        return CLASS_ENERGY
    if code == UNIT_W or code == UNIT_VAR or code == UNIT_VA:
        return CLASS_POWER
    if code == UNIT_V:
        return CLASS_VOLTAGE
    if code == UNIT_A:
        return CLASS_CURRENT
    return CLASS_NONE


def obis_text(src, off):
    """'A-B:C.D.E' of the 6-byte OBIS code at src[off] (group F is always 255 in pushes)."""
    return "%d-%d:%d.%d.%d" % (src[off], src[off + 1], src[off + 2], src[off + 3], src[off + 4])


def looks_like_obis(src, off):
    """A 6-byte octet-string in a key position of a flat list: A is a medium (0..15), F = 255."""
    return src[off] <= 15 and src[off + 5] == 0xFF


# OBIS codes the vendor positional lists refer to, 6 bytes each; CODES[6*i:6*i+6] is code i.
CODES = bytes(
    (
        1, 1, 0, 2, 129, 255,  # 0  list version identifier (Kaifa "KFM_001")
        0, 0, 96, 1, 0, 255,  # 1  meter id
        0, 0, 96, 1, 7, 255,  # 2  meter type
        1, 0, 1, 7, 0, 255,  # 3  active power +
        1, 0, 2, 7, 0, 255,  # 4  active power -
        1, 0, 3, 7, 0, 255,  # 5  reactive power +
        1, 0, 4, 7, 0, 255,  # 6  reactive power -
        1, 0, 31, 7, 0, 255,  # 7  current L1
        1, 0, 51, 7, 0, 255,  # 8  current L2
        1, 0, 71, 7, 0, 255,  # 9  current L3
        1, 0, 32, 7, 0, 255,  # 10 voltage L1
        1, 0, 52, 7, 0, 255,  # 11 voltage L2
        1, 0, 72, 7, 0, 255,  # 12 voltage L3
        0, 0, 1, 0, 0, 255,  # 13 clock
        1, 0, 1, 8, 0, 255,  # 14 active energy +
        1, 0, 2, 8, 0, 255,  # 15 active energy -
        1, 0, 3, 8, 0, 255,  # 16 reactive energy +
        1, 0, 4, 8, 0, 255,  # 17 reactive energy -
    )
)  # fmt: skip
NO_CODE = const(255)  # position without a documented meaning: reported raw as "item<N>"

# Kaifa KFM_001 positional lists, chosen by length: list 1 (1 item), list 2 (9 items 1-phase,
# 13 items 3-phase), list 3 (14 / 18 items: list 2 plus clock and the four energy registers).
_KAIFA_1 = bytes((3,))
_KAIFA_9 = bytes((0, 1, 2, 3, 4, 5, 6, 7, 10))
_KAIFA_13 = bytes((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12))
_KAIFA_ENERGY = bytes((13, 14, 15, 16, 17))


def kaifa_map(length):
    if length == 1:
        return _KAIFA_1
    if length == 9:
        return _KAIFA_9
    if length == 13:
        return _KAIFA_13
    if length == 14:
        return _KAIFA_9 + _KAIFA_ENERGY
    if length == 18:
        return _KAIFA_13 + _KAIFA_ENERGY
    return None


# Netz Burgenland L&G E450 (14 items, no OBIS): U1-U3, I1-I3 (scale not documented), P+, P-,
# A+, A-, three undocumented values, meter number. Recognised by exactly these data types.
BURGENLAND_MAP = bytes((10, 11, 12, 7, 8, 9, 3, 4, 14, 15, NO_CODE, NO_CODE, NO_CODE, 1))
BURGENLAND_TYPES = bytes((18, 18, 18, 18, 18, 18, 6, 6, 6, 6, 18, 18, 18, 9))

# Scaling the vendor documents fix where the frame sends none: rows of (C, D, scaler + 128,
# unit) for E = 0. Quantities not listed stay unscaled and are reported without a unit.
_KAIFA_SCALE = bytes(
    (
        1, 7, 128, UNIT_W, 2, 7, 128, UNIT_W, 3, 7, 128, UNIT_VAR, 4, 7, 128, UNIT_VAR,
        31, 7, 125, UNIT_A, 51, 7, 125, UNIT_A, 71, 7, 125, UNIT_A,
        32, 7, 127, UNIT_V, 52, 7, 127, UNIT_V, 72, 7, 127, UNIT_V,
        1, 8, 128, UNIT_WH, 2, 8, 128, UNIT_WH, 3, 8, 128, UNIT_VARH, 4, 8, 128, UNIT_VARH,
    )
)  # fmt: skip
_KAMSTRUP_SCALE = bytes(
    (
        1, 7, 128, UNIT_W, 2, 7, 128, UNIT_W, 3, 7, 128, UNIT_VAR, 4, 7, 128, UNIT_VAR,
        31, 7, 126, UNIT_A, 51, 7, 126, UNIT_A, 71, 7, 126, UNIT_A,
        32, 7, 128, UNIT_V, 52, 7, 128, UNIT_V, 72, 7, 128, UNIT_V,
        1, 8, 129, UNIT_WH, 2, 8, 129, UNIT_WH, 3, 8, 129, UNIT_VARH, 4, 8, 129, UNIT_VARH,
    )
)  # fmt: skip
_BURGENLAND_SCALE = bytes(
    (
        32, 7, 128, UNIT_V, 52, 7, 128, UNIT_V, 72, 7, 128, UNIT_V,
        1, 7, 128, UNIT_W, 2, 7, 128, UNIT_W, 1, 8, 128, UNIT_WH, 2, 8, 128, UNIT_WH,
    )
)  # fmt: skip


def vendor_scale(vendor, c, d, e):
    """(scaler, unit) the vendor document gives for OBIS group C.D.E, or None."""
    if vendor == VENDOR_KAIFA:
        table = _KAIFA_SCALE
    elif vendor == VENDOR_KAMSTRUP:
        table = _KAMSTRUP_SCALE
    elif vendor == VENDOR_LG_BURGENLAND:
        table = _BURGENLAND_SCALE
    else:
        return None
    if e != 0:
        return None
    for i in range(0, len(table), 4):
        if table[i] == c and table[i + 1] == d:
            return table[i + 2] - 128, table[i + 3]
    return None
