# CRC-16 checks used on the HAN/P1 port.
#
# - CRC-16/X.25 (HDLC HCS and FCS, IEC 62056-46 / ISO/IEC 13239): polynomial 0x1021 reflected
#   (0x8408), init 0xFFFF, final xor 0xFFFF, transmitted least significant byte first.
# - CRC-16/ARC (DSMR P1 telegram, DSMR 5.0.2 P1 companion standard 6.2): polynomial 0x8005
#   reflected (0xA001), init 0, no final xor, sent as 4 hex digits after "!".
#
# Both are table driven four bits at a time: a 16-entry table per polynomial, built at import
# (entry n: the nibble n shifted out through four steps of the reflected polynomial), instead of
# 256-entry tables, which would cost 1 KB of heap where modules load from .mpy files into RAM
# (ESP8266), for two table steps per byte instead of one. The loops allocate nothing per byte.
# On CPython, X.25 takes a C-speed path through binascii.crc_hqx (the same polynomial
# unreflected) on bit-reversed input; host tests check that both paths agree.
import sys
from array import array


def _nibble_table(poly):
    table = array("H", bytes(32))
    for n in range(16):
        crc = n
        for _ in range(4):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table[n] = crc
    return table


_X25_NIBBLES = _nibble_table(0x8408)
_ARC_NIBBLES = _nibble_table(0xA001)
del _nibble_table  # needed at import only


def crc16_x25_loop(buf, start, end):
    """CRC-16/X.25 of buf[start:end], portable loop."""
    table = _X25_NIBBLES
    crc = 0xFFFF
    for i in range(start, end):
        crc ^= buf[i]  # reflected: the low nibble goes first
        crc = (crc >> 4) ^ table[crc & 15]
        crc = (crc >> 4) ^ table[crc & 15]
    return crc ^ 0xFFFF


def crc16_arc(buf, start, end):
    """CRC-16/ARC of buf[start:end]."""
    table = _ARC_NIBBLES
    crc = 0
    for i in range(start, end):
        crc ^= buf[i]
        crc = (crc >> 4) ^ table[crc & 15]
        crc = (crc >> 4) ^ table[crc & 15]
    return crc


crc16_x25 = crc16_x25_loop

if sys.implementation.name == "cpython":
    import binascii

    # A reflected CRC equals the bit-reversed unreflected CRC of bit-reversed input bytes.
    _REV8 = bytes(int("{:08b}".format(n)[::-1], 2) for n in range(256))

    def crc16_x25(buf, start, end):  # the C-speed variant on CPython
        """CRC-16/X.25 of buf[start:end]."""
        crc = binascii.crc_hqx(bytes(buf[start:end]).translate(_REV8), 0xFFFF)
        rev = (_REV8[crc & 0xFF] << 8) | _REV8[crc >> 8]
        return rev ^ 0xFFFF
