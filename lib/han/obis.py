# OBIS codes (IEC 62056-6-1), DLMS units (Blue Book: unit enumeration of the class 3
# scaler_unit) and what vendor documents fix for meters whose pushes carry no OBIS codes or no
# scalers. Tables are bytes literals: one object each, in RAM once, on CPython and in .mpy alike;
# dlms.py walks them (no lookup functions here: each function costs heap where modules load
# from .mpy files into RAM).
from micropython import const

# DLMS unit codes the firmware acts on (Blue Book, unit enumeration; docs/han.md): the one place
# they are named. dsmr.py's table of unit spellings carries the same numbers as data.
UNIT_W = const(27)
UNIT_VA = const(28)
UNIT_VAR = const(29)
UNIT_WH = const(30)
UNIT_VAH = const(31)
UNIT_VARH = const(32)
UNIT_A = const(33)
UNIT_V = const(35)
UNIT_COUNT = const(255)  # "count": a scaled number without unit

# Codes the vendor position maps refer to, 6 bytes each, code i at CODES[6 * i]; in the order
# of Kaifa's 3-phase list 3 (KFM_001), so that list maps to codes 0..17 (dlms.py).
CODES = (
    b"\x01\x01\x00\x02\x81\xff"  # 0  1-1:0.2.129 list version ("KFM_001")
    b"\x00\x00\x60\x01\x00\xff"  # 1  0-0:96.1.0 meter id
    b"\x00\x00\x60\x01\x07\xff"  # 2  0-0:96.1.7 meter type
    b"\x01\x00\x01\x07\x00\xff"  # 3  1-0:1.7.0 active power +
    b"\x01\x00\x02\x07\x00\xff"  # 4  1-0:2.7.0 active power -
    b"\x01\x00\x03\x07\x00\xff"  # 5  1-0:3.7.0 reactive power +
    b"\x01\x00\x04\x07\x00\xff"  # 6  1-0:4.7.0 reactive power -
    b"\x01\x00\x1f\x07\x00\xff"  # 7  1-0:31.7.0 current L1
    b"\x01\x00\x33\x07\x00\xff"  # 8  1-0:51.7.0 current L2
    b"\x01\x00\x47\x07\x00\xff"  # 9  1-0:71.7.0 current L3
    b"\x01\x00\x20\x07\x00\xff"  # 10 1-0:32.7.0 voltage L1
    b"\x01\x00\x34\x07\x00\xff"  # 11 1-0:52.7.0 voltage L2
    b"\x01\x00\x48\x07\x00\xff"  # 12 1-0:72.7.0 voltage L3
    b"\x00\x00\x01\x00\x00\xff"  # 13 0-0:1.0.0 clock
    b"\x01\x00\x01\x08\x00\xff"  # 14 1-0:1.8.0 active energy +
    b"\x01\x00\x02\x08\x00\xff"  # 15 1-0:2.8.0 active energy -
    b"\x01\x00\x03\x08\x00\xff"  # 16 1-0:3.8.0 reactive energy +
    b"\x01\x00\x04\x08\x00\xff"  # 17 1-0:4.8.0 reactive energy -
)
NO_CODE = const(255)  # a position without documented meaning: reported raw as "item<N>"


# Netz Burgenland L&G E450 (14 items, no OBIS): U1-U3, I1-I3 (scale not documented), P+, P-,
# A+, A-, three undocumented values, meter number. Recognised by exactly these A-XDR types.
BURGENLAND_MAP = b"\x0a\x0b\x0c\x07\x08\x09\x03\x04\x0e\x0f\xff\xff\xff\x01"
BURGENLAND_TYPES = b"\x12\x12\x12\x12\x12\x12\x06\x06\x06\x06\x12\x12\x12\x09"

# Scaling the vendor documents give where the frame sends none, for C.D.0 codes: rows of
# C, D, scaler + 128, unit (27 W, 29 var, 30 Wh, 32 varh, 33 A, 35 V). Aidon sends its scalers
# and has no table. Quantities not listed keep the raw number and get no unit.
KAIFA_SCALE = (
    b"\x01\x07\x80\x1b\x02\x07\x80\x1b\x03\x07\x80\x1d\x04\x07\x80\x1d"  # P, Q: W, var
    b"\x1f\x07\x7d\x21\x33\x07\x7d\x21\x47\x07\x7d\x21"  # I1-I3: mA
    b"\x20\x07\x7f\x23\x34\x07\x7f\x23\x48\x07\x7f\x23"  # U1-U3: 0.1 V
    b"\x01\x08\x80\x1e\x02\x08\x80\x1e\x03\x08\x80\x20\x04\x08\x80\x20"  # energy: Wh, varh
)
KAMSTRUP_SCALE = (
    b"\x01\x07\x80\x1b\x02\x07\x80\x1b\x03\x07\x80\x1d\x04\x07\x80\x1d"  # P, Q: W, var
    b"\x1f\x07\x7e\x21\x33\x07\x7e\x21\x47\x07\x7e\x21"  # I1-I3: 0.01 A
    b"\x20\x07\x80\x23\x34\x07\x80\x23\x48\x07\x80\x23"  # U1-U3: 1 V
    b"\x01\x08\x81\x1e\x02\x08\x81\x1e\x03\x08\x81\x20\x04\x08\x81\x20"  # energy: 10 Wh (Norway)
)
BURGENLAND_SCALE = (
    b"\x20\x07\x80\x23\x34\x07\x80\x23\x48\x07\x80\x23"  # U1-U3: 1 V
    b"\x01\x07\x80\x1b\x02\x07\x80\x1b\x01\x08\x80\x1e\x02\x08\x80\x1e"  # P: W, energy: Wh
)


def id_field(a, b, c, d, e):
    """1: meter id, 2: meter model, 0: neither (IEC 62056-6-1 and the vendor lists)."""
    if a == 0 and b != 0:
        return 0  # 0-n:96.1.x with n > 0: a device on the meter's M-Bus (gas, water)
    if c == 96 and d == 1:
        if e == 0:
            return 1 if a == 0 else 0  # 0-0:96.1.0 (Aidon, Kaifa, DSMR meter number)
        if e == 7:
            return 2  # 0-0:96.1.7 meter type (Aidon, Kaifa)
        if e == 1:
            return 2 if a == 1 else 1  # Kamstrup 1-1:96.1.1 type; DSMR 0-0:96.1.1 equipment id
    if a == 1 and c == 0 and d == 0 and e == 5:
        return 1  # Kamstrup 1-1:0.0.5 meter id
    return 0
